//! The connector: for each export job, reads the entity or the list with
//! the asking user's rights, builds the STIX bundle the way pycti's
//! `get_stix_bundle_or_object_from_entity_id`, `export_selected` and
//! `export_list` do, and uploads it as `json.dumps(bundle, indent=4)`.
//!
//! Each entity type is read with the document of pycti's reader or lister
//! for it (`TypeDocuments`). This version reads cyber observables,
//! reports, malwares, indicators, intrusion sets, identities, attack
//! patterns, vulnerabilities, tools, campaigns, threat actors, courses of
//! action, infrastructures, locations, notes, opinions, observed data,
//! groupings, incidents, core relationships, and lists of domain or core
//! objects of any type; an export that must read another type fails the
//! job with an error naming it rather than writing a file that would
//! differ from the Python connector's.

use opencti_connector::catalog::{Listing as CatalogListing, SolutionCategory, UseCase};
use opencti_connector::config::{NoConfig, Var};
use opencti_connector::listen::{ExportRequest, ExportScope, FileExporter, JobContext};
use opencti_connector::{Connector, ConnectorSpec, SendError, spec};
use serde_json::{Value, json};

use crate::config::VARS;
use crate::documents;
use crate::mapping::{
    Object, apply_nested_ref, filter_new, generate_export, is_identity_entity_type,
    is_location_entity_type, is_observable_entity_type, prepare_head, prepare_renames,
    referenced_objects, refilter_container_refs, to_python_json,
};
use crate::reader::{ReadError, Reader};

/// The binary's description, variables and catalog entry.
pub static SPEC: ConnectorSpec =
    spec::<ExportFileStix>().with_kind_vars(opencti_connector::listen::LISTEN_VARS);

/// Why an export failed (the job's work is closed in error with it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the platform failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Uploading the file failed.
    #[error(transparent)]
    Upload(#[from] SendError),
    /// The exported entity does not exist or the user may not see it.
    #[error("Cannot export entity {id}: not found or not accessible")]
    NotFound {
        /// The entity id of the job.
        id: String,
    },
    /// The export reaches objects of a type this connector does not
    /// read yet.
    #[error(
        "Cannot export {entity_type} objects ({context}): this connector reads cyber observables, the common domain objects (reports, malwares, indicators, intrusion sets, identities, attack patterns, vulnerabilities, tools, campaigns, threat actors, courses of action, infrastructures, locations, notes, opinions, observed data, groupings, incidents), core relationships and lists of domain or core objects"
    )]
    Unsupported {
        /// The platform entity type.
        entity_type: String,
        /// Where the export met it.
        context: &'static str,
    },
}

/// The STIX 2.1 file export connector.
#[derive(Debug, Default)]
pub struct ExportFileStix;

impl Connector for ExportFileStix {
    type Config = NoConfig;
    type Error = ExportError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-export-file-stix";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "Exports OpenCTI entities and lists as STIX 2.1 bundles (internal export connector)";
    const SLUG: Option<&'static str> = Some("export-file-stix");
    const LISTING: CatalogListing = CatalogListing {
        title: "Export File STIX",
        description: "Writes STIX 2.1 bundles of an entity (simple or full, with its relationships), of the rows checked in a list or of a whole list query, with the Python export-file-stix connector's variables and output",
        use_cases: &[UseCase::Other],
        solution_categories: &[SolutionCategory::ImportExportSharing],
        ..CatalogListing::DEFAULT
    };

    fn from_config(_: NoConfig) -> Result<Self, ExportError> {
        Ok(Self)
    }
}

impl FileExporter for ExportFileStix {
    async fn export_file(
        &mut self,
        request: ExportRequest,
        ctx: &JobContext,
    ) -> Result<String, ExportError> {
        let reader = Reader::new(ctx.api(), ctx.shutdown());
        let exporter = Exporter {
            reader,
            access: request.access_filter.as_ref(),
        };
        let mode = Mode::of(&request.export_type);
        let objects = match request.export_scope {
            ExportScope::Single => {
                let id = request.entity_id.clone().unwrap_or_default();
                tracing::info!(entity_id = %id, export_type = %request.export_type,
                               file_name = %request.file_name, "Exporting");
                exporter.entity(&request.entity_type, &id, mode).await?
            }
            ExportScope::Selection => exporter.selection(&request, mode).await?,
            _ => exporter.query(&request, mode).await?,
        };
        let bundle = bundle(objects);
        tracing::info!(entity_type = %request.entity_type, export_type = %request.export_type,
                       file_name = %request.file_name, "Uploading");
        ctx.upload_export(&request, to_python_json(&bundle).as_bytes())
            .await?;
        tracing::info!(entity_type = %request.entity_type, export_type = %request.export_type,
                       file_name = %request.file_name, "Export done");
        Ok("Export done".to_owned())
    }
}

/// A bundle with a fresh id, as pycti makes them.
fn bundle(objects: Vec<Object>) -> Value {
    let objects: Vec<Value> = objects.into_iter().map(Value::Object).collect();
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    })
}

/// `simple`: the objects and what they reference directly; `full`: with
/// their relationships, sightings and the objects at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Simple,
    Full,
    /// Another value: pycti exports nothing for it.
    Other,
}

impl Mode {
    fn of(export_type: &str) -> Self {
        match export_type {
            "simple" => Self::Simple,
            "full" => Self::Full,
            _ => Self::Other,
        }
    }
}

/// A GraphQL document and the root field of its answer.
type Document = (&'static str, &'static str);

/// The documents pycti's reader and lister of an entity type send
/// (`get_reader`, `export_entities_list`).
#[derive(Debug, Clone, Copy)]
struct TypeDocuments {
    /// The read by id (`None`: pycti reads the type by filters only).
    by_id: Option<Document>,
    /// The read by id of a full export (pycti's `withFiles` fields).
    by_id_full: Option<Document>,
    /// The list, and the read by filters.
    list: Document,
    /// The list of a full export.
    list_full: Document,
}

impl TypeDocuments {
    const fn same(by_id: Option<Document>, list: Document) -> Self {
        Self {
            by_id,
            by_id_full: by_id,
            list,
            list_full: list,
        }
    }

    /// The documents of an entity type, after pycti's mapping of types to
    /// readers (identities to `Identity`, observables to
    /// `Stix-Cyber-Observable`, `Container` to `Stix-Domain-Object`).
    fn of(entity_type: &str) -> Option<Self> {
        use documents as d;
        let entity_type = if is_observable_entity_type(entity_type) || entity_type == "StixFile" {
            "Stix-Cyber-Observable"
        } else if is_identity_entity_type(entity_type) {
            "Identity"
        } else if is_location_entity_type(entity_type) {
            "Location"
        } else if entity_type == "Container" {
            "Stix-Domain-Object"
        } else {
            entity_type
        };
        Some(match entity_type {
            "Stix-Cyber-Observable" => Self::same(
                Some((d::READ_OBSERVABLE, "stixCyberObservable")),
                (d::LIST_OBSERVABLES, "stixCyberObservables"),
            ),
            "Report" => Self {
                by_id: Some((d::READ_REPORT, "report")),
                by_id_full: Some((d::READ_REPORT_FULL, "report")),
                list: (d::LIST_REPORTS, "reports"),
                list_full: (d::LIST_REPORTS_FULL, "reports"),
            },
            "Malware" => Self::same(
                Some((d::READ_MALWARE, "malware")),
                (d::LIST_MALWARES, "malwares"),
            ),
            "Indicator" => Self::same(
                Some((d::READ_INDICATOR, "indicator")),
                (d::LIST_INDICATORS, "indicators"),
            ),
            "Intrusion-Set" => Self::same(
                Some((d::READ_INTRUSION_SET, "intrusionSet")),
                (d::LIST_INTRUSION_SETS, "intrusionSets"),
            ),
            "Identity" => Self::same(
                Some((d::READ_IDENTITY, "identity")),
                (d::LIST_IDENTITIES, "identities"),
            ),
            "Attack-Pattern" => Self::same(
                Some((d::READ_ATTACK_PATTERN, "attackPattern")),
                (d::LIST_ATTACK_PATTERNS, "attackPatterns"),
            ),
            "Vulnerability" => Self::same(
                Some((d::READ_VULNERABILITY, "vulnerability")),
                (d::LIST_VULNERABILITIES, "vulnerabilities"),
            ),
            "Tool" => Self::same(Some((d::READ_TOOL, "tool")), (d::LIST_TOOLS, "tools")),
            "Campaign" => Self::same(
                Some((d::READ_CAMPAIGN, "campaign")),
                (d::LIST_CAMPAIGNS, "campaigns"),
            ),
            "Threat-Actor-Group" => Self::same(
                Some((d::READ_THREAT_ACTOR_GROUP, "threatActorGroup")),
                (d::LIST_THREAT_ACTOR_GROUPS, "threatActorsGroup"),
            ),
            "Threat-Actor-Individual" => Self::same(
                Some((d::READ_THREAT_ACTOR_INDIVIDUAL, "threatActorIndividual")),
                (d::LIST_THREAT_ACTOR_INDIVIDUALS, "threatActorsIndividuals"),
            ),
            "Course-Of-Action" => Self::same(
                Some((d::READ_COURSE_OF_ACTION, "courseOfAction")),
                (d::LIST_COURSES_OF_ACTION, "coursesOfAction"),
            ),
            "Infrastructure" => Self::same(
                Some((d::READ_INFRASTRUCTURE, "infrastructure")),
                (d::LIST_INFRASTRUCTURES, "infrastructures"),
            ),
            "Location" => Self::same(
                Some((d::READ_LOCATION, "location")),
                (d::LIST_LOCATIONS, "locations"),
            ),
            "Note" => Self::same(Some((d::READ_NOTE, "note")), (d::LIST_NOTES, "notes")),
            "Opinion" => Self::same(
                Some((d::READ_OPINION, "opinion")),
                (d::LIST_OPINIONS, "opinions"),
            ),
            "Observed-Data" => Self::same(
                Some((d::READ_OBSERVED_DATA, "observedData")),
                (d::LIST_OBSERVED_DATAS, "observedDatas"),
            ),
            "Grouping" => Self::same(
                Some((d::READ_GROUPING, "grouping")),
                (d::LIST_GROUPINGS, "groupings"),
            ),
            "Incident" => Self::same(
                Some((d::READ_INCIDENT, "incident")),
                (d::LIST_INCIDENTS, "incidents"),
            ),
            // pycti reads a `Threat-Actor` with its own reader (never
            // needed: entities are groups or individuals) and lists it
            // with the group lister.
            "Threat-Actor" => Self::same(None, (d::LIST_THREAT_ACTOR_GROUPS, "threatActorsGroup")),
            "Stix-Domain-Object" => Self::same(None, (d::LIST_DOMAIN_OBJECTS, "stixDomainObjects")),
            "Stix-Core-Object" => Self::same(None, (d::LIST_CORE_OBJECTS, "stixCoreObjects")),
            "stix-core-relationship" => Self::same(
                Some((d::READ_RELATIONSHIP, "stixCoreRelationship")),
                (d::LIST_RELATIONSHIPS, "stixCoreRelationships"),
            ),
            _ => return None,
        })
    }
}

/// pycti's `prepare_id_filters_export`: the object, within the access
/// filter when there is one.
fn id_filters(id: &str, access: Option<&Value>) -> Value {
    match access {
        Some(access) => json!({
            "mode": "and",
            "filterGroups": [
                {"mode": "or", "filters": [{"key": "ids", "values": [id]}], "filterGroups": []},
                access,
            ],
            "filters": [],
        }),
        None => json!({
            "mode": "and",
            "filterGroups": [],
            "filters": [{"key": "ids", "mode": "or", "values": [id]}],
        }),
    }
}

fn text<'a>(object: &'a Object, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn ids_of(objects: &[Object]) -> Vec<String> {
    objects.iter().map(|o| text(o, "id").to_owned()).collect()
}

/// An object a full export adds: its id and how to read it.
#[derive(Debug, Clone)]
struct ToGet {
    id: String,
    entity_type: String,
    parent_types: Vec<String>,
}

impl ToGet {
    fn of(value: &Value) -> Self {
        let field = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
        let parent_types = value
            .get("parent_types")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Self {
            id: field("id").to_owned(),
            entity_type: field("entity_type").to_owned(),
            parent_types,
        }
    }

    fn has_parent(&self, parent: &str) -> bool {
        self.parent_types.iter().any(|p| p == parent)
    }
}

struct Exporter<'a> {
    reader: Reader<'a>,
    access: Option<&'a Value>,
}

impl Exporter<'_> {
    /// A single entity (`get_stix_bundle_or_object_from_entity_id`).
    async fn entity(
        &self,
        entity_type: &str,
        id: &str,
        mode: Mode,
    ) -> Result<Vec<Object>, ExportError> {
        let types = TypeDocuments::of(entity_type);
        let read = if mode == Mode::Full {
            types.and_then(|t| t.by_id_full)
        } else {
            types.and_then(|t| t.by_id)
        };
        let (document, field) = read.ok_or_else(|| ExportError::Unsupported {
            entity_type: entity_type.to_owned(),
            context: "the exported entity",
        })?;
        let entity = self
            .reader
            .by_id(document, field, id)
            .await?
            .ok_or_else(|| ExportError::NotFound { id: id.to_owned() })?;
        self.prepare(generate_export(entity), mode).await
    }

    /// The checked rows of a list (`export_selected`), as the main filter
    /// lets them through.
    async fn selection(
        &self,
        request: &ExportRequest,
        mode: Mode,
    ) -> Result<Vec<Object>, ExportError> {
        let rows = self.reader.objects(request.main_filter.as_ref()).await?;
        let mut entities = Vec::new();
        for row in rows {
            let entity_type = if request.entity_type == "stix-core-relationship" {
                "stix-core-relationship"
            } else {
                text(&row, "entity_type")
            };
            let (document, field) = TypeDocuments::of(entity_type)
                .and_then(|t| t.by_id)
                .ok_or_else(|| ExportError::Unsupported {
                    entity_type: entity_type.to_owned(),
                    context: "a selected row",
                })?;
            if let Some(entity) = self.reader.by_id(document, field, text(&row, "id")).await? {
                entities.push(entity);
            }
        }
        self.many(entities, mode).await
    }

    /// A whole list query (`export_list`).
    async fn query(&self, request: &ExportRequest, mode: Mode) -> Result<Vec<Object>, ExportError> {
        let types =
            TypeDocuments::of(&request.entity_type).ok_or_else(|| ExportError::Unsupported {
                entity_type: request.entity_type.clone(),
                context: "the listed type",
            })?;
        let (document, field) = if mode == Mode::Full {
            types.list_full
        } else {
            types.list
        };
        let params = request.list_params.as_ref();
        let param = |key: &str| params.and_then(|p| p.get(key)).filter(|v| !v.is_null());
        let groups: Vec<Value> = [param("filters"), self.access]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let filters = json!({"mode": "and", "filterGroups": groups, "filters": []});
        let mut order_by = param("orderBy").and_then(Value::as_str);
        let mut order_mode = param("orderMode").and_then(Value::as_str);
        if order_by.is_none_or(|o| o == "_score") {
            order_by = Some("created_at");
            order_mode = order_mode.or(Some("desc"));
        }
        let entities = self
            .reader
            .list(
                document,
                field,
                param("search"),
                Some(&filters),
                order_by,
                order_mode,
            )
            .await?;
        self.many(entities, mode).await
    }

    /// Several entities, each object once.
    async fn many(&self, entities: Vec<Object>, mode: Mode) -> Result<Vec<Object>, ExportError> {
        let mut objects = Vec::new();
        let mut ids = Vec::new();
        for entity in entities {
            let prepared = self.prepare(generate_export(entity), mode).await?;
            let new = filter_new(&ids, prepared);
            ids.extend(ids_of(&new));
            objects.extend(new);
        }
        Ok(objects)
    }

    /// pycti's `prepare_export`.
    async fn prepare(&self, entity: Object, mode: Mode) -> Result<Vec<Object>, ExportError> {
        let (mut result, to_get) = self.prepare_simple(entity).await?;
        match mode {
            Mode::Simple => Ok(result),
            Mode::Other => Ok(Vec::new()),
            Mode::Full => {
                self.add_neighbours(&mut result, to_get).await?;
                Ok(result)
            }
        }
    }

    /// The entity with its author and markings (last: the entity), and the
    /// objects a full export would add for its ends or contents.
    async fn prepare_simple(
        &self,
        mut entity: Object,
    ) -> Result<(Vec<Object>, Vec<ToGet>), ExportError> {
        let (mut result, contents) = prepare_head(&mut entity);
        let mut to_get: Vec<ToGet> = contents.iter().map(ToGet::of).collect();
        if text(&entity, "type") == "stix-sighting-relationship" {
            entity.insert("type".to_owned(), json!("sighting"));
            let count = entity
                .shift_remove("attribute_count")
                .unwrap_or(Value::Null);
            entity.insert("count".to_owned(), count);
            let from = entity.shift_remove("from").unwrap_or(Value::Null);
            let to = entity.shift_remove("to").unwrap_or(Value::Null);
            if self.visible(&from).await? {
                entity.insert("sighting_of_ref".to_owned(), standard_id(&from));
                to_get.push(ToGet::of(&from));
            }
            if self.visible(&to).await? {
                entity.insert("where_sighted_refs".to_owned(), json!([standard_id(&to)]));
                to_get.push(ToGet::of(&to));
            }
        }
        if entity.contains_key("from") || entity.contains_key("to") {
            entity.insert("type".to_owned(), json!("relationship"));
        }
        for (end, key) in [("from", "source_ref"), ("to", "target_ref")] {
            if let Some(value) = entity.get(end).cloned() {
                if self.visible(&value).await? {
                    entity.insert(key.to_owned(), standard_id(&value));
                    to_get.push(ToGet::of(&value));
                }
                entity.shift_remove(end);
            }
        }
        prepare_renames(&mut entity);
        let internal_id = text(&entity, "x_opencti_id").to_owned();
        for (kind, target) in self.reader.nested_refs(&internal_id, self.access).await? {
            apply_nested_ref(&mut entity, &kind, &target);
        }
        result.push(entity);
        Ok((result, to_get))
    }

    /// Whether the asking user may see a relationship's end.
    async fn visible(&self, end: &Value) -> Result<bool, ExportError> {
        let id = end.get("id").and_then(Value::as_str).unwrap_or_default();
        Ok(self.reader.any(&id_filters(id, self.access)).await?)
    }

    /// The full part of `prepare_export`: relationships, sightings and the
    /// objects they and the references reach.
    async fn add_neighbours(
        &self,
        result: &mut Vec<Object>,
        mut to_get: Vec<ToGet>,
    ) -> Result<(), ExportError> {
        let Some(entity) = result.last().cloned() else {
            return Ok(());
        };
        let internal_id = text(&entity, "x_opencti_id").to_owned();
        let mut ids = vec![text(&entity, "id").to_owned()];
        ids.extend(ids_of(result));
        for (id, reader_type) in referenced_objects(&entity) {
            to_get.push(ToGet {
                id,
                entity_type: reader_type.to_owned(),
                parent_types: vec![reader_type.to_owned()],
            });
        }
        let relationships = self.reader.relationships(&internal_id, self.access).await?;
        let sightings = self.reader.sightings(&internal_id, self.access).await?;
        for relationship in relationships.into_iter().chain(sightings) {
            let to = relationship.get("to").cloned().unwrap_or(Value::Null);
            let other = if to.get("id").and_then(Value::as_str) == Some(internal_id.as_str()) {
                relationship.get("from").cloned().unwrap_or(Value::Null)
            } else {
                to
            };
            to_get.push(ToGet::of(&other));
            let (prepared, _) = self.prepare_simple(generate_export(relationship)).await?;
            let new = filter_new(&ids, prepared);
            ids.extend(ids_of(&new));
            result.extend(new);
        }
        for object in to_get {
            let Some(read) = self.read_neighbour(&object).await? else {
                continue;
            };
            let (prepared, _) = self.prepare_simple(generate_export(read)).await?;
            let new = filter_new(&ids, prepared);
            ids.extend(ids_of(&new));
            result.extend(new);
        }
        refilter_container_refs(result, &ids);
        Ok(())
    }

    /// Reads an object a full export adds, within the access filter, with
    /// the list document of its type (pycti's `read(filters=...)`). pycti
    /// has no reader for nested references: they are left out, as it does.
    async fn read_neighbour(&self, object: &ToGet) -> Result<Option<Object>, ExportError> {
        if object.has_parent("stix-ref-relationship") {
            return Ok(None);
        }
        let entity_type = if object.has_parent("stix-core-relationship") {
            "stix-core-relationship"
        } else {
            object.entity_type.as_str()
        };
        let types = TypeDocuments::of(entity_type).ok_or_else(|| ExportError::Unsupported {
            entity_type: entity_type.to_owned(),
            context: "an object a full export reaches",
        })?;
        let (document, field) = types.list;
        let filters = id_filters(&object.id, self.access);
        Ok(self
            .reader
            .first_by_filters(document, field, &filters)
            .await?)
    }
}

fn standard_id(end: &Value) -> Value {
    end.get("standard_id").cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_filters_keep_the_access_filter_beside_the_ids() {
        let access = json!({"mode": "and", "filters": [], "filterGroups": []});
        let filters = id_filters("x", Some(&access));
        assert_eq!(filters["filterGroups"][1], access);
        assert_eq!(
            filters["filterGroups"][0]["filters"][0]["values"],
            json!(["x"])
        );
        assert_eq!(id_filters("x", None)["filters"][0]["values"], json!(["x"]));
    }

    #[test]
    fn entity_types_are_read_with_their_readers_documents() {
        let of = |t: &str| TypeDocuments::of(t).map(|d| (d.by_id.map(|r| r.1), d.list.1));
        assert_eq!(of("Organization"), Some((Some("identity"), "identities")));
        assert_eq!(
            of("IPv4-Addr"),
            Some((Some("stixCyberObservable"), "stixCyberObservables"))
        );
        assert_eq!(of("Container"), Some((None, "stixDomainObjects")));
        assert_eq!(of("Stix-Core-Object"), Some((None, "stixCoreObjects")));
        assert_eq!(of("City"), Some((Some("location"), "locations")));
        assert_eq!(of("Position"), Some((Some("location"), "locations")));
        assert_eq!(of("Threat-Actor"), Some((None, "threatActorsGroup")));
        assert_eq!(
            of("Threat-Actor-Individual"),
            Some((Some("threatActorIndividual"), "threatActorsIndividuals"))
        );
        assert_eq!(of("Tool"), Some((Some("tool"), "tools")));
        assert_eq!(of("Channel"), None);
        // pycti's full-export fields of a report leave its `content` out.
        let selects_content = |document: &str| {
            let tokens: Vec<&str> = document.split_whitespace().collect();
            tokens.windows(2).any(|w| w == ["content", "report_types"])
        };
        let report = TypeDocuments::of("Report").expect("reports are read");
        assert!(report.by_id.is_some_and(|(d, _)| selects_content(d)));
        assert!(selects_content(report.list.0));
        assert!(report.by_id_full.is_some_and(|(d, _)| !selects_content(d)));
        assert!(!selects_content(report.list_full.0));
    }

    #[test]
    fn unknown_export_types_export_nothing() {
        assert_eq!(Mode::of("full"), Mode::Full);
        assert_eq!(Mode::of("simple"), Mode::Simple);
        assert_eq!(Mode::of("FULL"), Mode::Other);
    }
}

//! One MISP attribute -> indicator, observable, sightings, context and the
//! relationships between them (the Python connector's `_process_attribute`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ConvertOptions;
use super::elements::{self, ElementContext, Elements, ThreatGuesses};
use super::model::Attribute;
use super::resolve::{self, Resolved, Resolver};
use super::stix::{
    common_sdo, from_epoch, header, millis, organization, put_list, put_text, put_values, seconds,
};
use super::tags::{self, Marking};

/// Event-wide context of an attribute.
pub(super) struct EventScope<'a> {
    pub(super) options: &'a ConvertOptions,
    pub(super) author_id: &'a Arc<str>,
    pub(super) author_name: &'a str,
    pub(super) now: &'a str,
    pub(super) markings: &'a [Marking],
    pub(super) marking_ids: &'a Arc<[Arc<str>]>,
    pub(super) labels: &'a Arc<[String]>,
    pub(super) elements: &'a Elements,
    pub(super) guesses: Option<&'a ThreatGuesses>,
    /// Score from the event's threat level.
    pub(super) score: i64,
}

/// Context of an attribute inside a MISP object.
pub(super) struct ObjectScope<'a> {
    /// The object's text observable, when one is made.
    pub(super) observable_id: Option<Arc<str>>,
    /// The object's `External analysis` links.
    pub(super) external_references: &'a [Value],
}

/// A relationship waiting for the end of the bundle (its id is computed
/// when it is written: a huge event holds tens of thousands of these).
#[derive(Debug, Clone)]
pub(super) struct Relationship {
    kind: &'static str,
    pub(super) source: Arc<str>,
    pub(super) target: Arc<str>,
    description: Option<Arc<str>>,
    markings: Option<Arc<[Arc<str>]>>,
}

impl Relationship {
    pub(super) fn new(
        kind: &'static str,
        source: Arc<str>,
        target: Arc<str>,
        description: Option<Arc<str>>,
        markings: Option<Arc<[Arc<str>]>>,
    ) -> Self {
        Self {
            kind,
            source,
            target,
            description,
            markings,
        }
    }

    pub(super) fn id(&self) -> String {
        opencti_stix::id::relationship(self.kind, &self.source, &self.target, None, None)
            .expect("relationship ids only fail on dates, and none are given")
    }

    /// The object, with its [`Relationship::id`].
    pub(super) fn to_value(&self, id: &str, author_id: &str, now: &str) -> Value {
        let mut object = header("relationship", id);
        object.insert("created_by_ref".to_owned(), Value::from(author_id));
        object.insert("created".to_owned(), Value::from(now));
        object.insert("modified".to_owned(), Value::from(now));
        object.insert("relationship_type".to_owned(), Value::from(self.kind));
        if let Some(description) = &self.description {
            object.insert("description".to_owned(), Value::from(&**description));
        }
        object.insert("source_ref".to_owned(), Value::from(&*self.source));
        object.insert("target_ref".to_owned(), Value::from(&*self.target));
        if let Some(markings) = &self.markings {
            put_list(&mut object, "object_marking_refs", markings);
        }
        Value::Object(object)
    }
}

/// What one value of an attribute produced.
#[derive(Debug, Default)]
pub(super) struct AttributeResult {
    pub(super) indicator: Option<(Arc<str>, Value)>,
    pub(super) observable: Option<(Arc<str>, Value)>,
    pub(super) markings: Vec<Marking>,
    pub(super) identities: Vec<(Arc<str>, Value)>,
    pub(super) sightings: Vec<(Arc<str>, Value)>,
    pub(super) elements: Elements,
    pub(super) relationships: Vec<Relationship>,
}

impl AttributeResult {
    /// The entity standing for the attribute: its observable, else its indicator.
    pub(super) fn representative(&self) -> Option<Arc<str>> {
        self.observable
            .as_ref()
            .or(self.indicator.as_ref())
            .map(|(id, _)| Arc::clone(id))
    }
}

/// `link` attributes of category `External analysis` are references, not data.
pub(super) fn is_external_link(attribute: &Attribute) -> bool {
    attribute.kind == "link" && attribute.category == "External analysis"
}

/// Score from the event's threat level (`1` high .. `3` low, else 50).
pub(super) fn threat_level_score(threat_level_id: Option<&str>) -> i64 {
    match threat_level_id.map(str::trim) {
        Some("1") => 90,
        Some("2") => 60,
        Some("3") => 30,
        _ => 50,
    }
}

/// A PDF attached to an `External analysis` attribute, as a report file.
pub(super) fn pdf_attachment(attribute: &Attribute) -> Option<Value> {
    if attribute.kind != "attachment"
        || attribute.category != "External analysis"
        || !(attribute.value.ends_with(".pdf") || attribute.value.ends_with(".PDF"))
    {
        return None;
    }
    let Some(data) = &attribute.data else {
        tracing::error!(
            target: "misp_feed::convert",
            uuid = %attribute.uuid,
            "No data for attribute: {} ({}:{})", attribute.uuid, attribute.kind, attribute.category
        );
        return None;
    };
    let mut file = Map::new();
    file.insert("name".to_owned(), Value::from(attribute.value.as_str()));
    file.insert("data".to_owned(), Value::from(data.as_str()));
    file.insert("mime_type".to_owned(), Value::from("application/pdf"));
    file.insert("no_trigger_import".to_owned(), Value::Bool(true));
    Some(Value::Object(file))
}

/// Python's `len(text) > 2` (code points).
fn longer_than_two(text: &str) -> bool {
    text.chars().nth(2).is_some()
}

/// Converts one attribute; one result per value (two for composite types).
pub(super) fn process(
    scope: &EventScope<'_>,
    attribute: &Attribute,
    object: Option<&ObjectScope<'_>>,
    create_relationships: bool,
) -> Vec<AttributeResult> {
    if is_external_link(attribute) {
        return Vec::new();
    }
    let options = scope.options;
    let Some(resolved) = resolve::resolve(
        &attribute.kind,
        &attribute.value,
        options.import_unsupported_observables_as_text,
    ) else {
        return Vec::new();
    };
    // Scheduled tasks have no pattern and no observable mapping.
    if resolved
        .iter()
        .any(|value| value.resolver == Resolver::WindowsScheduledTask)
    {
        return Vec::new();
    }
    let file_name = resolved
        .iter()
        .find(|value| value.resolver == Resolver::FileName)
        .map(|value| value.value.as_str());

    let (markings, labels) = match &attribute.tags {
        Some(attribute_tags) => {
            let own = tags::markings(attribute_tags, false, options.markings_from_tags, scope.now);
            let labels: Arc<[String]> = if options.create_tags_as_labels {
                tags::labels(attribute_tags).into()
            } else {
                Arc::from([])
            };
            (
                if own.is_empty() {
                    scope.markings.to_vec()
                } else {
                    own
                },
                labels,
            )
        }
        None => (scope.markings.to_vec(), Arc::clone(scope.labels)),
    };
    let marking_ids: Arc<[Arc<str>]> = if attribute.tags.is_some() {
        markings.iter().map(|m| Arc::clone(&m.id)).collect()
    } else {
        Arc::clone(scope.marking_ids)
    };
    let element_context = ElementContext {
        author_id: scope.author_id,
        markings: &marking_ids,
        now: scope.now,
        guesses: scope.guesses,
    };
    let attribute_elements = elements::prepare(
        &attribute.galaxies,
        attribute.tags.as_deref().unwrap_or_default(),
        &element_context,
    );
    let score = match options.import_to_ids_no_score {
        Some(score) if !attribute.to_ids => score,
        _ => scope.score,
    };
    let description: Arc<str> = Arc::from(attribute.comment());
    let external_references = object.map_or(&[][..], |object| object.external_references);
    let shared = Shared {
        scope,
        attribute,
        labels: &labels,
        marking_ids: &marking_ids,
        external_references,
        score,
        file_name,
    };

    resolved
        .iter()
        .map(|value| {
            let indicator = if options.create_indicators {
                shared.indicator(value)
            } else {
                None
            };
            let observable = if options.create_observables {
                shared.observable(value)
            } else {
                None
            };
            let (identities, sightings) = shared.sightings(indicator.as_ref());
            let mut result = AttributeResult {
                indicator,
                observable,
                markings: markings.clone(),
                identities,
                sightings,
                elements: attribute_elements.clone(),
                relationships: Vec::new(),
            };
            if create_relationships {
                result.relationships = relationships(
                    scope,
                    &result,
                    &attribute_elements,
                    object.and_then(|object| object.observable_id.clone()),
                    &description,
                    &marking_ids,
                );
            }
            result
        })
        .collect()
}

/// What every value of one attribute shares.
struct Shared<'a> {
    scope: &'a EventScope<'a>,
    attribute: &'a Attribute,
    labels: &'a [String],
    marking_ids: &'a Arc<[Arc<str>]>,
    external_references: &'a [Value],
    score: i64,
    file_name: Option<&'a str>,
}

impl Shared<'_> {
    fn indicator(&self, value: &Resolved) -> Option<(Arc<str>, Value)> {
        let attribute = self.attribute;
        let comment = attribute.comment();
        let mut name = if longer_than_two(&value.value) {
            Some(value.value.clone())
        } else if longer_than_two(comment) {
            Some(comment.to_owned())
        } else {
            value.observable_type.map(str::to_owned)
        };
        let (pattern_type, pattern) = match value.resolver {
            Resolver::Yara | Resolver::Sigma => {
                name = if longer_than_two(comment) {
                    Some(comment.to_owned())
                } else {
                    value.observable_type.map(str::to_owned)
                };
                let kind = if value.resolver == Resolver::Yara {
                    "yara"
                } else {
                    "sigma"
                };
                (kind, value.value.clone())
            }
            resolver => {
                let (object_type, path) = resolve::pattern_path(resolver)?;
                (
                    "stix",
                    resolve::equality_pattern(object_type, path, &value.value),
                )
            }
        };
        let Some(moment) = attribute.timestamp.and_then(from_epoch) else {
            tracing::error!(
                target: "misp_feed::convert",
                uuid = %attribute.uuid,
                "Error processing indicator {}: the attribute has no usable timestamp",
                name.as_deref().unwrap_or("")
            );
            return None;
        };
        let id = opencti_stix::id::indicator(&pattern);
        let mut indicator = header("indicator", &id);
        indicator.insert(
            "created_by_ref".to_owned(),
            Value::from(&**self.scope.author_id),
        );
        indicator.insert("created".to_owned(), Value::from(millis(&moment)));
        indicator.insert("modified".to_owned(), Value::from(millis(&moment)));
        put_text(&mut indicator, "name", name);
        indicator.insert("description".to_owned(), Value::from(comment));
        indicator.insert("pattern".to_owned(), Value::from(pattern));
        indicator.insert("pattern_type".to_owned(), Value::from(pattern_type));
        if pattern_type == "stix" {
            indicator.insert("pattern_version".to_owned(), Value::from("2.1"));
        }
        indicator.insert("valid_from".to_owned(), Value::from(seconds(&moment)));
        put_list(&mut indicator, "labels", self.labels);
        put_values(
            &mut indicator,
            "external_references",
            self.external_references,
        );
        put_list(&mut indicator, "object_marking_refs", self.marking_ids);
        indicator.insert(
            "x_opencti_detection".to_owned(),
            Value::Bool(attribute.to_ids),
        );
        put_text(
            &mut indicator,
            "x_opencti_main_observable_type",
            value.observable_type.map(str::to_owned),
        );
        indicator.insert("x_opencti_score".to_owned(), Value::from(self.score));
        Some((Arc::from(id), Value::Object(indicator)))
    }

    fn observable(&self, value: &Resolved) -> Option<(Arc<str>, Value)> {
        let observable_type = value.observable_type?;
        let text = || Value::from(value.value.as_str());
        let mut base = Map::new();
        let stix_type = match observable_type {
            "IPv4-Addr" => "ipv4-addr",
            "IPv6-Addr" => "ipv6-addr",
            "Hostname" => "hostname",
            "Domain-Name" => "domain-name",
            "Url" => "url",
            "Email-Addr" => "email-addr",
            "Phone-Number" => "phone-number",
            "Text" => "text",
            "Email-Message" => "email-message",
            "Windows-Registry-Key" => "windows-registry-key",
            "User-Account" => "user-account",
            "File" => "file",
            "Identity" => return Some(self.individual(value)),
            _ => return None,
        };
        base.insert("type".to_owned(), Value::from(stix_type));
        match observable_type {
            "Email-Message" => {
                base.insert("subject".to_owned(), text());
                base.insert("is_multipart".to_owned(), Value::Bool(true));
            }
            "Windows-Registry-Key" => {
                base.insert("key".to_owned(), text());
            }
            "User-Account" => {
                base.insert("account_login".to_owned(), text());
                base.insert("account_type".to_owned(), Value::from("github"));
            }
            "File" => match resolve::pattern_path(value.resolver) {
                Some((_, ["hashes", algorithm])) => {
                    put_text(&mut base, "name", self.file_name.map(str::to_owned));
                    let mut hashes = Map::new();
                    hashes.insert((*algorithm).to_owned(), text());
                    base.insert("hashes".to_owned(), Value::Object(hashes));
                }
                _ => {
                    base.insert("name".to_owned(), text());
                }
            },
            _ => {
                base.insert("value".to_owned(), text());
            }
        }
        let base = Value::Object(base);
        let id = match opencti_stix::id::generate_id_from_data(&base) {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(
                    target: "misp_feed::convert",
                    "Error creating observable type {observable_type} with value {}: {error}",
                    value.value
                );
                return None;
            }
        };
        let Value::Object(base) = base else {
            return None;
        };
        let mut observable = header(stix_type, &id);
        observable.extend(base.into_iter().filter(|(key, _)| key != "type"));
        put_list(&mut observable, "object_marking_refs", self.marking_ids);
        observable.insert(
            "created_by_ref".to_owned(),
            Value::from(&**self.scope.author_id),
        );
        put_values(
            &mut observable,
            "external_references",
            self.external_references,
        );
        put_list(&mut observable, "labels", self.labels);
        observable.insert(
            "x_opencti_description".to_owned(),
            Value::from(self.attribute.comment()),
        );
        observable.insert("x_opencti_score".to_owned(), Value::from(self.score));
        Some((Arc::from(id), Value::Object(observable)))
    }

    /// `full-name` attributes: an individual identity (no markings, as in Python).
    fn individual(&self, value: &Resolved) -> (Arc<str>, Value) {
        let id = opencti_stix::id::identity(&value.value, "individual");
        let mut identity = common_sdo(
            "identity",
            &id,
            self.scope.author_id,
            self.scope.now,
            &value.value,
        );
        identity.insert(
            "description".to_owned(),
            Value::from(self.attribute.comment()),
        );
        identity.insert("identity_class".to_owned(), Value::from("individual"));
        put_list(&mut identity, "labels", self.labels);
        put_values(
            &mut identity,
            "external_references",
            self.external_references,
        );
        (Arc::from(id), Value::Object(identity))
    }

    /// Sighting organisations (always) and sightings of the indicator.
    #[allow(clippy::type_complexity)]
    fn sightings(
        &self,
        indicator: Option<&(Arc<str>, Value)>,
    ) -> (Vec<(Arc<str>, Value)>, Vec<(Arc<str>, Value)>) {
        let mut identities = Vec::new();
        let mut sightings = Vec::new();
        for sighting in &self.attribute.sightings {
            let Some(organisation) = &sighting.organisation else {
                continue;
            };
            if organisation.name == self.scope.author_name {
                continue;
            }
            let identity = organization(&organisation.name, self.scope.now);
            let identity_id: Arc<str> = Arc::from(identity["id"].as_str().unwrap_or_default());
            identities.push((Arc::clone(&identity_id), Value::Object(identity)));
            let Some((indicator_id, _)) = indicator else {
                continue;
            };
            let Some(first) = sighting.date_sighting.and_then(from_epoch) else {
                continue;
            };
            let Some(last) = sighting
                .date_sighting
                .and_then(|epoch| epoch.checked_add(3600))
                .and_then(from_epoch)
            else {
                continue;
            };
            let (first, last) = (seconds(&first), seconds(&last));
            // The Python connector hashes `where_sighted_refs` as a plain
            // string, not a list; the id must match.
            let mut id_data = Map::new();
            id_data.insert("type".to_owned(), Value::from("sighting"));
            id_data.insert("sighting_of_ref".to_owned(), Value::from(&**indicator_id));
            id_data.insert("where_sighted_refs".to_owned(), Value::from(&*identity_id));
            id_data.insert("first_seen".to_owned(), Value::from(first.as_str()));
            id_data.insert("last_seen".to_owned(), Value::from(last.as_str()));
            let Ok(id) = opencti_stix::id::generate_id_from_data(&Value::Object(id_data)) else {
                continue;
            };
            let mut object = header("sighting", &id);
            object.insert("created".to_owned(), Value::from(self.scope.now));
            object.insert("modified".to_owned(), Value::from(self.scope.now));
            object.insert("first_seen".to_owned(), Value::from(first));
            object.insert("last_seen".to_owned(), Value::from(last));
            object.insert("sighting_of_ref".to_owned(), Value::from(&**indicator_id));
            put_list(&mut object, "where_sighted_refs", &[&*identity_id]);
            sightings.push((Arc::from(id), Value::Object(object)));
        }
        (identities, sightings)
    }
}

/// The relationships of one attribute value.
fn relationships(
    scope: &EventScope<'_>,
    result: &AttributeResult,
    attribute_elements: &Elements,
    object_observable: Option<Arc<str>>,
    description: &Arc<str>,
    marking_ids: &Arc<[Arc<str>]>,
) -> Vec<Relationship> {
    let indicator = result.indicator.as_ref().map(|(id, _)| Arc::clone(id));
    let observable = result.observable.as_ref().map(|(id, _)| Arc::clone(id));
    let mut relationships = Vec::new();
    let contextual = |kind, source: &Arc<str>, target: &Arc<str>| {
        Relationship::new(
            kind,
            Arc::clone(source),
            Arc::clone(target),
            Some(Arc::clone(description)),
            Some(Arc::clone(marking_ids)),
        )
    };
    if let (Some(indicator), Some(observable)) = (&indicator, &observable) {
        relationships.push(Relationship::new(
            "based-on",
            Arc::clone(indicator),
            Arc::clone(observable),
            None,
            None,
        ));
    }
    if let Some(source) = object_observable {
        let target = observable
            .clone()
            .filter(|observable| *observable != source)
            .or_else(|| indicator.clone());
        if let Some(target) = target {
            relationships.push(Relationship::new("related-to", source, target, None, None));
        }
    }
    let event_threats: HashMap<&str, &Arc<str>> = scope
        .elements
        .threats()
        .map(|threat| (threat.name.as_str(), &threat.id))
        .collect();
    let threat_id = |element: &elements::Element| {
        Arc::clone(
            event_threats
                .get(element.name.as_str())
                .copied()
                .unwrap_or(&element.id),
        )
    };
    for threat in scope.elements.threats() {
        if let Some(indicator) = &indicator {
            relationships.push(contextual("indicates", indicator, &threat.id));
        }
        if let Some(observable) = &observable {
            relationships.push(contextual("related-to", observable, &threat.id));
        }
    }
    for threat in attribute_elements.threats() {
        let target = threat_id(threat);
        if let Some(indicator) = &indicator {
            relationships.push(contextual("indicates", indicator, &target));
        }
        if let Some(observable) = &observable {
            relationships.push(contextual("related-to", observable, &target));
        }
    }
    for elements in [scope.elements, attribute_elements] {
        let users = if elements.malwares.is_empty() {
            &elements.intrusion_sets
        } else {
            &elements.malwares
        };
        for attack_pattern in &elements.attack_patterns {
            for user in users {
                relationships.push(contextual("uses", &threat_id(user), &attack_pattern.id));
            }
        }
    }
    for target in attribute_elements
        .sectors
        .iter()
        .chain(&attribute_elements.countries)
    {
        if let Some(indicator) = &indicator {
            relationships.push(contextual("related-to", indicator, &target.id));
        }
        if let Some(observable) = &observable {
            relationships.push(contextual("related-to", observable, &target.id));
        }
    }
    relationships
}

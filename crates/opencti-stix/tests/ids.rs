//! Every vector of `fixtures/pycti/ids.jsonl` (pycti 7.261026.0 / stix2 3.0.2).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use opencti_stix::canonical::canonical_json;
use opencti_stix::id::{self, IdDate, IdError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

const VECTORS: &str = include_str!("fixtures/pycti/ids.jsonl");
const NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

type Outcome = Result<Option<String>, IdError>;

#[test]
fn every_pycti_id_vector_is_reproduced() {
    let mut checked = 0;
    let mut errors = 0;
    for (index, line) in VECTORS.lines().enumerate() {
        let vector: Vector = Vector::parse(index + 1, line);
        let outcome = vector.compute();
        if let Some(error) = vector.raw.get("error") {
            assert!(
                outcome.is_err(),
                "line {}: pycti raised {error} but we got {outcome:?}",
                vector.line
            );
            errors += 1;
        } else {
            let expected = vector.raw["id"].as_str().map(str::to_owned);
            assert_eq!(
                outcome.as_ref().ok(),
                Some(&expected),
                "line {}: {line}",
                vector.line
            );
            vector.check_canonical();
        }
        checked += 1;
    }
    assert_eq!(checked, 555, "the whole file is walked");
    assert_eq!(errors, 4, "the four pycti exceptions are reproduced");
}

struct Vector {
    line: usize,
    raw: Value,
}

impl Vector {
    fn parse(line: usize, text: &str) -> Self {
        let raw = serde_json::from_str(text).unwrap_or_else(|e| panic!("line {line}: {e}"));
        Self { line, raw }
    }

    fn args(&self) -> &Map<String, Value> {
        self.raw["args"].as_object().expect("args is an object")
    }

    fn arg(&self, name: &str) -> &Value {
        self.args().get(name).unwrap_or(&Value::Null)
    }

    fn text(&self, name: &str) -> &str {
        self.arg(name)
            .as_str()
            .unwrap_or_else(|| panic!("line {}: `{name}` is not a string", self.line))
    }

    fn optional_text(&self, name: &str) -> Option<&str> {
        self.arg(name).as_str()
    }

    /// A date argument in the Python type it had (`args_repr` says when it
    /// was a `datetime` or a `date`; `args` then holds its `isoformat()`).
    fn date(&self, name: &str) -> Option<IdDate<'_>> {
        let value = self.arg(name);
        let repr = self.raw["args_repr"].get(name).and_then(Value::as_str);
        match (repr, value) {
            (_, Value::Null) => None,
            (Some(repr), Value::String(text)) if repr.starts_with("datetime.datetime(") => {
                Some(match DateTime::parse_from_rfc3339(text) {
                    Ok(aware) => IdDate::DateTime(aware),
                    Err(_) => IdDate::NaiveDateTime(
                        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                            .expect("naive isoformat"),
                    ),
                })
            }
            (Some(repr), Value::String(text)) if repr.starts_with("datetime.date(") => Some(
                IdDate::Date(NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("isoformat date")),
            ),
            (_, Value::String(text)) => Some(IdDate::Text(text)),
            (_, other) => Some(IdDate::Json(other)),
        }
    }

    fn strings(&self, name: &str) -> Vec<&str> {
        self.arg(name)
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item.as_str().expect("a string"))
            .collect()
    }

    fn compute(&self) -> Outcome {
        let function = self.raw["function"].as_str().expect("function");
        if self.raw["kind"] == "sco" {
            let mut data = self.args().clone();
            data.insert("type".to_owned(), self.raw["type"].clone());
            return id::generate_id_from_data(&Value::Object(data)).map(Some);
        }
        if let Some(class) = function.strip_suffix(".generate_id_from_data") {
            return self.compute_from_data(class);
        }
        self.compute_typed(function)
    }

    /// `Class.generate_id_from_data(data)`: the generic entry point, told
    /// the class through the STIX `type` (and, for the two threat-actor
    /// classes that fix OpenCTI's subtype, through `x_opencti_type`).
    fn compute_from_data(&self, class: &str) -> Outcome {
        let mut data = self.arg("data").as_object().expect("data").clone();
        data.insert("type".to_owned(), json!(stix_type(class)));
        let subtype = match class {
            "ThreatActorGroup" => Some(id::THREAT_ACTOR_GROUP),
            "ThreatActorIndividual" => Some(id::THREAT_ACTOR_INDIVIDUAL),
            _ => None,
        };
        if let Some(subtype) = subtype {
            data.entry("x_opencti_type").or_insert(json!(subtype));
        }
        id::generate_id_from_data(&Value::Object(data)).map(Some)
    }

    /// The same call through a STIX object, for the vectors passing `None`
    /// where the typed Rust function takes a `&str` (pycti then hashes
    /// `null`, ignores the argument, or raises).
    fn compute_through_data(&self, stix_type: &str, renames: &[(&str, &str)]) -> Outcome {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!(stix_type));
        for (name, value) in self.args() {
            let property = renames
                .iter()
                .find(|(arg, _)| arg == name)
                .map_or(name.as_str(), |(_, property)| property);
            data.insert(property.to_owned(), value.clone());
        }
        id::generate_id_from_data(&Value::Object(data)).map(Some)
    }

    fn has_null(&self, names: &[&str]) -> bool {
        names
            .iter()
            .any(|name| self.args().get(*name) == Some(&Value::Null))
    }

    fn compute_typed(&self, function: &str) -> Outcome {
        let name = || self.text("name");
        let some = |id: String| Ok(Some(id));
        match function {
            "Malware.generate_id" => some(id::malware(name())),
            "IntrusionSet.generate_id" => some(id::intrusion_set(name())),
            "Campaign.generate_id" => some(id::campaign(name())),
            "Tool.generate_id" => some(id::tool(name())),
            "Vulnerability.generate_id" => some(id::vulnerability(name())),
            "Infrastructure.generate_id" => some(id::infrastructure(name())),
            "Channel.generate_id" => some(id::channel(name())),
            "Narrative.generate_id" => some(id::narrative(name())),
            "Event.generate_id" => some(id::event(name())),
            "Language.generate_id" => some(id::language(name())),
            "DataComponent.generate_id" => some(id::data_component(name())),
            "DataSource.generate_id" => some(id::data_source(name())),
            "Feedback.generate_id" => some(id::feedback(name())),
            "ThreatActorGroup.generate_id" => some(id::threat_actor_group(name())),
            "ThreatActorIndividual.generate_id" => some(id::threat_actor_individual(name())),
            "ThreatActor.generate_id" => some(id::threat_actor(name(), self.text("opencti_type"))),
            "Indicator.generate_id" => some(id::indicator(self.text("pattern"))),
            "Report.generate_id" => id::report(name(), self.date("published")).map(Some),
            "Incident.generate_id" => id::incident(name(), self.date("created")).map(Some),
            "CaseIncident.generate_id" => id::case_incident(name(), self.date("created")).map(Some),
            "CaseRfi.generate_id" => id::case_rfi(name(), self.date("created")).map(Some),
            "CaseRft.generate_id" => id::case_rft(name(), self.date("created")).map(Some),
            "Task.generate_id" => id::task(name(), self.date("created")).map(Some),
            "Identity.generate_id" => some(id::identity(name(), self.text("identity_class"))),
            "AttackPattern.generate_id" | "CourseOfAction.generate_id" => {
                let stix_type = stix_type(function.trim_end_matches(".generate_id"));
                if self.has_null(&["name"]) {
                    return self.compute_through_data(stix_type, &[]);
                }
                let mitre = self.optional_text("x_mitre_id");
                some(if stix_type == "attack-pattern" {
                    id::attack_pattern(name(), mitre)
                } else {
                    id::course_of_action(name(), mitre)
                })
            }
            "Location.generate_id" => {
                let coordinates = [self.arg("latitude"), self.arg("longitude")];
                if self.has_null(&["name"]) || coordinates.iter().any(|c| c.is_string()) {
                    return self.compute_through_data("location", &[]);
                }
                id::location(
                    name(),
                    self.optional_text("x_opencti_location_type"),
                    coordinates[0].as_f64(),
                    coordinates[1].as_f64(),
                )
                .map(Some)
            }
            "MarkingDefinition.generate_id" => some(id::marking_definition(
                self.text("definition_type"),
                self.text("definition"),
            )),
            "KillChainPhase.generate_id" | "kill_chain_phase_generate_id" => {
                if self.has_null(&["phase_name", "kill_chain_name"]) {
                    return self.compute_through_data("kill-chain-phase", &[]);
                }
                some(id::kill_chain_phase(
                    self.text("phase_name"),
                    self.text("kill_chain_name"),
                ))
            }
            "ExternalReference.generate_id" | "external_reference_generate_id" => {
                Ok(id::external_reference(
                    self.optional_text("url"),
                    self.optional_text("source_name"),
                    self.optional_text("external_id"),
                ))
            }
            "Label.generate_id" => some(id::label(self.text("value"))),
            "Note.generate_id" => {
                if self.has_null(&["content"]) {
                    return self
                        .compute_through_data("note", &[("abstract", "attribute_abstract")]);
                }
                id::note(
                    self.date("created"),
                    self.text("content"),
                    self.optional_text("abstract"),
                )
                .map(Some)
            }
            "Opinion.generate_id" => {
                if self.has_null(&["opinion"]) {
                    return self.compute_through_data("opinion", &[]);
                }
                id::opinion(self.date("created"), self.text("opinion")).map(Some)
            }
            "ObservedData.generate_id" => some(id::observed_data(&self.strings("object_ids"))),
            "Grouping.generate_id" => {
                id::grouping(name(), self.text("context"), self.date("created")).map(Some)
            }
            "MalwareAnalysis.generate_id" => id::malware_analysis(
                self.text("result_name"),
                self.optional_text("product"),
                self.date("submitted"),
            )
            .map(Some),
            "Vocabulary.generate_id" => some(id::vocabulary(name(), self.text("category"))),
            "StixCoreRelationship.generate_id" => id::relationship(
                self.text("relationship_type"),
                self.text("source_ref"),
                self.text("target_ref"),
                self.date("start_time"),
                self.date("stop_time"),
            )
            .map(Some),
            "StixSightingRelationship.generate_id" => id::sighting(
                self.text("sighting_of_ref"),
                &self.strings("where_sighted_refs"),
                self.date("first_seen"),
                self.date("last_seen"),
            )
            .map(Some),
            "SecurityCoverage.generate_id" => some(id::security_coverage(self.text("covered_ref"))),
            "SecurityCoverageResult.generate_id" => some(id::security_coverage_result(
                self.optional_text("name"),
                self.optional_text("external_uri"),
                self.text("result_of_ref"),
            )),
            other => panic!("line {}: no Rust counterpart for {other}", self.line),
        }
    }

    /// The hashed string, byte for byte: it must be a fixed point of our
    /// canonical serialisation, and hash (UUIDv5) to the id. Since our id
    /// equals the expected one, our own hashed string is this one too.
    fn check_canonical(&self) {
        let Some(canonical) = self.raw["canonical"].as_str() else {
            return;
        };
        let parsed: Value = serde_json::from_str(canonical).expect("canonical is JSON");
        assert_eq!(canonical_json(&parsed), canonical, "line {}", self.line);
        let id = self.raw["id"].as_str().expect("hashed vectors have an id");
        let uuid = Uuid::new_v5(&NAMESPACE, canonical.as_bytes()).to_string();
        assert!(id.ends_with(&format!("--{uuid}")), "line {}", self.line);
    }
}

/// The STIX type of a pycti entity class.
fn stix_type(class: &str) -> &'static str {
    match class {
        "AttackPattern" => "attack-pattern",
        "Campaign" => "campaign",
        "CaseIncident" => "case-incident",
        "CaseRfi" => "case-rfi",
        "CaseRft" => "case-rft",
        "Channel" => "channel",
        "CourseOfAction" => "course-of-action",
        "DataComponent" => "data-component",
        "DataSource" => "data-source",
        "Event" => "event",
        "ExternalReference" => "external-reference",
        "Feedback" => "feedback",
        "Grouping" => "grouping",
        "Identity" => "identity",
        "Incident" => "incident",
        "Indicator" => "indicator",
        "Infrastructure" => "infrastructure",
        "IntrusionSet" => "intrusion-set",
        "KillChainPhase" => "kill-chain-phase",
        "Language" => "language",
        "Location" => "location",
        "Malware" => "malware",
        "MalwareAnalysis" => "malware-analysis",
        "MarkingDefinition" => "marking-definition",
        "Narrative" => "narrative",
        "Note" => "note",
        "ObservedData" => "observed-data",
        "Opinion" => "opinion",
        "Report" => "report",
        "SecurityCoverage" => "security-coverage",
        "SecurityCoverageResult" => "security-coverage-result",
        "StixCoreRelationship" => "relationship",
        "StixSightingRelationship" => "sighting",
        "Task" => "task",
        "ThreatActor" | "ThreatActorGroup" | "ThreatActorIndividual" => "threat-actor",
        "Tool" => "tool",
        "Vocabulary" => "vocabulary",
        "Vulnerability" => "vulnerability",
        other => panic!("unknown pycti class {other}"),
    }
}

#[test]
fn errors_name_the_object_and_field() {
    let missing = id::generate_id_from_data(&json!({"type": "report", "name": "R"})).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "`report` object: property `published` is required to derive its id"
    );
    let invalid = id::generate_id_from_data(&json!({"type": "malware", "name": 5})).unwrap_err();
    assert!(matches!(invalid, IdError::InvalidField { ref field, .. } if field == "name"));
    let hashes = json!({"type": "file", "hashes": {}});
    assert!(matches!(
        id::generate_id_from_data(&hashes),
        Err(IdError::InvalidField { ref field, .. }) if field == "hashes"
    ));
}

#[test]
fn objects_without_a_deterministic_id_are_refused() {
    let cases = [
        (json!([1]), IdError::NotAnObject),
        (json!({"name": "x"}), IdError::MissingType),
        (
            json!({"type": "x-acme-widget", "name": "x"}),
            IdError::UnsupportedType {
                object_type: "x-acme-widget".to_owned(),
            },
        ),
        (
            json!({"type": "process", "pid": 4}),
            IdError::NotDeterministic {
                object_type: "process".to_owned(),
            },
        ),
        (
            json!({"type": "file", "size": 4}),
            IdError::NotDeterministic {
                object_type: "file".to_owned(),
            },
        ),
        (
            json!({"type": "external-reference", "source_name": "cve"}),
            IdError::NotDeterministic {
                object_type: "external-reference".to_owned(),
            },
        ),
    ];
    for (data, expected) in cases {
        assert_eq!(id::generate_id_from_data(&data), Err(expected), "{data}");
    }
}

#[test]
fn legacy_types_use_the_current_rule() {
    let task =
        json!({"type": "x-opencti-task", "name": "Triage", "created": "2020-03-01T12:34:56.000Z"});
    assert_eq!(
        id::generate_id_from_data(&task).unwrap(),
        id::task("Triage", Some("2020-03-01T12:34:56.000Z".into())).unwrap()
    );
    let component = json!({"type": "x-mitre-data-component", "name": "Process Creation"});
    assert_eq!(
        id::generate_id_from_data(&component).unwrap(),
        id::data_component("Process Creation")
    );
}

#[test]
fn an_existing_id_is_ignored() {
    let with_id = json!({"type": "domain-name", "id": "domain-name--00000000-0000-4000-8000-000000000000", "value": "example.com"});
    assert_eq!(
        id::generate_id_from_data(&with_id).unwrap(),
        "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"
    );
}

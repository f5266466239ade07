//! Every conversion switch, each deliberate difference from the Python
//! connector on its own, and the converter's behaviour on odd input.

use std::collections::HashMap;

use opencti_misp_feed::convert::{
    ConvertOptions, Converter, KnownThreat, ThreatGuesses, parse_event,
};
use opencti_stix::id;
use serde_json::{Value, json};

const PDF_DATA: &str = "JVBERi0xLjQK";

/// An event exercising every switch.
fn rich_event() -> Value {
    json!({"Event": {
        "uuid": "11111111-0000-4000-8000-000000000000",
        "info": "Switchboard", "date": "2024-03-01", "timestamp": "1709290800",
        "threat_level_id": "3",
        "Orgc": {"name": "ACME"},
        "Tag": [
            {"name": "tlp:amber"}, {"name": "marking:PAP=PAP:RED"}, {"name": "creator=\"Intel Team\""},
            {"name": "type:OSINT"}, {"name": "misp-galaxy:threat-actor=\"APT 29\""}, {"name": "Emotet"}
        ],
        "Attribute": [
            {"uuid": "a0000000-0000-4000-8000-000000000001", "type": "ip-dst", "category": "Network activity",
             "value": "192.0.2.10", "to_ids": false, "comment": "c2", "timestamp": "1709290800",
             "Sighting": [{"Organisation": {"name": "SOC"}, "date_sighting": "1709294400"}]},
            {"uuid": "a0000000-0000-4000-8000-000000000002", "type": "AS", "category": "Network activity",
             "value": "AS64500", "to_ids": true, "comment": "", "timestamp": "1709290800"},
            {"uuid": "a0000000-0000-4000-8000-000000000003", "type": "attachment", "category": "External analysis",
             "value": "report.pdf", "to_ids": false, "comment": "", "timestamp": "1709290800", "data": PDF_DATA}
        ],
        "Object": [{"uuid": "b0000000-0000-4000-8000-000000000001", "name": "domain-ip", "meta-category": "network",
            "description": "A domain", "Attribute": [
            {"uuid": "a0000000-0000-4000-8000-000000000004", "type": "domain", "category": "Network activity",
             "value": "evil.example", "to_ids": true, "comment": "", "timestamp": "1709290800"}]}],
        "EventReport": [{"name": "Notes", "content": "@[tag](tlp:amber)", "timestamp": "1709290800"}]
    }})
}

fn convert_with(
    event: &Value,
    options: ConvertOptions,
    guesses: Option<&ThreatGuesses>,
) -> Vec<Value> {
    let event = parse_event(&serde_json::to_vec(event).unwrap()).unwrap();
    let converted = Converter::new(options)
        .convert(event, guesses, chrono::Utc::now())
        .unwrap();
    let bundle: Value = serde_json::from_str(&converted.bundle).unwrap();
    bundle["objects"].as_array().unwrap().clone()
}

fn convert(options: ConvertOptions) -> Vec<Value> {
    convert_with(&rich_event(), options, None)
}

fn of_type<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|object| object["type"] == kind)
        .collect()
}

fn relationships<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|object| object["type"] == "relationship" && object["relationship_type"] == kind)
        .collect()
}

fn all_on() -> ConvertOptions {
    ConvertOptions {
        create_indicators: true,
        create_observables: true,
        create_object_observables: true,
        ..ConvertOptions::default()
    }
}

#[test]
fn create_reports_controls_the_report_and_its_notes() {
    let objects = convert(ConvertOptions::default());
    assert_eq!(of_type(&objects, "report").len(), 1);
    let notes = of_type(&objects, "note");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["content"], "tag:tlp:amber");
    let objects = convert(ConvertOptions {
        create_reports: false,
        import_with_attachments: true,
        ..ConvertOptions::default()
    });
    assert!(of_type(&objects, "report").is_empty());
    assert!(of_type(&objects, "note").is_empty());
}

#[test]
fn report_type_is_the_reports_type() {
    let objects = convert(ConvertOptions {
        report_type: "threat-report".into(),
        ..ConvertOptions::default()
    });
    assert_eq!(
        of_type(&objects, "report")[0]["report_types"],
        json!(["threat-report"])
    );
}

#[test]
fn create_indicators_controls_indicators_sightings_and_indicates() {
    let off = convert(ConvertOptions::default());
    assert!(of_type(&off, "indicator").is_empty());
    assert!(of_type(&off, "sighting").is_empty());
    assert!(relationships(&off, "indicates").is_empty());
    // Sighting organisations are added even without an indicator (as in Python).
    assert!(
        of_type(&off, "identity")
            .iter()
            .any(|identity| identity["name"] == "SOC")
    );

    let on = convert(ConvertOptions {
        create_indicators: true,
        ..ConvertOptions::default()
    });
    let patterns: Vec<&str> = of_type(&on, "indicator")
        .iter()
        .map(|indicator| indicator["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [
            "[ipv4-addr:value = '192.0.2.10']",
            "[domain-name:value = 'evil.example']"
        ]
    );
    assert_eq!(of_type(&on, "sighting").len(), 1);
    assert_eq!(relationships(&on, "indicates").len(), 2);
    assert!(relationships(&on, "based-on").is_empty(), "no observables");
}

#[test]
fn create_observables_controls_observables_and_their_links() {
    let on = convert(ConvertOptions {
        create_observables: true,
        ..ConvertOptions::default()
    });
    assert_eq!(of_type(&on, "ipv4-addr").len(), 1);
    assert_eq!(of_type(&on, "domain-name").len(), 1);
    assert_eq!(
        relationships(&on, "related-to").len(),
        2,
        "observable -> APT29"
    );
    let both = convert(all_on());
    assert_eq!(relationships(&both, "based-on").len(), 2);
    assert!(of_type(&convert(ConvertOptions::default()), "ipv4-addr").is_empty());
}

#[test]
fn create_object_observables_adds_a_text_per_object() {
    let off = convert(all_on_but(|options| {
        options.create_object_observables = false;
    }));
    assert!(of_type(&off, "text").is_empty());
    let on = convert(all_on());
    let texts = of_type(&on, "text");
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0]["value"], "evil.example", "transparent by default");
    assert_eq!(texts[0]["description"], "A domain");
    assert_eq!(texts[0]["x_opencti_score"], 30, "threat level 3");
    let text_id = texts[0]["id"].as_str().unwrap();
    assert!(
        relationships(&on, "related-to")
            .iter()
            .any(|r| r["source_ref"] == text_id
                && r["target_ref"]
                    .as_str()
                    .unwrap()
                    .starts_with("domain-name--")),
        "the object observable is related to its attributes"
    );
}

fn all_on_but(change: impl FnOnce(&mut ConvertOptions)) -> ConvertOptions {
    let mut options = all_on();
    change(&mut options);
    options
}

#[test]
fn transparent_off_names_the_object_text() {
    let on = convert(all_on_but(|options| {
        options.import_unsupported_observables_as_text_transparent = false;
    }));
    assert_eq!(
        of_type(&on, "text")[0]["value"],
        "domain-ip (domain=evil.example)"
    );
}

#[test]
fn create_tags_as_labels_controls_labels() {
    let on = convert(all_on());
    let report = of_type(&on, "report")[0];
    assert_eq!(report["labels"], json!(["OSINT", "Emotet"]));
    assert_eq!(
        of_type(&on, "indicator")[0]["labels"],
        json!(["OSINT", "Emotet"])
    );
    let off = convert(all_on_but(|options| options.create_tags_as_labels = false));
    assert!(off.iter().all(|object| object.get("labels").is_none()
        || object["type"] != "report" && object["type"] != "indicator"));
    assert!(of_type(&off, "report")[0].get("labels").is_none());
}

#[test]
fn guess_threats_from_tags_uses_the_platform_answers() {
    let guesses: ThreatGuesses = HashMap::from([
        (
            "Emotet".to_owned(),
            Some(KnownThreat {
                name: "Emotet".into(),
                entity_type: "Malware".into(),
            }),
        ),
        ("OSINT".to_owned(), None),
    ]);
    let malware = id::malware("Emotet");
    let off = convert_with(&rich_event(), all_on(), Some(&guesses));
    assert!(
        off.iter().all(|object| object["id"] != malware.as_str()),
        "switch off"
    );
    let on = convert_with(
        &rich_event(),
        all_on_but(|options| options.guess_threats_from_tags = true),
        Some(&guesses),
    );
    assert!(on.iter().any(|object| object["id"] == malware.as_str()));
    assert!(
        relationships(&on, "indicates")
            .iter()
            .any(|r| r["target_ref"] == malware.as_str())
    );
}

#[test]
fn markings_from_tags_adds_custom_markings() {
    let pap = id::marking_definition("PAP", "PAP:RED");
    let off = convert(ConvertOptions::default());
    assert!(off.iter().all(|object| object["id"] != pap.as_str()));
    let on = convert(ConvertOptions {
        markings_from_tags: true,
        ..ConvertOptions::default()
    });
    let marking = on
        .iter()
        .find(|object| object["id"] == pap.as_str())
        .unwrap();
    assert_eq!(marking["definition_type"], "statement");
    assert!(
        of_type(&on, "report")[0]["object_marking_refs"]
            .as_array()
            .unwrap()
            .contains(&json!(pap))
    );
}

#[test]
fn author_from_tags_takes_the_creator_tag() {
    let off = convert(ConvertOptions::default());
    assert_eq!(off[0]["name"], "ACME");
    let on = convert(ConvertOptions {
        author_from_tags: true,
        ..ConvertOptions::default()
    });
    // Lower-cased, quotes kept: the Python connector's ids depend on it.
    assert_eq!(on[0]["name"], "\"intel team\"");
    assert_eq!(on[0]["id"], id::identity("\"intel team\"", "organization"));
    assert_eq!(of_type(&on, "report")[0]["created_by_ref"], on[0]["id"]);
}

#[test]
fn import_to_ids_no_score_scores_non_detection_attributes() {
    let score_of = |objects: &[Value], kind: &str| {
        of_type(objects, kind)[0]["x_opencti_score"]
            .as_i64()
            .unwrap()
    };
    let default = convert(all_on());
    assert_eq!(score_of(&default, "ipv4-addr"), 30);
    let scored = convert(all_on_but(|options| {
        options.import_to_ids_no_score = Some(5);
    }));
    assert_eq!(score_of(&scored, "ipv4-addr"), 5, "to_ids false");
    assert_eq!(
        score_of(&scored, "domain-name"),
        30,
        "to_ids true keeps the threat-level score"
    );
}

#[test]
fn unsupported_types_become_text_only_when_asked() {
    let off = convert(all_on_but(|options| {
        options.create_object_observables = false;
    }));
    assert!(of_type(&off, "text").is_empty());
    let on = convert(all_on_but(|options| {
        options.create_object_observables = false;
        options.import_unsupported_observables_as_text = true;
    }));
    let values: Vec<&str> = of_type(&on, "text")
        .iter()
        .map(|text| text["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["AS64500 (type=AS)", "report.pdf (type=attachment)"]
    );
}

#[test]
fn attachments_become_report_files_only_when_asked() {
    let off = convert(ConvertOptions::default());
    assert!(of_type(&off, "report")[0].get("x_opencti_files").is_none());
    let on = convert(ConvertOptions {
        import_with_attachments: true,
        ..ConvertOptions::default()
    });
    assert_eq!(
        of_type(&on, "report")[0]["x_opencti_files"],
        json!([{"name": "report.pdf", "data": PDF_DATA, "mime_type": "application/pdf", "no_trigger_import": true}])
    );
}

fn single_attribute_event(kind: &str, value: &str) -> Value {
    json!({"Event": {"info": "x", "date": "2024-01-01", "timestamp": "1704067200", "Orgc": {"name": "ACME"},
        "Attribute": [{"uuid": "c0000000-0000-4000-8000-000000000001", "type": kind, "category": "Network activity",
            "value": value, "to_ids": true, "comment": "", "timestamp": "1704067200"}]}})
}

/// Deliberate difference: the Python connector keeps only the first value
/// of composite types; both are imported here.
#[test]
fn composite_types_import_both_values() {
    let cases = [
        (
            "filename|sha256",
            "a.exe|abcd",
            vec!["[file:name = 'a.exe']", "[file:hashes.'SHA-256' = 'abcd']"],
        ),
        (
            "ip-src|port",
            "192.0.2.1|443",
            vec!["[ipv4-addr:value = '192.0.2.1']", "[text:value = '443']"],
        ),
        (
            "domain|ip",
            "x.example|2001:db8::1",
            vec![
                "[domain-name:value = 'x.example']",
                "[ipv6-addr:value = '2001:db8::1']",
            ],
        ),
        (
            "hostname|port",
            "h.example|8443",
            vec!["[hostname:value = 'h.example']", "[text:value = '8443']"],
        ),
    ];
    for (kind, value, expected) in cases {
        let objects = convert_with(&single_attribute_event(kind, value), all_on(), None);
        let patterns: Vec<&str> = of_type(&objects, "indicator")
            .iter()
            .map(|indicator| indicator["pattern"].as_str().unwrap())
            .collect();
        assert_eq!(patterns, expected, "{kind}");
        assert_eq!(relationships(&objects, "based-on").len(), 2, "{kind}");
    }
    // The hash half's file carries the name too, as the Python code intended.
    let objects = convert_with(
        &single_attribute_event("filename|md5", "a.exe|44d8"),
        all_on(),
        None,
    );
    let files = of_type(&objects, "file");
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["name"], "a.exe");
    assert_eq!(files[1]["hashes"], json!({"MD5": "44d8"}));
}

/// Deliberate difference: object references become relationships, whether
/// the source is written `source_uuid` (MISP servers) or `object_uuid`
/// (PyMISP feeds).
#[test]
fn object_references_become_relationships() {
    for source_key in ["source_uuid", "object_uuid"] {
        let mut event = rich_event();
        event["Event"]["Object"][0]["ObjectReference"] = json!([{
            source_key: "b0000000-0000-4000-8000-000000000001",
            "referenced_uuid": "a0000000-0000-4000-8000-000000000001",
            "relationship_type": "resolves-to", "comment": "seen together"
        }]);
        let objects = convert_with(&event, all_on(), None);
        let text = of_type(&objects, "text")[0]["id"].clone();
        let ip = of_type(&objects, "ipv4-addr")[0]["id"].clone();
        let link = relationships(&objects, "related-to")
            .into_iter()
            .find(|r| r["source_ref"] == text && r["target_ref"] == ip)
            .unwrap_or_else(|| panic!("{source_key}: no relationship"));
        assert_eq!(
            link["description"],
            "Original Relationship: resolves-to  \nComment: seen together"
        );
        let report = of_type(&objects, "report")[0];
        assert!(
            report["object_refs"]
                .as_array()
                .unwrap()
                .contains(&link["id"])
        );
    }
    // Without object observables, the object is represented by its first
    // attribute's observable.
    let mut event = rich_event();
    event["Event"]["Object"][0]["ObjectReference"] = json!([{
        "object_uuid": "b0000000-0000-4000-8000-000000000001",
        "referenced_uuid": "a0000000-0000-4000-8000-000000000001",
        "relationship_type": "resolves-to", "comment": ""
    }]);
    let objects = convert_with(
        &event,
        all_on_but(|options| options.create_object_observables = false),
        None,
    );
    let domain = of_type(&objects, "domain-name")[0]["id"].clone();
    assert!(
        relationships(&objects, "related-to")
            .iter()
            .any(|r| r["source_ref"] == domain)
    );
}

#[test]
fn integer_threat_levels_score_like_strings() {
    let mut event = single_attribute_event("domain", "x.example");
    event["Event"]["threat_level_id"] = json!(1);
    let objects = convert_with(&event, all_on(), None);
    assert_eq!(of_type(&objects, "indicator")[0]["x_opencti_score"], 90);
}

#[test]
fn incomplete_galaxies_do_not_abort_the_event() {
    let mut event = single_attribute_event("domain", "x.example");
    event["Event"]["Galaxy"] = json!([
        {"namespace": "mitre-attack", "name": "Attack Pattern", "GalaxyCluster": [{"value": "Phishing - T1566"}]},
        {"name": "No namespace", "GalaxyCluster": [{"value": "ignored"}]},
        {"namespace": "misp", "name": "Country", "GalaxyCluster": [{"value": "fr", "description": "France"}]}
    ]);
    let objects = convert_with(&event, all_on(), None);
    let pattern = of_type(&objects, "attack-pattern");
    assert_eq!(pattern.len(), 1);
    assert_eq!(pattern[0]["name"], "Phishing");
    assert!(pattern[0].get("description").is_none());
    assert!(
        of_type(&objects, "location").is_empty(),
        "no ISO code: skipped"
    );
}

#[test]
fn big_events_get_no_relationships() {
    let attributes: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"uuid": format!("c0000000-0000-4000-8000-{i:012}"), "type": "domain",
                "category": "Network activity", "value": format!("d{i}.example"), "to_ids": true,
                "comment": "", "timestamp": "1704067200"})
        })
        .collect();
    let mut event = single_attribute_event("domain", "x.example");
    event["Event"]["Attribute"] = Value::Array(attributes);
    let objects = convert_with(&event, all_on(), None);
    assert!(of_type(&objects, "relationship").is_empty());
    assert_eq!(of_type(&objects, "indicator").len(), 10_000);
}

#[test]
fn events_that_cannot_be_reported_are_errors_naming_the_field() {
    let mut event = single_attribute_event("domain", "x.example");
    event["Event"]["date"] = json!("01/02/2024");
    let parsed = parse_event(&serde_json::to_vec(&event).unwrap()).unwrap();
    let error = Converter::new(ConvertOptions::default())
        .convert(parsed, None, chrono::Utc::now())
        .unwrap_err();
    assert!(error.to_string().contains("Event.date"), "{error}");
    // Without a report, the date is not needed.
    let parsed = parse_event(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert!(
        Converter::new(ConvertOptions {
            create_reports: false,
            ..ConvertOptions::default()
        })
        .convert(parsed, None, chrono::Utc::now())
        .is_ok()
    );
    for bad in [
        &b"[]"[..],
        b"[{\"Event\": {\"Orgc\": {\"name\": \"A\"}}}, {\"Event\": {\"Orgc\": {\"name\": \"B\"}}}]",
        b"{\"Event\": {}}",
        b"{} trailing",
    ] {
        assert!(
            parse_event(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

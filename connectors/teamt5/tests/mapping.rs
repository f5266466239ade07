//! The STIX mapping: ids against pycti's test vectors, listing fallbacks,
//! the author/TLP rewrite and the Report.

use chrono::{TimeZone, Utc};
use opencti_teamt5::mapping::{
    self, BundleRef, Kind, MappingError, ReportInfo, Stamp, publication_objects,
};
use serde_json::{Value, json};

use crate::support::fixture;

const BASE: &str = "https://api.threatvision.org";
const DEFAULT_AUTHOR: &str = "identity--4da37d9f-2e24-5549-9a5b-7219e5d7e056";
const CLEAR: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 22, 11, 0, 0).unwrap()
}

fn stamp() -> Stamp {
    Stamp::new("Team T5 External Import Connector", "clear", now())
}

fn spec_report_item() -> Value {
    json!({
        "alias": "tt5-flash-2025-11-20-apt-x",
        "title": "Flash Report: APT-X targets telecoms in Taiwan",
        "digest": "Short summary of the report ...",
        "date": 1_763_625_600,
        "type_name": "Flash Report",
        "stix_url": "https://api.threatvision.org/api/v2/reports/tt5-flash-2025-11-20-apt-x.stix",
        "pdf_url": "https://threatvision.org/reports/detail?alias=tt5-flash-2025-11-20-apt-x"
    })
}

fn objects(name: &str) -> Vec<Value> {
    fixture(name)["objects"].as_array().unwrap().clone()
}

#[test]
fn author_ids_match_pycti() {
    assert_eq!(stamp().author_id(), DEFAULT_AUTHOR);
    let readme_name = Stamp::new("TeamT5 External Import Connector", "clear", now());
    assert_eq!(
        readme_name.author_id(),
        "identity--0a1850d4-e18e-54ab-b110-34dabc56152d"
    );
    assert_eq!(
        stamp().author,
        json!({
            "type": "identity", "spec_version": "2.1", "id": DEFAULT_AUTHOR,
            "created": "2026-05-22T11:00:00.000Z", "modified": "2026-05-22T11:00:00.000Z",
            "name": "Team T5 External Import Connector", "identity_class": "organization"
        })
    );
}

#[test]
fn tlp_levels_give_the_python_markings() {
    let expected = [
        ("clear", CLEAR, "statement"),
        ("white", CLEAR, "tlp"),
        (
            "green",
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "tlp",
        ),
        (
            "amber",
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "tlp",
        ),
        (
            "amber+strict",
            "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
            "statement",
        ),
        (
            "red",
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            "tlp",
        ),
    ];
    for (level, id, definition_type) in expected {
        let stamp = Stamp::new("a", level, now());
        assert_eq!(stamp.tlp_id(), id, "{level}");
        assert_eq!(stamp.tlp["type"], "marking-definition");
        assert_eq!(stamp.tlp["definition_type"], definition_type, "{level}");
    }
    let clear = Stamp::new("a", "clear", now()).tlp;
    assert_eq!(clear["x_opencti_definition"], "TLP:CLEAR");
    assert_eq!(clear["definition"], json!({"statement": "custom"}));
    let white = Stamp::new("a", "white", now()).tlp;
    assert_eq!(white["name"], "TLP:WHITE");
    assert_eq!(white["created"], "2017-01-20T00:00:00.000Z");
}

#[test]
fn report_listing_fallbacks() {
    let full = mapping::bundle_ref(Kind::Report, &spec_report_item(), BASE).unwrap();
    assert_eq!(full.created_at, Some(1_763_625_600));
    assert_eq!(
        full.stix_url.as_deref(),
        Some("https://api.threatvision.org/api/v2/reports/tt5-flash-2025-11-20-apt-x.stix")
    );
    let alias_only = mapping::bundle_ref(
        Kind::Report,
        &json!({"alias": "tt5-a", "title": "T"}),
        "https://private.teamt5.local",
    )
    .unwrap();
    assert_eq!(
        alias_only.stix_url.as_deref(),
        Some("https://private.teamt5.local/api/v2/reports/tt5-a.stix")
    );
    let info = alias_only.report.unwrap();
    assert_eq!(
        info.pdf_url,
        "https://threatvision.org/reports/detail?alias=tt5-a"
    );
    assert_eq!(info.digest, "");
    assert_eq!(info.type_name, None);
    let nothing = mapping::bundle_ref(Kind::Report, &json!({"title": "T"}), BASE).unwrap();
    assert_eq!(nothing.stix_url, None);
    assert_eq!(nothing.report.unwrap().pdf_url, "");
    assert!(mapping::bundle_ref(Kind::Report, &json!("x"), BASE).is_none());
}

#[test]
fn ioc_bundle_urls_are_used_verbatim() {
    let item = json!({"id": "8f2a", "created_at": 1_763_629_200, "stix_url": "https://cdn.example/8f2a.stix", "txt_url": null});
    let reference = mapping::bundle_ref(Kind::IocBundle, &item, BASE).unwrap();
    assert_eq!(
        reference.stix_url.as_deref(),
        Some("https://cdn.example/8f2a.stix")
    );
    assert_eq!(reference.key, "8f2a");
    assert!(reference.report.is_none());
    let no_url = mapping::bundle_ref(
        Kind::IocBundle,
        &json!({"id": "x", "stix_url": null, "created_at": null}),
        BASE,
    )
    .unwrap();
    assert_eq!(no_url.stix_url, None);
    assert_eq!(no_url.created_at, None);
}

#[test]
fn objects_get_the_author_and_the_tlp_as_in_python() {
    let reference = mapping::bundle_ref(Kind::Report, &spec_report_item(), BASE).unwrap();
    let out = publication_objects(&reference, objects("report-bundle.json"), &stamp(), now())
        .unwrap()
        .objects;
    let by_type = |object_type: &str| out.iter().find(|o| o["type"] == object_type).unwrap();
    // SDO: the upstream author is replaced.
    assert_eq!(by_type("intrusion-set")["created_by_ref"], DEFAULT_AUTHOR);
    assert_eq!(
        by_type("intrusion-set")["object_marking_refs"],
        json!([CLEAR])
    );
    // Existing markings kept, TLP appended.
    assert_eq!(
        by_type("indicator")["object_marking_refs"],
        json!([
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            CLEAR
        ])
    );
    // SCO: x_opencti_created_by_ref, no created_by_ref.
    let domain = by_type("domain-name");
    assert_eq!(domain["x_opencti_created_by_ref"], DEFAULT_AUTHOR);
    assert!(domain.get("created_by_ref").is_none());
    // SRO is an "other" type.
    assert_eq!(by_type("relationship")["created_by_ref"], DEFAULT_AUTHOR);
    // Upstream marking untouched.
    let green = out
        .iter()
        .find(|o| o["id"] == "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da")
        .unwrap();
    assert!(green.get("created_by_ref").is_none() && green.get("object_marking_refs").is_none());
    // Order: upstream objects, Report, author, TLP.
    let types: Vec<&str> = out.iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "intrusion-set",
            "indicator",
            "domain-name",
            "relationship",
            "marking-definition",
            "report",
            "identity",
            "marking-definition"
        ]
    );
    assert_eq!(out[7]["id"], CLEAR);
}

#[test]
fn the_report_matches_the_pycti_vector() {
    let reference = mapping::bundle_ref(Kind::Report, &spec_report_item(), BASE).unwrap();
    let upstream = objects("report-bundle.json");
    let out = publication_objects(&reference, upstream.clone(), &stamp(), now())
        .unwrap()
        .objects;
    let report = out.iter().find(|o| o["type"] == "report").unwrap();
    let expected_refs: Vec<Value> = upstream.iter().map(|o| o["id"].clone()).collect();
    assert_eq!(
        *report,
        json!({
            "type": "report",
            "spec_version": "2.1",
            "id": "report--b9b45212-7370-52dc-8e2c-696fb32896b6",
            "created_by_ref": DEFAULT_AUTHOR,
            "created": "2026-05-22T11:00:00.000Z",
            "modified": "2026-05-22T11:00:00.000Z",
            "name": "Flash Report: APT-X targets telecoms in Taiwan",
            "description": "Short summary of the report ...",
            "report_types": ["Flash Report"],
            "published": "2025-11-20T08:00:00Z",
            "object_refs": expected_refs,
            "external_references": [{
                "source_name": "Team T5",
                "url": "https://threatvision.org/reports/detail?alias=tt5-flash-2025-11-20-apt-x",
                "description": "PDF report from Team T5"
            }],
            "object_marking_refs": [CLEAR]
        })
    );
}

#[test]
fn report_types_and_external_references_follow_the_listing() {
    let info = |type_name: Option<&str>, pdf_url: &str| ReportInfo {
        title: Some("T".to_owned()),
        digest: String::new(),
        type_name: type_name.map(str::to_owned),
        pdf_url: pdf_url.to_owned(),
    };
    let upstream = objects("ioc-bundle.json");
    let threat = mapping::report_object(
        &info(Some("threat-report"), ""),
        Some(0),
        &upstream,
        &stamp(),
        now(),
    )
    .unwrap();
    assert_eq!(threat["report_types"], json!(["threat-report"]));
    assert!(threat.get("external_references").is_none());
    let untyped =
        mapping::report_object(&info(None, ""), Some(0), &upstream, &stamp(), now()).unwrap();
    assert_eq!(untyped["report_types"], json!(["report"]));
}

#[test]
fn ioc_bundles_get_no_report_and_the_tlp_is_not_duplicated() {
    let reference = BundleRef {
        kind: Kind::IocBundle,
        key: "x".to_owned(),
        created_at: None,
        stix_url: Some("u".to_owned()),
        report: None,
    };
    let mut upstream = objects("ioc-bundle.json");
    upstream[0]["object_marking_refs"] = json!([CLEAR]);
    let out = publication_objects(&reference, upstream, &stamp(), now())
        .unwrap()
        .objects;
    assert!(out.iter().all(|o| o["type"] != "report"));
    assert_eq!(out[0]["object_marking_refs"], json!([CLEAR]));
    assert_eq!(out.len(), 5);
}

#[test]
fn unusable_bundles_are_named() {
    let reference = mapping::bundle_ref(Kind::Report, &spec_report_item(), BASE).unwrap();
    assert_eq!(
        publication_objects(&reference, Vec::new(), &stamp(), now()),
        Err(MappingError::NoObjects)
    );
    // Nothing usable: the first problem is the error.
    let error = publication_objects(
        &reference,
        vec![json!({"id": "x"}), json!(3)],
        &stamp(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "objects[0]: `type` is missing or not a string"
    );
    // Unusable elements are left out, named; the rest goes on.
    let mut upstream = objects("ioc-bundle.json");
    upstream.insert(1, json!("junk"));
    upstream[2]["object_marking_refs"] = json!("TLP:RED");
    let publication = publication_objects(&reference, upstream, &stamp(), now()).unwrap();
    let dropped: Vec<String> = publication
        .dropped
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        dropped,
        [
            "objects[1]: not a JSON object",
            "objects[2]: `object_marking_refs` is not an array"
        ]
    );
    let kept: Vec<&str> = publication
        .objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        [
            "indicator",
            "malware",
            "report",
            "identity",
            "marking-definition"
        ]
    );
    let report = &publication.objects[2];
    assert_eq!(report["object_refs"].as_array().unwrap().len(), 2);
    let mut undated = reference;
    undated.created_at = None;
    let error =
        publication_objects(&undated, objects("ioc-bundle.json"), &stamp(), now()).unwrap_err();
    assert!(
        matches!(error, MappingError::InvalidReport { field: "date", .. }),
        "{error}"
    );
}

#[test]
fn bundles_look_like_pyctis() {
    let bundle = mapping::bundle(vec![json!({"type": "x"})]);
    assert_eq!(bundle["type"], "bundle");
    assert!(bundle["id"].as_str().unwrap().starts_with("bundle--"));
    assert_eq!(bundle["objects"], json!([{"type": "x"}]));
}

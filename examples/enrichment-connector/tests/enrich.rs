//! `enrich` alone, with a recording context: what it sends for each kind
//! of observable, in a job and in a playbook step.

use opencti_connector::Connector;
use opencti_connector::config::Settings;
use opencti_connector::listen::{Enricher, EnrichmentRequest, Job, JobContext};
use opencti_enrichment_connector::{EnrichError, EnricherConfig, ObservableEnricher, VARS};
use serde_json::{Value, json};

fn enricher(pairs: &[(&str, &str)]) -> ObservableEnricher {
    let settings = Settings::from_env_pairs(&[VARS], pairs.iter().copied());
    ObservableEnricher::from_config(EnricherConfig::try_from(&settings).unwrap()).unwrap()
}

fn observable(stix_type: &str, value: &str) -> Value {
    json!({"type": stix_type, "spec_version": "2.1",
           "id": format!("{stix_type}--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes())),
           "value": value, "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]})
}

/// A job as the platform sends it for `entity` (of platform type `entity_type`).
fn job(entity: &Value, entity_type: &str) -> EnrichmentRequest {
    let message = json!({
        "internal": {"work_id": "work-1", "applicant_id": null, "mode": "manual"},
        "event": {"event_type": "INTERNAL_ENRICHMENT", "entity_id": entity["id"],
                  "entity_type": entity_type, "stix_entity": entity.to_string(), "stix_objects": null},
    });
    EnrichmentRequest::from_job(&Job::from_value(message).unwrap()).unwrap()
}

/// A playbook step on `entity`, in a bundle with `others`.
fn playbook_step(entity: &Value, others: &[Value]) -> EnrichmentRequest {
    let mut objects = vec![entity.clone()];
    objects.extend(others.iter().cloned());
    let message = json!({
        "internal": {"work_id": null, "applicant_id": "c49fe040-2dad-412d-af07-ce639204ad55", "mode": "auto",
                     "playbook": {"event_id": "e", "execution_id": "x", "playbook_id": "p",
                                  "data_instance_id": entity["id"], "step_id": "s", "previous_step_id": "r"}},
        "event": {"entity_id": entity["id"], "bundle": {"type": "bundle", "id": "bundle--1", "objects": objects}},
    });
    EnrichmentRequest::from_job(&Job::from_value(message).unwrap()).unwrap()
}

fn objects(bundle: &Value) -> &Vec<Value> {
    bundle["objects"].as_array().unwrap()
}

#[tokio::test]
async fn a_private_address_is_labelled_and_sent_back() {
    let address = observable("ipv4-addr", "10.1.2.3");
    let (ctx, probe) = JobContext::for_test();
    let summary = enricher(&[])
        .enrich(job(&address, "IPv4-Addr"), &ctx)
        .await
        .unwrap();
    assert_eq!(
        summary,
        "Enriched 10.1.2.3: labelled ip-private, 0 related observable(s)"
    );
    let bundles = probe.bundles();
    assert_eq!(bundles.len(), 1);
    let sent = objects(&bundles[0]);
    let entity = sent.iter().find(|o| o["id"] == address["id"]).unwrap();
    assert_eq!(entity["labels"], json!(["ip-private"]));
    assert!(sent.iter().any(|o| o["type"] == "identity"), "the author");
}

#[tokio::test]
async fn a_public_address_gets_a_label_only_when_asked() {
    let address = observable("ipv4-addr", "8.8.8.8");
    let (ctx, probe) = JobContext::for_test();
    let summary = enricher(&[])
        .enrich(job(&address, "IPv4-Addr"), &ctx)
        .await
        .unwrap();
    assert_eq!(summary, "Nothing to add to 8.8.8.8");
    assert!(probe.bundles().is_empty(), "nothing sent for nothing found");

    let (ctx, probe) = JobContext::for_test();
    let settings = [
        ("OBSERVABLE_ENRICHER_LABEL_PUBLIC", "true"),
        ("OBSERVABLE_ENRICHER_LABEL_PREFIX", "Range:"),
    ];
    enricher(&settings)
        .enrich(job(&address, "IPv4-Addr"), &ctx)
        .await
        .unwrap();
    let bundles = probe.bundles();
    let entity = objects(&bundles[0])
        .iter()
        .find(|o| o["id"] == address["id"])
        .unwrap();
    assert_eq!(entity["labels"], json!(["range:global"]));
}

#[tokio::test]
async fn a_defanged_url_brings_its_refanged_form_and_host() {
    let url = observable("url", "hxxps://evil[.]example/login");
    let (ctx, probe) = JobContext::for_test();
    let summary = enricher(&[]).enrich(job(&url, "Url"), &ctx).await.unwrap();
    assert_eq!(
        summary,
        "Enriched hxxps://evil[.]example/login: 2 related observable(s)"
    );
    let bundles = probe.bundles();
    let sent = objects(&bundles[0]);
    let values: Vec<(&str, &str)> = sent
        .iter()
        .filter(|o| o["id"] != url["id"] && o["value"].is_string())
        .map(|o| (o["type"].as_str().unwrap(), o["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        values,
        [
            ("url", "https://evil.example/login"),
            ("domain-name", "evil.example")
        ]
    );
    let relationships: Vec<&Value> = sent
        .iter()
        .filter(|o| o["type"] == "relationship")
        .collect();
    assert_eq!(relationships.len(), 2);
    assert!(
        relationships.iter().all(|r| r["source_ref"] == url["id"]
            && r["object_marking_refs"] == url["object_marking_refs"])
    );
}

#[tokio::test]
async fn an_invalid_value_fails_the_job_naming_it() {
    let address = observable("ipv4-addr", "192.0.2.300");
    let (ctx, probe) = JobContext::for_test();
    let error = enricher(&[])
        .enrich(job(&address, "IPv4-Addr"), &ctx)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`192.0.2.300` is not a valid IPv4-Addr value"
    );
    assert!(probe.bundles().is_empty());
}

#[tokio::test]
async fn an_unsupported_type_fails_a_job_and_passes_a_playbook_bundle_on() {
    let malware = json!({"type": "malware", "spec_version": "2.1",
        "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061", "name": "Emotet", "is_family": true});
    let (ctx, probe) = JobContext::for_test();
    let error = enricher(&[])
        .enrich(job(&malware, "Malware"), &ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(error, EnrichError::Unsupported { ref entity_type } if entity_type == "Malware")
    );
    assert!(
        error.to_string().starts_with("cannot enrich a Malware"),
        "{error}"
    );
    assert!(probe.bundles().is_empty());

    let other = observable("ipv4-addr", "10.0.0.1");
    let (ctx, probe) = JobContext::for_test();
    let summary = enricher(&[])
        .enrich(playbook_step(&malware, std::slice::from_ref(&other)), &ctx)
        .await
        .unwrap();
    assert_eq!(
        summary,
        "malware is not enriched; bundle passed on unchanged"
    );
    let bundles = probe.bundles();
    assert_eq!(bundles.len(), 1);
    assert_eq!(objects(&bundles[0]), &vec![malware, other], "unchanged");
}

#[tokio::test]
async fn a_playbook_step_answers_its_whole_bundle_with_the_entity_labelled_in_place() {
    let address = observable("ipv6-addr", "FE80:0:0:0:0:0:0:1");
    let neighbour = observable("domain-name", "example.com");
    let (ctx, probe) = JobContext::for_test();
    enricher(&[])
        .enrich(
            playbook_step(&address, std::slice::from_ref(&neighbour)),
            &ctx,
        )
        .await
        .unwrap();
    let bundles = probe.bundles();
    let sent = objects(&bundles[0]);
    assert_eq!(sent[0]["id"], address["id"], "the entity stays first");
    assert_eq!(sent[0]["labels"], json!(["ip-link-local"]));
    assert_eq!(sent[1], neighbour, "the playbook's other objects go on");
    assert!(
        sent.iter()
            .any(|o| o["type"] == "ipv6-addr" && o["value"] == "fe80::1")
    );

    // Nothing found: the step still answers, with its bundle unchanged.
    let (ctx, probe) = JobContext::for_test();
    let summary = enricher(&[])
        .enrich(playbook_step(&neighbour, &[]), &ctx)
        .await
        .unwrap();
    assert_eq!(summary, "Nothing to add to example.com");
    assert_eq!(objects(&probe.bundles()[0]), &vec![neighbour]);
}

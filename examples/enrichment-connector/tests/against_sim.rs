//! Jobs end to end: the connector in the runtime's listen loop, against
//! `opencti-testkit`'s platform and the local RabbitMQ: enrichments asked
//! as the UI asks them, a playbook step, the TLP check, an entity of
//! another type.

use opencti_connector::Connector;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings, Var};
use opencti_connector::listen::{ENRICHMENT_VARS, Enrichment, ListenRunner, max_tlp};
use opencti_enrichment_connector::{EnricherConfig, ObservableEnricher, VARS};
use opencti_stix::marking::{TLP_GREEN, TLP_RED};
use opencti_testkit::{EventInjection, EventKind, TestPlatform, WorkRecord, WorkStatus};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
// The runtime re-exports the token type its runners take.
use opencti_connector::http::CancellationToken;

/// The connector running in the listen loop, as its binary runs it.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), opencti_connector::Error>>,
}

impl Running {
    /// Configures the connector from the platform's environment and
    /// `extra`, as an operator would, and starts it; returns once it
    /// registered.
    async fn start(platform: &TestPlatform, extra: &[(&str, &str)]) -> Self {
        let tables: Vec<&[Var]> = RUNTIME_TABLES
            .iter()
            .copied()
            .chain([ENRICHMENT_VARS, VARS])
            .collect();
        let mut pairs = platform.env();
        pairs.extend(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        let settings = Settings::from_env_pairs(&tables, pairs);
        let runtime = RuntimeConfig::try_from(&settings).unwrap();
        let connector =
            ObservableEnricher::from_config(EnricherConfig::try_from(&settings).unwrap()).unwrap();
        let listener = Enrichment::new(connector, max_tlp(&settings).unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(
            ListenRunner::new(listener, runtime)
                .with_identity(ObservableEnricher::VERSION, None)
                .run(shutdown.clone()),
        );
        let id = platform.connector_id().to_owned();
        platform
            .wait_until("the connector to register", |p| {
                p.sim().connector(&id).is_some()
            })
            .await
            .unwrap();
        Self { shutdown, task }
    }

    async fn stop(self, platform: &TestPlatform) {
        self.shutdown.cancel();
        tokio::time::timeout(platform.timeout(), self.task)
            .await
            .expect("the connector stops")
            .unwrap()
            .expect("a clean stop");
    }
}

fn observable(stix_type: &str, value: &str, marking: Option<&str>) -> Value {
    let mut object = json!({"type": stix_type, "spec_version": "2.1",
        "id": format!("{stix_type}--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes())),
        "value": value});
    if let Some(marking) = marking {
        object["object_marking_refs"] = json!([marking]);
    }
    object
}

/// Stores `objects` on the platform, as if they had been imported.
fn store(platform: &TestPlatform, objects: &[&Value]) {
    platform
        .inject(
            objects
                .iter()
                .map(|object| EventInjection::new(EventKind::Create, (*object).clone())),
        )
        .unwrap();
}

/// Asks the connector to enrich `entity` (the UI's button) and waits for
/// the work to be closed.
async fn enrich(platform: &TestPlatform, entity: &Value) -> WorkRecord {
    let work = platform
        .sim()
        .ask_enrichment(entity["id"].as_str().unwrap(), platform.connector_id())
        .await
        .unwrap()
        .expect("a work for a registered connector");
    platform
        .sim()
        .wait_for_work_processed(&work.id, platform.timeout())
        .await
        .unwrap()
}

fn texts(messages: &[opencti_testkit::WorkMessage]) -> Vec<String> {
    messages.iter().filter_map(|m| m.message.clone()).collect()
}

fn stored_value(platform: &TestPlatform, stix_type: &str, value: &str) -> Option<Value> {
    platform
        .objects_of_type(stix_type)
        .into_iter()
        .find(|object| object.stix["value"] == value)
        .map(|object| object.stix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichments_store_labels_and_related_observables() {
    let platform = TestPlatform::start().await.unwrap();
    let running = Running::start(&platform, &[]).await;
    let green = TLP_GREEN.common.id.as_str();
    let address = observable("ipv4-addr", "10.20.30.40", Some(green));
    let url = observable("url", "hxxp://bad[.]example/payload", None);
    store(&platform, &[&address, &url]);

    let work = enrich(&platform, &address).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert_eq!(work.status, WorkStatus::Complete);
    assert!(
        texts(&work.messages).contains(
            &"Enriched 10.20.30.40: labelled ip-private, 0 related observable(s)".to_owned()
        ),
        "{:?}",
        work.messages
    );
    platform
        .wait_until("the label on the stored address", |p| {
            stored_value(p, "ipv4-addr", "10.20.30.40")
                .is_some_and(|stored| stored["labels"] == json!(["ip-private"]))
        })
        .await
        .unwrap();

    let work = enrich(&platform, &url).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    platform
        .wait_until("the refanged URL, its host and their relationships", |p| {
            stored_value(p, "url", "http://bad.example/payload").is_some()
                && stored_value(p, "domain-name", "bad.example").is_some()
                && p.objects_of_type("relationship")
                    .iter()
                    .filter(|r| r.stix["source_ref"] == url["id"])
                    .count()
                    == 2
        })
        .await
        .unwrap();
    assert_eq!(
        platform.objects_of_type("identity")[0].stix["name"],
        "Observable enricher",
        "the author"
    );
    running.stop(&platform).await;
    platform.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_above_the_max_tlp_is_refused_and_left_untouched() {
    let platform = TestPlatform::start().await.unwrap();
    let running = Running::start(&platform, &[("CONNECTOR_MAX_TLP", "TLP:AMBER")]).await;
    let secret = observable("ipv4-addr", "192.168.7.7", Some(TLP_RED.common.id.as_str()));
    let shared = observable(
        "ipv4-addr",
        "192.168.8.8",
        Some(TLP_GREEN.common.id.as_str()),
    );
    store(&platform, &[&secret, &shared]);

    let refused = enrich(&platform, &secret).await;
    let errors = texts(&refused.errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("TLP of the entity (TLP:RED)")
            && errors[0].contains("MAX TLP (TLP:AMBER)"),
        "{errors:?}"
    );
    let allowed = enrich(&platform, &shared).await;
    assert!(allowed.errors.is_empty(), "{:?}", allowed.errors);
    platform
        .wait_until("the allowed address labelled", |p| {
            stored_value(p, "ipv4-addr", "192.168.8.8").is_some_and(|s| s["labels"].is_array())
        })
        .await
        .unwrap();
    assert!(
        stored_value(&platform, "ipv4-addr", "192.168.7.7").unwrap()["labels"].is_null(),
        "nothing was sent for the refused one"
    );
    running.stop(&platform).await;
    platform.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_step_is_answered_through_the_playbook() {
    let platform = TestPlatform::start().await.unwrap();
    let running = Running::start(&platform, &[]).await;
    assert!(
        platform
            .sim()
            .connector(platform.connector_id())
            .unwrap()
            .playbook_compatible
    );
    let name = observable("domain-name", "xn--bcher-kva.example", None);
    store(&platform, &[&name]);
    let before = platform.objects().len();

    let run = platform
        .sim()
        .run_playbook_step(platform.connector_id(), name["id"].as_str().unwrap())
        .await
        .unwrap();
    platform
        .wait_until("the playbook's answer", |p| {
            p.sim().playbook_answer(&run).is_some()
        })
        .await
        .unwrap();
    let answer = platform.sim().playbook_answer(&run).unwrap();
    let bundle: Value = serde_json::from_str(answer.arguments["bundle"].as_str().unwrap()).unwrap();
    let values: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(values, ["xn--bcher-kva.example", "bücher.example"]);
    assert_eq!(
        platform.objects().len(),
        before,
        "nothing went through the push queue"
    );
    running.stop(&platform).await;
    platform.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_entity_fails_its_work_but_a_playbook_gets_its_bundle_back() {
    let platform = TestPlatform::start().await.unwrap();
    let running = Running::start(&platform, &[]).await;
    let malware = json!({"type": "malware", "spec_version": "2.1",
        "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061", "name": "Emotet", "is_family": true});
    store(&platform, &[&malware]);

    let work = enrich(&platform, &malware).await;
    assert_eq!(
        texts(&work.errors),
        [
            "cannot enrich a Malware: this connector enriches IPv4-Addr, IPv6-Addr, Domain-Name, Hostname and Url observables"
        ]
    );

    let run = platform
        .sim()
        .run_playbook_step(platform.connector_id(), malware["id"].as_str().unwrap())
        .await
        .unwrap();
    platform
        .wait_until("the playbook's answer", |p| {
            p.sim().playbook_answer(&run).is_some()
        })
        .await
        .unwrap();
    let answer = platform.sim().playbook_answer(&run).unwrap();
    let bundle: Value = serde_json::from_str(answer.arguments["bundle"].as_str().unwrap()).unwrap();
    let ids: Vec<&Value> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, [&malware["id"]], "the bundle goes on unchanged");
    running.stop(&platform).await;
    platform.shutdown().await.unwrap();
}

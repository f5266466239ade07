//! The listen runner end to end: the real RabbitMQ, `opencti-sim` playing
//! the platform, test connectors of each internal kind.

use std::sync::Arc;
use std::time::Duration;

use opencti_connector::Connector;
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{NoConfig, RuntimeConfig, Settings, Var};
use opencti_connector::listen::{
    ENRICHMENT_VARS, Enricher, Enrichment, EnrichmentRequest, ExportRequest, FileExport,
    FileExporter, FileImport, FileImportRequest, FileImporter, JobContext, ListenRunner, Listener,
    max_tlp,
};
use opencti_connector::{SendError, tls};
use opencti_sim::{
    EventInjection, EventKind, ExportRequest as SimExport, ImportRequest, Sim, SimConfig,
    SimHandle, WorkRecord, WorkStatus,
};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::CuttableProxy;

pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(crate) enum TestError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("the vendor refused {0}")]
    Refused(String),
}

/// Adds an autonomous system to each address; refuses `192.0.2.66`,
/// panics on `192.0.2.99`; waits for `gate` (when set) before answering.
#[derive(Default)]
pub(crate) struct AsEnricher {
    pub(crate) gate: Option<Arc<Notify>>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl Connector for AsEnricher {
    type Config = NoConfig;
    type Error = TestError;
    const NAME: &'static str = "opencti-test-enricher";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "An enricher of the runtime's tests";

    fn from_config(_: NoConfig) -> Result<Self, TestError> {
        Ok(Self::default())
    }
}

impl Enricher for AsEnricher {
    const PLAYBOOK_COMPATIBLE: bool = true;

    async fn enrich(
        &mut self,
        request: EnrichmentRequest,
        ctx: &JobContext,
    ) -> Result<String, TestError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let value = request.stix_entity["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match value.as_str() {
            "192.0.2.66" => return Err(TestError::Refused(value)),
            "192.0.2.99" => panic!("the enricher broke on {value}"),
            _ => {}
        }
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let system = json!({"type": "autonomous-system", "spec_version": "2.1",
            "id": "autonomous-system--5b2b8c4e-6a38-5a36-9b55-2f0e5d0e6e01", "number": 64500});
        let mut objects = request.stix_objects.clone();
        objects.push(system);
        ctx.send_bundle(json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": objects}))
            .await?;
        Ok(format!("Enriched {value}"))
    }
}

pub(crate) fn ipv4(value: &str, marking: Option<&str>) -> Value {
    let mut object = json!({
        "type": "ipv4-addr", "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, value.as_bytes())),
        "value": value,
    });
    if let Some(marking) = marking {
        object["object_marking_refs"] = json!([marking]);
    }
    object
}

pub(crate) fn runtime(
    sim: &SimHandle,
    connector_id: &str,
    extra: &[(&str, String)],
) -> (RuntimeConfig, Settings) {
    let tables: Vec<&[Var]> = RUNTIME_TABLES
        .iter()
        .copied()
        .chain([ENRICHMENT_VARS])
        .collect();
    let mut env = vec![
        ("OPENCTI_URL", sim.url()),
        ("OPENCTI_TOKEN", "listen-test".to_owned()),
        ("CONNECTOR_ID", connector_id.to_owned()),
        ("CONNECTOR_NAME", "listen test".to_owned()),
        (
            "CONNECTOR_SCOPE",
            "IPv4-Addr,application/json,text/plain".to_owned(),
        ),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT10S".to_owned()),
    ];
    env.extend(extra.iter().map(|(name, value)| (*name, value.clone())));
    let settings = Settings::from_env_pairs(&tables, env);
    (RuntimeConfig::try_from(&settings).unwrap(), settings)
}

pub(crate) struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), opencti_connector::Error>>,
}

impl Running {
    pub(crate) async fn start<L: Listener>(
        sim: &SimHandle,
        id: &str,
        listener: L,
        config: RuntimeConfig,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ListenRunner::new(listener, config).run(shutdown.clone()));
        sim.wait_until("the connector to register", TIMEOUT, |sim| {
            sim.connector(id).is_some()
        })
        .await
        .unwrap();
        Self { shutdown, task }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("the runner stops")
            .unwrap()
            .expect("a clean stop");
    }
}

fn texts(messages: &[opencti_sim::WorkMessage]) -> Vec<String> {
    messages.iter().filter_map(|m| m.message.clone()).collect()
}

pub(crate) async fn processed(sim: &SimHandle, work: &WorkRecord) -> WorkRecord {
    sim.wait_for_work_processed(&work.id, TIMEOUT)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichments_succeed_fail_panic_and_are_refused_above_the_max_tlp() {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let (config, settings) = runtime(&sim, &id, &[("CONNECTOR_MAX_TLP", "TLP:AMBER".to_owned())]);
    let max = max_tlp(&settings).unwrap();
    assert_eq!(max.as_deref(), Some("TLP:AMBER"));
    let calls = Arc::default();
    let enricher = AsEnricher {
        gate: None,
        calls: Arc::clone(&calls),
    };
    let running = Running::start(&sim, &id, Enrichment::new(enricher, max), config).await;

    let red = opencti_stix::marking::TLP_RED.common.id.as_str().to_owned();
    let good = ipv4("192.0.2.10", None);
    let refused_by_vendor = ipv4("192.0.2.66", None);
    let panicking = ipv4("192.0.2.99", None);
    let secret = ipv4("192.0.2.77", Some(&red));
    for object in [&good, &refused_by_vendor, &panicking, &secret] {
        sim.inject_event(EventInjection::new(EventKind::Create, object.clone()))
            .unwrap();
    }
    let ask = |object: &Value| {
        let id = id.clone();
        let entity = object["id"].as_str().unwrap().to_owned();
        let sim = &sim;
        async move {
            sim.ask_enrichment(&entity, &id)
                .await
                .unwrap()
                .expect("a work")
        }
    };

    let work = processed(&sim, &ask(&good).await).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(
        texts(&work.messages).contains(&"Enriched 192.0.2.10".to_owned()),
        "{:?}",
        work.messages
    );
    assert_eq!(work.status, WorkStatus::Complete);
    assert!(work.received_time.is_some());
    sim.wait_until("the autonomous system", TIMEOUT, |sim| {
        sim.objects()
            .iter()
            .any(|o| o.stix_type == "autonomous-system")
    })
    .await
    .unwrap();

    let failed = processed(&sim, &ask(&refused_by_vendor).await).await;
    assert_eq!(texts(&failed.errors), ["the vendor refused 192.0.2.66"]);

    let panicked = processed(&sim, &ask(&panicking).await).await;
    assert_eq!(
        texts(&panicked.errors),
        ["the connector panicked: the enricher broke on 192.0.2.99"]
    );

    let refused = processed(&sim, &ask(&secret).await).await;
    let errors = texts(&refused.errors);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("TLP:RED") && errors[0].contains("MAX TLP (TLP:AMBER)"),
        "{errors:?}"
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the TLP check comes first"
    );

    // Still listening after all that.
    let again = processed(&sim, &ask(&good).await).await;
    assert!(again.errors.is_empty());
    running.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_step_is_answered_through_the_playbook_and_a_draft_job_stays_in_its_draft() {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &[]);
    let running = Running::start(
        &sim,
        &id,
        Enrichment::new(AsEnricher::default(), None),
        config,
    )
    .await;
    let ip = ipv4("192.0.2.20", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    assert!(sim.connector(&id).unwrap().playbook_compatible);

    let run = sim
        .run_playbook_step(&id, ip["id"].as_str().unwrap())
        .await
        .unwrap();
    sim.wait_until("the playbook answer", TIMEOUT, |sim| {
        sim.playbook_answer(&run).is_some()
    })
    .await
    .unwrap();
    let answer = sim.playbook_answer(&run).unwrap();
    let bundle: Value = serde_json::from_str(answer.arguments["bundle"].as_str().unwrap()).unwrap();
    let types: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["type"].as_str())
        .collect();
    assert!(
        types.contains(&"autonomous-system") && types.contains(&"ipv4-addr"),
        "{types:?}"
    );
    assert!(
        !sim.objects()
            .iter()
            .any(|o| o.stix_type == "autonomous-system"),
        "nothing went through the push queue"
    );

    let draft = sim.add_draft("enrich in a draft", None);
    let work = sim
        .ask_enrichment_in_draft(ip["id"].as_str().unwrap(), &id, &draft.id)
        .await
        .unwrap()
        .unwrap();
    let work = processed(&sim, &work).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    sim.wait_until("the draft's objects", TIMEOUT, |sim| {
        sim.drafts().iter().any(|d| {
            d.id == draft.id && d.objects.values().any(|o| o["type"] == "autonomous-system")
        })
    })
    .await
    .unwrap();
    assert!(
        !sim.objects()
            .iter()
            .any(|o| o.stix_type == "autonomous-system"),
        "the live knowledge is untouched"
    );
    let reads: Vec<_> = sim
        .graphql_calls()
        .into_iter()
        .filter(|call| call.operation.as_deref() == Some("StixCoreObject"))
        .collect();
    assert!(
        reads
            .iter()
            .any(|call| call.draft_id.as_deref() == Some(draft.id.as_str())),
        "{reads:?}"
    );
    running.stop().await;
    sim.shutdown().await.unwrap();
}

/// Imports a JSON bundle file as it is.
struct BundleImporter;

impl Connector for BundleImporter {
    type Config = NoConfig;
    type Error = SendError;
    const NAME: &'static str = "opencti-test-importer";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "A file importer of the runtime's tests";

    fn from_config(_: NoConfig) -> Result<Self, SendError> {
        Ok(Self)
    }
}

impl FileImporter for BundleImporter {
    async fn import_file(
        &mut self,
        request: FileImportRequest,
        ctx: &JobContext,
    ) -> Result<String, SendError> {
        let content = ctx.download_file(&request.file_fetch).await?;
        let text = String::from_utf8_lossy(&content).into_owned();
        ctx.send_bundle(text).await?;
        Ok(format!("Imported {}", request.file_name()))
    }
}

/// Exports the entity id as a text file.
struct IdExporter;

impl Connector for IdExporter {
    type Config = NoConfig;
    type Error = SendError;
    const NAME: &'static str = "opencti-test-exporter";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "A file exporter of the runtime's tests";

    fn from_config(_: NoConfig) -> Result<Self, SendError> {
        Ok(Self)
    }
}

impl FileExporter for IdExporter {
    async fn export_file(
        &mut self,
        request: ExportRequest,
        ctx: &JobContext,
    ) -> Result<String, SendError> {
        let content = format!("{}\n", request.entity_id.as_deref().unwrap_or_default());
        ctx.upload_export(&request, content.as_bytes()).await?;
        Ok("Export done".to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_downloaded_and_imported_and_an_export_is_uploaded() {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let importer = uuid::Uuid::new_v4().to_string();
    let exporter = uuid::Uuid::new_v4().to_string();
    let (import_config, _) = runtime(&sim, &importer, &[]);
    let (export_config, _) = runtime(&sim, &exporter, &[]);
    let importing =
        Running::start(&sim, &importer, FileImport(BundleImporter), import_config).await;
    let exporting = Running::start(&sim, &exporter, FileExport(IdExporter), export_config).await;

    let ip = ipv4("192.0.2.30", None);
    let bundle = json!({"type": "bundle", "id": "bundle--6a1f5e1c-0000-4000-8000-000000000001", "objects": [ip]});
    let (file, _) = sim
        .upload_import(
            "addresses.json",
            "application/json",
            bundle.to_string().as_bytes(),
            vec![],
        )
        .await
        .unwrap();
    let works = sim
        .ask_job_import(&ImportRequest {
            file_id: file.id.clone(),
            connector_id: Some(importer.clone()),
            bypass_validation: true,
            ..ImportRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(works.len(), 1);
    let work = processed(&sim, &works[0]).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    assert!(texts(&work.messages).contains(&"Imported addresses.json".to_owned()));
    assert!(sim.object(ip["id"].as_str().unwrap()).is_some());

    let works = sim
        .ask_entity_export(&SimExport {
            entity_id: ip["id"].as_str().unwrap().to_owned(),
            format: "text/plain".to_owned(),
            export_type: "simple".to_owned(),
            ..SimExport::default()
        })
        .await
        .unwrap();
    assert_eq!(works.len(), 1, "{works:?}");
    let work = processed(&sim, &works[0]).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    let export = sim
        .uploaded_files()
        .into_iter()
        .find(|file| file.id.starts_with("export/"))
        .expect("the export file");
    assert!(
        export.content.starts_with("ipv4-addr--") || !export.content.is_empty(),
        "{export:?}"
    );
    importing.stop().await;
    exporting.stop().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_lost_mid_job_redelivers_the_message_and_the_work_is_closed_once() {
    tls::install_crypto_provider();
    // Durable queues, as the platform's: the test's transient ones would
    // go with the consumer's connection, and the message with them.
    let mut sim_config = SimConfig::for_tests();
    sim_config.broker_objects = opencti_sim::BrokerObjects::Durable;
    let sim = Sim::start(sim_config).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let proxy = CuttableProxy::start().await;
    let (config, _) = runtime(
        &sim,
        &id,
        &[
            ("MQ_HOST", "127.0.0.1".to_owned()),
            ("MQ_PORT", proxy.port.to_string()),
        ],
    );
    let gate = Arc::new(Notify::new());
    let calls = Arc::default();
    let enricher = AsEnricher {
        gate: Some(Arc::clone(&gate)),
        calls: Arc::clone(&calls),
    };
    let running = Running::start(&sim, &id, Enrichment::new(enricher, None), config).await;
    let ip = ipv4("192.0.2.40", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let work = sim
        .ask_enrichment(ip["id"].as_str().unwrap(), &id)
        .await
        .unwrap()
        .unwrap();
    sim.wait_until("the job to start", TIMEOUT, |sim| {
        sim.work(&work.id)
            .is_some_and(|w| w.received_time.is_some())
    })
    .await
    .unwrap();
    assert!(
        proxy.cut().await > 0,
        "the connector was connected through the proxy"
    );
    gate.notify_one();
    let work = processed(&sim, &work).await;
    // The redelivered message is acknowledged without running again.
    let redelivered = async {
        // Long enough for the consumer to come back and take the message.
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    redelivered.await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let work = sim.work(&work.id).unwrap();
    assert_eq!(
        texts(&work.messages)
            .iter()
            .filter(|m| m.starts_with("Enriched"))
            .count(),
        1,
        "{:?}",
        work.messages
    );
    running.stop().await;
    let queues = sim.queue_names(&id);
    delete_queues(&[&queues.listen, &queues.push]).await;
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_the_job_in_progress_finish() {
    tls::install_crypto_provider();
    let sim = Sim::start(SimConfig::for_tests()).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let (config, _) = runtime(&sim, &id, &[]);
    let gate = Arc::new(Notify::new());
    let enricher = AsEnricher {
        gate: Some(Arc::clone(&gate)),
        calls: Arc::default(),
    };
    let running = Running::start(&sim, &id, Enrichment::new(enricher, None), config).await;
    let ip = ipv4("192.0.2.50", None);
    sim.inject_event(EventInjection::new(EventKind::Create, ip.clone()))
        .unwrap();
    let work = sim
        .ask_enrichment(ip["id"].as_str().unwrap(), &id)
        .await
        .unwrap()
        .unwrap();
    sim.wait_until("the job to start", TIMEOUT, |sim| {
        sim.work(&work.id)
            .is_some_and(|w| w.received_time.is_some())
    })
    .await
    .unwrap();
    running.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.notify_one();
    tokio::time::timeout(TIMEOUT, running.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let work = processed(&sim, &work).await;
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    sim.shutdown().await.unwrap();
}

/// Deletes durable queues a test declared.
async fn delete_queues(queues: &[&str]) {
    let connection = lapin::Connection::connect(
        &format!(
            "amqp://guest:guest@127.0.0.1:{}/%2f",
            crate::broker::BROKER_PORT
        ),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in queues {
        channel
            .queue_delete(
                (*queue).into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
    }
    let _ = connection.close(200, "done".into()).await;
}

//! The built binary against `opencti-sim`: it enriches what it is sent,
//! and a SIGTERM stops it cleanly (exit 0 within
//! `CONNECTOR_STOP_GRACE_PERIOD`) both while idle and while a job waits on
//! a platform that stopped answering; that job's message goes back to the
//! queue and is done by the next start.

use std::time::Duration;

use opencti_connector::tls;
use opencti_sim::relay::Relay;
use opencti_sim::{BrokerObjects, EventInjection, EventKind, Sim, SimConfig, SimHandle};
use opencti_testkit::process::{ConnectorProcess, Signal};
use serde_json::{Value, json};

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// What a process start and a signal's delivery may add to a grace.
const SLACK: Duration = Duration::from_millis(750);
/// The grace the tests give the binary.
const GRACE: Duration = Duration::from_secs(4);

/// Starts the binary as a connector of the platform at `platform_url` and
/// waits until it consumes its listen queue.
async fn listening(platform_url: &str, connector_id: &str) -> ConnectorProcess {
    let connector = spawn(platform_url, connector_id);
    let listening = connector
        .wait_for_log("Listening on the connector's queue", TIMEOUT)
        .await;
    assert!(listening.is_ok(), "never listened:\n{}", connector.log());
    connector
}

fn spawn(platform_url: &str, connector_id: &str) -> ConnectorProcess {
    let env = [
        ("OPENCTI_URL", platform_url),
        ("OPENCTI_TOKEN", "enrichment-test"),
        ("CONNECTOR_ID", connector_id),
        ("CONNECTOR_LOG_LEVEL", "info"),
        ("CONNECTOR_STOP_GRACE_PERIOD", "PT4S"),
    ];
    let binary = env!("CARGO_BIN_EXE_opencti-enrichment-connector");
    ConnectorProcess::spawn(binary, env).unwrap()
}

/// SIGTERM, then the exit status, which must come within the grace.
async fn stop(connector: &mut ConnectorProcess) -> std::process::ExitStatus {
    match connector.stop(Signal::Term, GRACE + SLACK).await {
        Ok(stopped) => stopped.status,
        Err(error) => panic!("{error}:\n{}", connector.log()),
    }
}

async fn start_sim(broker_objects: BrokerObjects) -> SimHandle {
    tls::install_crypto_provider();
    let mut config = SimConfig::for_tests();
    config.broker_objects = broker_objects;
    Sim::start(config).await.unwrap()
}

/// Deletes the durable queues the simulator declared for `connector_id`.
async fn delete_queues(sim: &SimHandle, connector_id: &str) {
    let queues = sim.queue_names(connector_id);
    let connection = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in [&queues.listen, &queues.push] {
        channel
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
    }
    let _ = connection.close(200, "done".into()).await;
}

fn private_address(sim: &SimHandle, value: &str) -> Value {
    let object = json!({"type": "ipv4-addr", "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes())),
        "value": value});
    sim.inject_event(EventInjection::new(EventKind::Create, object.clone()))
        .unwrap();
    object
}

fn labelled(sim: &SimHandle, entity: &Value) -> bool {
    sim.object(entity["id"].as_str().unwrap())
        .is_some_and(|stored| stored.stix["labels"] == json!(["ip-private"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_enriches_then_stops_cleanly_when_idle() {
    let sim = start_sim(BrokerObjects::Transient).await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let address = private_address(&sim, "10.9.8.7");
    let mut connector = listening(&sim.url(), &connector_id).await;

    let work = sim
        .ask_enrichment(address["id"].as_str().unwrap(), &connector_id)
        .await
        .unwrap()
        .unwrap();
    let work = sim
        .wait_for_work_processed(&work.id, TIMEOUT)
        .await
        .unwrap();
    assert!(
        work.errors.is_empty(),
        "{:?}\n{}",
        work.errors,
        connector.log()
    );
    sim.wait_until("the stored label", TIMEOUT, |sim| labelled(sim, &address))
        .await
        .unwrap();

    let status = stop(&mut connector).await;
    assert!(status.success(), "{status:?}\n{}", connector.log());
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_flight_at_sigterm_goes_back_to_the_queue_and_the_exit_is_clean() {
    // Durable queues, as the platform's: the tests' transient ones would go
    // with the stopped connector's connection, and the message with them.
    let sim = start_sim(BrokerObjects::Durable).await;
    let connector_id = uuid::Uuid::new_v4().to_string();
    let address = private_address(&sim, "10.9.8.6");
    // The platform behind a relay, frozen once the connector is idle: the
    // job it is then given waits for the platform's answer.
    let relay = Relay::start(sim.addr().port()).await.unwrap();
    let mut connector =
        listening(&format!("http://127.0.0.1:{}", relay.port()), &connector_id).await;
    relay.freeze();
    let work = sim
        .ask_enrichment(address["id"].as_str().unwrap(), &connector_id)
        .await
        .unwrap()
        .unwrap();
    // The broker delivers within milliseconds; the job then hangs on the
    // frozen platform.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        sim.work(&work.id).unwrap().processed_time.is_none(),
        "the job is in flight"
    );

    let status = stop(&mut connector).await;
    assert!(status.success(), "{status:?}\n{}", connector.log());
    assert!(
        connector.log().contains("goes back to the queue"),
        "{}",
        connector.log()
    );
    assert!(
        sim.work(&work.id).unwrap().processed_time.is_none() && !labelled(&sim, &address),
        "nothing of the job was done"
    );

    // The next start gets the message again and does the job.
    drop(relay);
    let connector = spawn(&sim.url(), &connector_id);
    let work = sim.wait_for_work_processed(&work.id, TIMEOUT).await;
    let work = work.unwrap_or_else(|error| panic!("{error}\n{}", connector.log()));
    assert!(work.errors.is_empty(), "{:?}", work.errors);
    sim.wait_until("the stored label", TIMEOUT, |sim| labelled(sim, &address))
        .await
        .unwrap();
    drop(connector);
    delete_queues(&sim, &connector_id).await;
    sim.shutdown().await.unwrap();
}

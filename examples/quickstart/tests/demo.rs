//! The demo end to end (simulator, connector, RabbitMQ, worker), and its
//! advice when RabbitMQ is not there.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use opencti_quickstart::{DemoError, DemoOptions, run_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_feed_arrives_complete() {
    let summary = run_demo(&DemoOptions::default()).await.unwrap();
    assert!(summary.is_success(), "{summary}");
    for stix_type in ["report", "indicator", "identity"] {
        assert!(
            summary
                .objects_by_type
                .get(stix_type)
                .is_some_and(|count| *count > 0),
            "no {stix_type} in {summary}"
        );
    }
    let work = &summary.work;
    assert_eq!(work.status, "complete", "{summary}");
    assert!(
        work.expected > 0 && work.processed == work.expected,
        "{summary}"
    );
    assert!(work.errors.is_empty(), "{summary}");
    // The Python connector's state keys, so a migration keeps its place.
    let state = summary.state.as_ref().expect("a state");
    for key in ["last_run", "last_event", "last_event_timestamp"] {
        assert!(state.get(key).is_some(), "no {key} in {state}");
    }
    let printed = summary.to_string();
    assert!(printed.contains("status complete"), "{printed}");
    assert!(printed.contains("Time: "), "{printed}");
}

#[tokio::test]
async fn without_rabbitmq_the_demo_says_what_to_do() {
    // A port that was free a moment ago: nothing listens there.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .unwrap();
    let options = DemoOptions {
        broker: SocketAddr::from((Ipv4Addr::LOCALHOST, closed.port())),
        ..DemoOptions::default()
    };
    let error = run_demo(&options).await.unwrap_err();
    assert!(
        matches!(&error, DemoError::BrokerUnreachable { addr, .. } if *addr == options.broker),
        "{error:?}"
    );
    let hint = error.hint().unwrap();
    assert!(hint.contains("scripts/ensure-rabbitmq.sh"), "{hint}");
    assert!(hint.contains("rabbitmq-server"), "{hint}");
}

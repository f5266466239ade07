//! A broker that is gone for good, stops answering, or blocks publishers
//! fails a publish once it made no progress for the outage bound
//! (`MQ_OUTAGE_TIMEOUT`) instead of hanging the run; shutdown ends a
//! publish that waits for confirms at once. Each test has a private
//! RabbitMQ node, killed or stopped by its pid.

use std::time::Duration;

use opencti_connector::amqp::{AmqpError, BrokerLink, ConfirmPublisher, OutgoingMessage};
use opencti_connector::metrics::Metrics;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::broker::broker_params;
use crate::private_broker::{PrivateBroker, PrivateQueue, programs};

/// Bounds every wait of these tests: past it, the publish hung.
const HUNG: Duration = Duration::from_secs(40);
const OUTAGE: Duration = Duration::from_secs(3);

/// A private node, a queue on it and a publisher with `outage` as its bound.
struct Node {
    broker: PrivateBroker,
    queue: PrivateQueue,
    publisher: ConfirmPublisher,
    _dir: TempDir,
}

impl Node {
    async fn start(outage: Duration) -> Option<Self> {
        let programs = programs("the broker outage tests", &[])?;
        let dir = tempfile::tempdir().unwrap();
        let broker = PrivateBroker::start(&programs, dir.path(), None).await;
        let queue = broker.declare_queue().await;
        let mut params = broker_params(broker.amqp_port);
        params.outage_timeout = outage;
        let metrics = Metrics::default();
        let publisher = ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics);
        let node = Self {
            broker,
            queue,
            publisher,
            _dir: dir,
        };
        // Connected and confirming first.
        node.publish(&CancellationToken::new())
            .await
            .expect("the node confirms while it runs");
        Some(node)
    }

    async fn publish(&self, shutdown: &CancellationToken) -> Result<(), AmqpError> {
        let probe = [OutgoingMessage {
            body: b"{\"probe\": true}".to_vec(),
        }];
        tokio::time::timeout(
            HUNG,
            self.publisher
                .publish_all("", &self.queue.name, &probe, shutdown),
        )
        .await
        .expect("the publish ends instead of waiting forever")
    }
}

fn assert_unavailable(outcome: Result<(), AmqpError>, port: u16) {
    match outcome {
        Err(error @ AmqpError::Unavailable { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains(&format!("127.0.0.1:{port}")) && text.contains("MQ_OUTAGE_TIMEOUT"),
                "{text}"
            );
        }
        other => panic!("expected the broker to be reported unavailable: {other:?}"),
    }
}

#[tokio::test]
async fn a_broker_killed_for_good_fails_the_publish_after_the_outage_bound() {
    let Some(mut node) = Node::start(OUTAGE).await else {
        return;
    };
    node.broker.kill();
    let outcome = node.publish(&CancellationToken::new()).await;
    assert_unavailable(outcome, node.broker.amqp_port);
}

#[tokio::test]
async fn a_broker_that_stops_answering_fails_the_publish_after_the_outage_bound() {
    let Some(node) = Node::start(OUTAGE).await else {
        return;
    };
    // The node keeps its connections and sockets but answers nothing: the
    // message is written, its confirm never comes.
    node.broker.pause();
    let outcome = node.publish(&CancellationToken::new()).await;
    node.broker.resume();
    assert_unavailable(outcome, node.broker.amqp_port);
}

#[tokio::test]
async fn shutdown_ends_a_publish_waiting_for_confirms() {
    let Some(node) = Node::start(Duration::from_secs(600)).await else {
        return;
    };
    node.broker.pause();
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stopper.cancel();
    });
    let outcome = tokio::time::timeout(Duration::from_secs(10), node.publish(&shutdown))
        .await
        .expect("shutdown ends the wait for confirms");
    node.broker.resume();
    assert!(
        matches!(outcome, Err(AmqpError::Cancelled { unconfirmed: 1 })),
        "{outcome:?}"
    );
}

/// A node short of disk blocks publishers (`connection.blocked`): the
/// publish stops writing, and the error at the bound says why the broker
/// held it back.
#[tokio::test]
async fn a_broker_blocking_publishers_fails_the_publish_saying_why() {
    let Some(programs) = programs("the broker outage tests", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // More free disk than any machine has: the disk alarm is on from the start.
    let broker = PrivateBroker::start_configured(
        &programs,
        dir.path(),
        None,
        "disk_free_limit.absolute = 1000000GB\n",
    )
    .await;
    let queue = broker.declare_queue().await;
    let mut params = broker_params(broker.amqp_port);
    params.outage_timeout = OUTAGE;
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics);
    let probe = [OutgoingMessage {
        body: b"{\"probe\": true}".to_vec(),
    }];
    let outcome = tokio::time::timeout(
        HUNG,
        publisher.publish_all("", &queue.name, &probe, &CancellationToken::new()),
    )
    .await
    .expect("the publish ends instead of waiting forever");
    match outcome {
        Err(error @ AmqpError::Unavailable { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("1 messages published and not confirmed")
                    && text.contains("the broker blocking publishers (low on disk)"),
                "{text}"
            );
        }
        other => panic!("expected the blocked broker to be reported: {other:?}"),
    }
}

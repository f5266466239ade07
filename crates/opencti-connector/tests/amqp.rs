//! Confirmed publishing against the real RabbitMQ, including a connection
//! cut in the middle of a batch.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opencti_connector::amqp::{BrokerLink, ConfirmPublisher, OutgoingMessage};
use opencti_connector::metrics::Metrics;
use tokio_util::sync::CancellationToken;

use crate::broker::{BROKER_PORT, CuttableProxy, TestQueue, broker_params};

fn numbered(count: usize) -> Vec<OutgoingMessage> {
    (0..count).map(number).collect()
}

fn number(index: usize) -> OutgoingMessage {
    OutgoingMessage {
        body: format!("{{\"n\": {index}}}").into_bytes(),
    }
}

fn numbers(received: &[crate::broker::Received]) -> BTreeSet<usize> {
    received
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
            value["n"].as_u64().unwrap() as usize
        })
        .collect()
}

#[tokio::test]
async fn every_message_is_confirmed_persistent_and_utf8() {
    let queue = TestQueue::declare().await;
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(
        BrokerLink::new(broker_params(BROKER_PORT), metrics.clone()),
        metrics.clone(),
    );
    let messages = numbered(300);
    tokio::time::timeout(
        Duration::from_secs(30),
        publisher.publish_all(
            &queue.exchange,
            &queue.routing_key,
            &messages,
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("publishing finished in time")
    .unwrap();
    assert_eq!(metrics.counter("bundles_sent"), Some(300));
    let received = queue.consume(300, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 300);
    assert_eq!(numbers(&received), (0..300).collect());
    assert!(
        received
            .iter()
            .all(|message| message.delivery_mode == Some(2))
    );
    assert!(
        received
            .iter()
            .all(|message| message.content_encoding.as_deref() == Some("utf-8"))
    );
    publisher.link().close().await;
}

#[tokio::test]
async fn unroutable_messages_are_retried_until_shutdown() {
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(
        BrokerLink::new(broker_params(BROKER_PORT), metrics.clone()),
        metrics.clone(),
    );
    let shutdown = CancellationToken::new();
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        stopper.cancel();
    });
    // The default exchange with a routing key naming no queue: returned.
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        publisher.publish_all(
            "",
            &crate::broker::unique("nowhere"),
            &numbered(3),
            &shutdown,
        ),
    )
    .await
    .expect("cancellation is honoured");
    assert!(matches!(
        outcome,
        Err(opencti_connector::amqp::AmqpError::Cancelled { unconfirmed: 3 })
    ));
    assert!(metrics.counter("publish_retries").unwrap() >= 3);
    publisher.link().close().await;
}

/// A broker that refuses a publish and then stops answering: the error at
/// the outage bound still names the refusal, not only the messages that
/// were waiting when the bound ran out (a nack drill's run once failed
/// with "2 messages published and not confirmed" alone).
#[tokio::test]
async fn the_outage_error_names_the_refusal_before_the_silence() {
    let relay = opencti_sim::relay::Relay::start(BROKER_PORT).await.unwrap();
    let mut params = broker_params(relay.port());
    params.outage_timeout = Duration::from_secs(2);
    let metrics = Metrics::default();
    let publisher =
        ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics.clone());
    let shutdown = CancellationToken::new();
    let publishing = {
        let publisher = publisher.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            // The default exchange with a routing key naming no queue: returned.
            publisher
                .publish_all(
                    "",
                    &crate::broker::unique("nowhere"),
                    &numbered(3),
                    &shutdown,
                )
                .await
        })
    };
    // Frozen once the first attempt was refused, before the next one.
    for _ in 0..400 {
        if metrics.counter("publish_retries").unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.freeze();
    let outcome = tokio::time::timeout(Duration::from_secs(20), publishing)
        .await
        .expect("the outage bound ends the publish")
        .unwrap();
    match outcome {
        Err(opencti_connector::amqp::AmqpError::Unavailable { reason, .. }) => assert!(
            reason.contains("returned as unroutable") && reason.contains("not confirmed"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A refused login is retried (the password may be rotated back) and, at
/// the outage bound, reported with the broker's own words; the password
/// appears nowhere in the error.
#[tokio::test]
async fn a_refused_login_is_reported_with_the_brokers_reason() {
    let mut params = broker_params(BROKER_PORT);
    params.pass = opencti_connector::config::Secret::new("not-the-password-4f1c");
    params.outage_timeout = Duration::from_secs(2);
    let metrics = Metrics::default();
    let publisher =
        ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics.clone());
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        publisher.publish_all(
            "",
            &crate::broker::unique("nowhere"),
            &numbered(1),
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the outage bound ends the publish");
    match outcome {
        Err(error @ opencti_connector::amqp::AmqpError::Unavailable { .. }) => {
            let text = error.to_string();
            assert!(text.contains("ACCESS_REFUSED"), "{text}");
            assert!(!text.contains("not-the-password-4f1c"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_connection_cut_mid_batch_loses_no_message() {
    cut_mid_batch(Bodies::Kept).await;
}

/// The same cut for messages given as a slice, copied from it again when
/// they must go again.
#[tokio::test]
async fn a_connection_cut_mid_batch_loses_no_message_of_a_slice() {
    cut_mid_batch(Bodies::Slice).await;
}

/// The same cut when the publisher keeps no bodies: the messages that must
/// go again are written again, and none is lost.
#[tokio::test]
async fn a_connection_cut_mid_batch_loses_no_message_written_again() {
    let rewritten = Arc::new(AtomicUsize::new(0));
    let retried = cut_mid_batch(Bodies::WrittenAgain(Arc::clone(&rewritten))).await;
    let rewritten = rewritten.load(Ordering::Relaxed);
    assert!(
        rewritten > 0,
        "the messages sent again were kept, not written again"
    );
    assert!(
        rewritten <= retried as usize,
        "only messages sent again are written again: {rewritten} written, {retried} retried"
    );
}

/// How the messages that must go again are had.
enum Bodies {
    /// Kept by the publisher (`publish`).
    Kept,
    /// Copied again from the caller's slice (`publish_all`).
    Slice,
    /// Written again (`publish_rewritable`), counted here.
    WrittenAgain(Arc<AtomicUsize>),
}

/// Publishes 20,000 messages through a proxy cut once part of them reached
/// the queue, then checks that none is lost; returns how many messages went
/// again.
async fn cut_mid_batch(bodies: Bodies) -> u64 {
    const COUNT: usize = 20_000;
    let queue = TestQueue::declare().await;
    let proxy = CuttableProxy::start().await;
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(
        BrokerLink::new(broker_params(proxy.port), metrics.clone()),
        metrics.clone(),
    );
    let shutdown = CancellationToken::new();
    let publishing = {
        let publisher = publisher.clone();
        let exchange = queue.exchange.clone();
        let routing_key = queue.routing_key.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let messages = (0..COUNT).map(number);
            match bodies {
                Bodies::Kept => {
                    publisher
                        .publish(&exchange, &routing_key, messages, &shutdown)
                        .await
                }
                Bodies::Slice => {
                    let messages: Vec<OutgoingMessage> = messages.collect();
                    publisher
                        .publish_all(&exchange, &routing_key, &messages, &shutdown)
                        .await
                        .map(|()| COUNT)
                }
                Bodies::WrittenAgain(rewritten) => {
                    let rewrite = |index| {
                        rewritten.fetch_add(1, Ordering::Relaxed);
                        number(index)
                    };
                    publisher
                        .publish_rewritable(&exchange, &routing_key, messages, rewrite, &shutdown)
                        .await
                }
            }
        })
    };
    // Cut once part of the batch reached the queue, while the rest is in flight.
    let mut cuts = 0;
    for _ in 0..2000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if queue.message_count().await >= 500 {
            cuts = proxy.cut().await;
            break;
        }
    }
    assert!(cuts > 0, "the publisher never connected through the proxy");
    let confirmed = tokio::time::timeout(Duration::from_secs(60), publishing)
        .await
        .expect("publishing recovered in time")
        .unwrap()
        .expect("every message confirmed after reconnecting");
    assert_eq!(confirmed, COUNT);
    // At least once: duplicates are allowed, losses are not.
    let received = queue.consume(usize::MAX, Duration::from_secs(3)).await;
    let seen = numbers(&received);
    let missing: Vec<usize> = (0..COUNT).filter(|n| !seen.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} messages lost, first {:?}",
        missing.len(),
        missing.first()
    );
    let retried = metrics.counter("publish_retries").unwrap();
    assert!(retried > 0, "the cut did not hit the batch");
    publisher.link().close().await;
    retried
}

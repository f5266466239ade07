//! Split + publish with every confirm awaited, for a 10,000-object bundle,
//! into the local RabbitMQ (127.0.0.1:5672). Reports objects per second.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use opencti_connector::amqp::{BrokerLink, BrokerParams, ConfirmPublisher, OutgoingMessage};
use opencti_connector::api::Generation;
use opencti_connector::config::Secret;
use opencti_connector::metrics::Metrics;
use opencti_connector::publish::{EnvelopeFields, SendOptions, encode_envelope};
use opencti_stix::split::{SplitOptions, split_bundle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const OBJECTS: usize = 10_000;

fn bundle() -> Value {
    let author = "identity--7b82b010-b1c0-4dae-981f-7756374a17df";
    let mut objects = vec![json!({
        "type": "identity", "spec_version": "2.1", "id": author, "name": "ACME", "identity_class": "organization"
    })];
    for index in 1..OBJECTS {
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{index:012}"),
            "name": format!("evil-{index}.example"),
            "pattern": format!("[domain-name:value = 'evil-{index}.example']"),
            "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "created_by_ref": author,
            "object_marking_refs": ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"],
            "labels": ["phishing"]
        }));
    }
    json!({ "type": "bundle", "id": "bundle--0d6a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "objects": objects })
}

fn publish(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (exchange, routing_key, queue, setup) = runtime.block_on(async {
        let connection = Connection::connect(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            ConnectionProperties::default(),
        )
        .await
        .expect("RabbitMQ must run on 127.0.0.1:5672");
        let channel = connection.create_channel().await.expect("channel");
        let suffix = uuid::Uuid::new_v4();
        let (exchange, queue, routing_key) = (
            format!("bench-exchange-{suffix}"),
            format!("bench-push-{suffix}"),
            format!("bench-routing-{suffix}"),
        );
        let auto_delete = ExchangeDeclareOptions {
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                auto_delete,
                FieldTable::default(),
            )
            .await
            .expect("exchange");
        let queue_options = QueueDeclareOptions {
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), queue_options, FieldTable::default())
            .await
            .expect("queue");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        (exchange, routing_key, queue, (connection, channel))
    });
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(
        BrokerLink::new(
            BrokerParams::plain("127.0.0.1", 5672, "/", "guest", Secret::new("guest")),
            metrics.clone(),
        ),
        metrics,
    );
    let shutdown = CancellationToken::new();
    let source = bundle();
    let options = SendOptions::default();
    let fields = EnvelopeFields {
        applicant_id: Some("user--applicant"),
        work_id: Some("work_bench"),
        generation: Generation::V7,
        options: &options,
    };

    let mut group = criterion.benchmark_group("publish");
    group.throughput(Throughput::Elements(OBJECTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    // The CPU part alone, to tell it from the broker round trips.
    group.bench_function("split_and_encode_10k_objects", |bench| {
        bench.iter(|| {
            let split =
                split_bundle(source.clone(), &SplitOptions::default()).expect("valid bundle");
            split
                .bundles
                .iter()
                .enumerate()
                .map(|(index, bundle)| encode_envelope(bundle, index + 1, &fields).len())
                .sum::<usize>()
        });
    });
    group.bench_function("split_and_publish_10k_objects_with_confirms", |bench| {
        bench.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let input = source.clone();
                total += runtime.block_on(async {
                    let started = Instant::now();
                    let split =
                        split_bundle(input, &SplitOptions::default()).expect("valid bundle");
                    let messages: Vec<OutgoingMessage> = split
                        .bundles
                        .iter()
                        .enumerate()
                        .map(|(index, bundle)| OutgoingMessage {
                            body: encode_envelope(bundle, index + 1, &fields),
                        })
                        .collect();
                    publisher
                        .publish_all(&exchange, &routing_key, &messages, &shutdown)
                        .await
                        .expect("every message confirmed");
                    let elapsed = started.elapsed();
                    setup
                        .1
                        .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
                        .await
                        .expect("purge");
                    elapsed
                });
            }
            total
        });
    });
    group.finish();
    runtime.block_on(publisher.link().close());
}

criterion_group!(benches, publish);
criterion_main!(benches);

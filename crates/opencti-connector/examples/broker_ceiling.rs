//! How many bundle messages the broker itself accepts per second: the
//! runtime's own publisher (`ConfirmPublisher`: persistent,
//! `content_encoding=utf-8`, mandatory, every confirm awaited) sends
//! `--messages` bodies of `--size` bytes to a durable queue through a
//! direct exchange, `--in-flight` batches of `--batch` at once, and does
//! nothing else: no reading, converting, splitting or encoding. A connector
//! that sends one message per object cannot go faster on the same broker;
//! `examples/misp-feed/measure.sh` prints this next to the connector's rate.
//!
//! ```text
//! cargo run --release -p opencti-connector --example broker_ceiling -- \
//!     --messages 285000 --size 1194
//! ```

use std::time::Instant;

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use opencti_connector::amqp::{BrokerLink, BrokerParams, ConfirmPublisher, OutgoingMessage};
use opencti_connector::config::Secret;
use opencti_connector::metrics::Metrics;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "Measures the broker's own rate for persistent, confirmed messages")]
struct Args {
    /// Broker host (user and password: guest).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(long, default_value_t = 5672)]
    port: u16,
    /// Messages to publish.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Body size in bytes (use the mean size of the connector's messages).
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Messages per batch (the MISP feed's measure: 285 objects per event).
    #[arg(long, default_value_t = 285)]
    batch: usize,
    /// Batches waiting for their confirms at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let url = format!("amqp://guest:guest@{}:{}/%2f", args.host, args.port);
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let suffix = uuid::Uuid::new_v4();
    let (exchange, queue) = (format!("ceiling-{suffix}"), format!("ceiling-{suffix}"));
    let durable_auto_delete = ExchangeDeclareOptions {
        durable: true,
        auto_delete: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            durable_auto_delete,
            FieldTable::default(),
        )
        .await?;
    let queue_options = QueueDeclareOptions {
        durable: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), queue_options, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let metrics = Metrics::default();
    let params = BrokerParams::plain(&args.host, args.port, "/", "guest", Secret::new("guest"));
    let publisher = ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics);
    let shutdown = CancellationToken::new();
    let batches = args.messages.div_ceil(args.batch.max(1));
    let started = Instant::now();
    futures::stream::iter(0..batches)
        .map(|index| {
            let count = args.batch.min(args.messages - index * args.batch);
            let messages = vec![
                OutgoingMessage {
                    body: vec![b'A'; args.size]
                };
                count
            ];
            let (publisher, exchange, queue, shutdown) = (&publisher, &exchange, &queue, &shutdown);
            async move {
                publisher
                    .publish_all(exchange, queue, &messages, shutdown)
                    .await
            }
        })
        .buffer_unordered(args.in_flight.max(1))
        .try_collect::<()>()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} persistent messages of {} bytes confirmed in {seconds:.2} s: {:.0} messages/s",
        args.messages,
        args.size,
        args.messages as f64 / seconds
    );
    publisher.link().close().await;
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}

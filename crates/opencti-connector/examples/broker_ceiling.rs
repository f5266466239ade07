//! How many bundle messages the broker itself accepts per second: a bare
//! publisher sends `--messages` bodies of `--size` bytes the way every
//! connector publishes (persistent, `content_encoding=utf-8`, mandatory, to
//! a durable queue through a direct exchange, one confirm channel, a window
//! of unconfirmed messages) and does nothing else. A connector that sends
//! one message per object cannot go faster than this on the same broker;
//! `examples/misp-feed/measure.sh` prints it next to the connector's rate.
//!
//! ```text
//! cargo run --release -p opencti-connector --example broker_ceiling -- \
//!     --messages 285000 --size 1195
//! ```

use std::time::Instant;

use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};

#[derive(Parser)]
#[command(about = "Measures the broker's own rate for persistent, confirmed messages")]
struct Args {
    /// AMQP URL of the broker.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// Messages to publish.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Body size in bytes (use the mean size of the connector's messages).
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Messages allowed to wait for their confirm at once.
    #[arg(long, default_value_t = 1200)]
    window: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let connection = Connection::connect(&args.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let suffix = uuid::Uuid::new_v4();
    let (exchange, queue) = (format!("ceiling-{suffix}"), format!("ceiling-{suffix}"));
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                auto_delete: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
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

    let body = vec![b'A'; args.size];
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_encoding("utf-8".into());
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut refused = 0_usize;
    for _ in 0..args.messages {
        let publish = channel.basic_publish(
            exchange.as_str().into(),
            queue.as_str().into(),
            options,
            &body,
            properties.clone(),
        );
        in_flight.push(async move { publish.await?.await });
        while in_flight.len() >= args.window.max(1) {
            refused += settle(in_flight.next().await)?;
        }
    }
    while let Some(confirmation) = in_flight.next().await {
        refused += settle(Some(confirmation))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} persistent messages of {} bytes confirmed in {seconds:.2} s: {:.0} messages/s",
        args.messages,
        args.size,
        args.messages as f64 / seconds
    );
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    if refused > 0 {
        return Err(format!("the broker refused {refused} messages").into());
    }
    Ok(())
}

/// 1 if the broker nacked or returned the message, 0 if it took it.
fn settle(confirmation: Option<lapin::Result<Confirmation>>) -> lapin::Result<usize> {
    match confirmation {
        Some(Ok(Confirmation::Ack(None))) | None => Ok(0),
        Some(Ok(_)) => Ok(1),
        Some(Err(error)) => Err(error),
    }
}

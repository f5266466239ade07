//! A broker that nacks publishes, for the import connectors' drills: a
//! private queue bound to the connector's push routing, with a length limit
//! and `x-overflow: reject-publish`. Once it is full the broker nacks every
//! publish to that routing (a publish routed to a full queue of this kind
//! is nacked, whatever the push queue did with it), as a broker over its
//! limits would.

use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::time::Duration;

use tokio::time::Instant;

use crate::{ImportRun, TestPlatform};

/// A private queue that makes the broker nack publishes to a connector's
/// push routing once it holds `limit` messages: the broker takes the run's
/// first `limit` messages, then nacks every one. Deleted by
/// [`NackingQueue::remove`], or with its connection (it is exclusive).
///
/// A nacked message still reaches the other queues bound to the routing
/// (the platform's push queue among them): the platform may store what the
/// broker refused to confirm.
pub struct NackingQueue {
    connection: Connection,
    channel: Channel,
    name: String,
    limit: u32,
}

impl std::fmt::Debug for NackingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NackingQueue")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl NackingQueue {
    /// Binds a queue taking `limit` messages to `platform`'s connector's
    /// push routing (RabbitMQ on `127.0.0.1:5672`, guest/guest).
    ///
    /// # Panics
    ///
    /// When the broker cannot be reached or refuses the queue.
    pub async fn bind(platform: &TestPlatform, limit: u32) -> Self {
        let names = platform.sim().queue_names(platform.connector_id());
        let connection = Connection::connect(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            ConnectionProperties::default(),
        )
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
        let channel = connection.create_channel().await.expect("a channel");
        // As the platform declares it at registration (the test platform's
        // broker objects are transient), so that either may come first.
        channel
            .exchange_declare(
                names.push_exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the push exchange");
        let name = format!("nacking-{}", uuid::Uuid::new_v4());
        let mut arguments = FieldTable::default();
        arguments.insert("x-max-length".into(), AMQPValue::LongUInt(limit));
        arguments.insert(
            "x-overflow".into(),
            AMQPValue::LongString(LongString::from("reject-publish")),
        );
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .expect("the private queue");
        channel
            .queue_bind(
                name.as_str().into(),
                names.push_exchange.as_str().into(),
                names.push_routing.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bound to the push routing");
        Self {
            connection,
            channel,
            name,
            limit,
        }
    }

    /// Makes the run `run` while the broker nacks, and checks that it
    /// fails within `prompt`, after the broker took exactly the queue's
    /// limit of messages, with its work closed with the refusal.
    ///
    /// # Panics
    ///
    /// When one of these checks fails.
    pub async fn refused_run(
        &self,
        prompt: Duration,
        run: impl Future<Output = ImportRun>,
    ) -> ImportRun {
        let started = Instant::now();
        let refused = run.await;
        let elapsed = started.elapsed();
        println!("run ended in {elapsed:?}: {:?}", refused.outcome);
        assert!(!refused.succeeded(), "the run fails: {refused:?}");
        assert!(elapsed < prompt, "the run ends promptly: {elapsed:?}");
        assert_eq!(
            self.held().await,
            self.limit,
            "the broker took the run's first messages, then refused"
        );
        assert_closed_with(&refused, "nacked", "the broker's refusal");
        refused
    }

    /// Messages the queue holds.
    ///
    /// # Panics
    ///
    /// When the queue is gone.
    pub async fn held(&self) -> u32 {
        self.channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the private queue exists")
            .message_count()
    }

    /// Deletes the queue: the broker confirms publishes again.
    ///
    /// # Panics
    ///
    /// When the broker refuses.
    pub async fn remove(self) {
        self.channel
            .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
            .await
            .expect("the private queue is deleted");
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Checks that the run's work is closed, with `error` (what the work's
/// errors name: `needle`) among its errors.
pub(crate) fn assert_closed_with(run: &ImportRun, needle: &str, error: &str) {
    let work = run.work.as_ref().expect("the run's work");
    assert!(
        work.processed_time.is_some()
            && work
                .errors
                .iter()
                .any(|message| format!("{message:?}").contains(needle)),
        "the work is closed with {error}: {work:?}"
    );
}

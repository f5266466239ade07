//! RabbitMQ. The only module that knows AMQP: a supervised connection
//! ([`BrokerLink`]), a pipelined confirm publisher ([`ConfirmPublisher`],
//! on a connection of our own: `publish_connection`, `wire`) and a
//! listen-queue consumer ([`QueueConsumer`], on lapin).

mod consumer;
mod error;
mod link;
mod params;
mod publish_connection;
mod publisher;
mod wire;

pub use consumer::{Delivery, QueueConsumer};
pub use error::AmqpError;
pub use link::BrokerLink;
pub use params::{BrokerParams, BrokerTls, DEFAULT_OUTAGE_TIMEOUT};
pub use publisher::{ConfirmPublisher, OutgoingMessage};

//! RabbitMQ. The only module that knows the AMQP client library (lapin):
//! a supervised connection ([`BrokerLink`]), a pipelined confirm
//! publisher ([`ConfirmPublisher`]) and a listen-queue consumer
//! ([`QueueConsumer`]).

mod consumer;
mod error;
mod link;
mod params;
mod publisher;

pub use consumer::{Delivery, QueueConsumer};
pub use error::AmqpError;
pub use link::BrokerLink;
pub use params::{BrokerParams, BrokerTls, DEFAULT_OUTAGE_TIMEOUT};
pub use publisher::{ConfirmPublisher, OutgoingMessage};

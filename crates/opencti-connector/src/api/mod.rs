//! The platform's GraphQL API. The only module that speaks GraphQL: every
//! document the runtime sends is a constant in [`documents`], sent through
//! [`ApiClient`].

mod client;
pub mod documents;
mod error;
mod types;

pub use client::{ApiClient, RetryPolicy};
pub use error::ApiError;
pub use types::{
    ApiTokenInfo, BrokerConnection, ConnectorInfo, Generation, PingReply, PlatformUser,
    PlatformVersion, QueueConfig, QueueDetails, RegisterInput, Registration, S3Connection,
    StreamCollection, WorkError,
};

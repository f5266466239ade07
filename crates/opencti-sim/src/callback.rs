//! Listen forwarding for connectors on the API listen protocol
//! (`CONNECTOR_LISTEN_PROTOCOL=API`), as the platform's worker does it
//! (`ListenHandler`): their listen queue is consumed and each message is
//! POSTed, as is, to the `listen_callback_uri` they registered.
//!
//! A 200 or 202 acknowledges the message. Any other answer, a connection
//! error or a timeout hands it back to the queue after a pause (the worker
//! waits 10 to 30 s; here `listen_callback_retry`), so the connector gets it
//! again.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use crate::core::Core;

/// The worker's request timeout.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a message goes back to the queue.
#[derive(Debug)]
enum Refused {
    Status(reqwest::StatusCode),
    Request(reqwest::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "the connector answered {status}"),
            Self::Request(error) => write!(f, "the call failed: {error}"),
        }
    }
}

/// The bearer token the platform presents: a connector JWT on 7.x (pycti
/// 7.x accepts nothing else), the configured API token on 6.x (pycti 6.8
/// compares the bearer with its own token).
fn bearer(core: &Core) -> String {
    match &core.config.token {
        Some(token) if !core.config.is_7x() => token.expose().to_owned(),
        _ => core.signer.issue(chrono::Utc::now().timestamp()),
    }
}

async fn deliver(
    core: &Core,
    client: &reqwest::Client,
    callback_uri: &str,
    body: &[u8],
) -> Result<(), Refused> {
    let response = client
        .post(callback_uri)
        .header(reqwest::header::USER_AGENT, "pycti/opencti-sim")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .bearer_auth(bearer(core))
        .body(body.to_vec())
        .send()
        .await
        .map_err(Refused::Request)?;
    match response.status() {
        reqwest::StatusCode::OK | reqwest::StatusCode::ACCEPTED => Ok(()),
        status => Err(Refused::Status(status)),
    }
}

/// Forwards `queue` to `callback_uri` until the simulator stops.
pub(crate) async fn run(
    core: Arc<Core>,
    connector_id: String,
    queue: String,
    callback_uri: String,
) {
    let client = match reqwest::Client::builder().timeout(CALLBACK_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(connector_id, %error, "listen forwarding cannot start");
            return;
        }
    };
    let mut consumer = match core.broker.consume(&queue, 1).await {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(connector_id, %error, "listen forwarding cannot consume");
            return;
        }
    };
    tracing::info!(connector_id, %callback_uri, "listen messages forwarded to the connector's callback");
    loop {
        let delivery = tokio::select! {
            () = core.cancel.cancelled() => break,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    tracing::error!(connector_id, %error, "listen forwarding consumer failed");
                    break;
                }
                None => break,
            },
        };
        let outcome = tokio::select! {
            () = core.cancel.cancelled() => break,
            outcome = deliver(&core, &client, &callback_uri, &delivery.data) => outcome,
        };
        let settled = match outcome {
            Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
            Err(refused) => {
                tracing::warn!(connector_id, %refused, "listen message handed back to the queue");
                tokio::select! {
                    () = core.cancel.cancelled() => {}
                    () = tokio::time::sleep(core.config.listen_callback_retry) => {}
                }
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                delivery.acker.nack(requeue).await
            }
        };
        if let Err(error) = settled {
            tracing::warn!(connector_id, %error, "cannot settle a listen message");
        }
    }
    tracing::debug!(connector_id, "listen forwarding stopped");
}

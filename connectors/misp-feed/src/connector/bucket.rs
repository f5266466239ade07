//! S3 mode: the bucket's objects in key order, one at a time; the state
//! keeps the Python connector's `last_file` (and `last_key`, used by the
//! non-destructive mode).

use chrono::{DateTime, Utc};
use opencti_connector::RunContext;
use opencti_connector::state::State;
use serde_json::{Value, json};

use super::{MispFeed, Outcome, RunError};
use crate::source::S3Source;

impl MispFeed {
    /// S3 mode; returns the run's summary.
    pub(super) async fn run_bucket(
        &self,
        ctx: &RunContext,
        s3: &S3Source,
        delete: bool,
    ) -> Result<String, RunError> {
        let now = Utc::now();
        let state = ctx.state().unwrap_or_default();
        // Non-destructive mode resumes after the last processed key.
        let start_after = if delete {
            None
        } else {
            state
                .get("last_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut last_file = state
            .get("last_file")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut continuation: Option<String> = None;
        let mut events = 0usize;
        loop {
            let page = s3
                .list_page(start_after.as_deref(), continuation.as_deref())
                .await
                .map_err(RunError::Listing)?;
            for object in &page.objects {
                if ctx.is_shutting_down() {
                    return Ok(bucket_summary(events, last_file.as_deref()));
                }
                // Folder markers are not events.
                if object.key.ends_with('/') {
                    continue;
                }
                let file_name = object
                    .key
                    .rsplit('/')
                    .next()
                    .unwrap_or(&object.key)
                    .to_owned();
                let outcome = match s3.get(&object.key).await {
                    Ok(bytes) => self.import(ctx, &object.key, bytes, now).await?,
                    Err(error) if error.is_file_specific() => {
                        ctx.report_error(format!("object skipped: {error}"), object.key.clone())
                            .await?;
                        Outcome::Skipped
                    }
                    Err(error) => {
                        return Err(RunError::Download {
                            key: object.key.clone(),
                            error,
                        });
                    }
                };
                match outcome {
                    Outcome::Sent => {
                        events += 1;
                        if delete && let Err(error) = s3.delete(&object.key).await {
                            // The bundle is out; the object will be sent again
                            // next run, which the platform absorbs (same ids).
                            tracing::error!("{error}");
                        }
                        last_file = Some(file_name);
                    }
                    // A poison object stays in a consumed bucket (as in
                    // Python) and is reported on each run; a kept bucket
                    // moves past it.
                    Outcome::Skipped if delete => continue,
                    Outcome::Skipped => {}
                }
                let mut next = State::new();
                next.insert("last_file".into(), json!(last_file));
                next.insert("last_key".into(), json!(object.key));
                ctx.set_state(next);
            }
            continuation = page.next;
            if continuation.is_none() {
                break;
            }
        }
        let summary = bucket_summary(events, last_file.as_deref());
        tracing::info!("{summary}");
        Ok(summary)
    }

    /// Parses, converts and sends one object's event.
    async fn import(
        &self,
        ctx: &RunContext,
        key: &str,
        bytes: bytes::Bytes,
        now: DateTime<Utc>,
    ) -> Result<Outcome, RunError> {
        let publishing = tokio::sync::Semaphore::new(1);
        if super::is_large(bytes.len()) {
            return self
                .import_in_pieces(ctx, key, bytes, now, super::Turn::alone(), &publishing)
                .await;
        }
        match self.convert_file(ctx, key, bytes, now).await? {
            Some(converted) => {
                super::send_converted(ctx, converted, super::Turn::alone(), &publishing).await?;
                Ok(Outcome::Sent)
            }
            None => Ok(Outcome::Skipped),
        }
    }
}

fn bucket_summary(events: usize, last_file: Option<&str>) -> String {
    format!(
        "Connector successfully run ({events} events have been processed), storing state (last_file={})",
        last_file.unwrap_or("None")
    )
}

//! The work of one run: created on first need, closed at the end.

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::OnceCell;

use crate::api::{ApiClient, ApiError, WorkError};

/// One run's work. The platform work is created lazily (a run that sends
/// nothing leaves no empty work behind) with the name
/// `<connector name> run @ <ISO time>`. Every call is a no-op when works
/// are disabled (`CONNECTOR_SEND_TO_QUEUE=false`, as in pycti).
#[derive(Debug)]
pub(crate) struct RunWork {
    api: ApiClient,
    connector_id: String,
    friendly_name: String,
    enabled: bool,
    id: OnceCell<String>,
}

impl RunWork {
    /// A work for a run started at `started`.
    pub(crate) fn new(
        api: ApiClient,
        connector_id: &str,
        connector_name: &str,
        started: DateTime<Utc>,
        enabled: bool,
    ) -> Self {
        Self {
            api,
            connector_id: connector_id.to_owned(),
            friendly_name: format!(
                "{connector_name} run @ {}",
                started.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            enabled,
            id: OnceCell::new(),
        }
    }

    /// The work id, creating the work if needed; `None` when disabled.
    pub(crate) async fn id(&self) -> Result<Option<&str>, ApiError> {
        if !self.enabled {
            return Ok(None);
        }
        let id = self
            .id
            .get_or_try_init(|| async {
                let id = self
                    .api
                    .work_add(&self.connector_id, &self.friendly_name)
                    .await?;
                tracing::info!(attributes.work_id = %id, "Work created");
                Ok::<_, ApiError>(id)
            })
            .await?;
        Ok(Some(id.as_str()))
    }

    /// The id if the work exists already.
    pub(crate) fn created(&self) -> Option<&str> {
        self.id.get().map(String::as_str)
    }

    /// Records an error on the work as one more (failed) element, so the
    /// work's counts stay consistent.
    pub(crate) async fn report_error(&self, error: &WorkError) -> Result<(), ApiError> {
        if let Some(id) = self.id().await? {
            self.api.add_expectations(id, 1).await?;
            self.api.report_expectation(id, Some(error)).await?;
        }
        Ok(())
    }

    /// Closes the work (`toProcessed`), creating it first when the run failed
    /// so the failure is visible in the platform.
    pub(crate) async fn finish(&self, message: &str, in_error: bool) -> Result<(), ApiError> {
        let id = if in_error {
            self.id().await?
        } else {
            self.created()
        };
        if let Some(id) = id {
            self.api.work_to_processed(id, message, in_error).await?;
        }
        Ok(())
    }
}

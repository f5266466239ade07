//! Sending a bundle for validation instead of importing it: a pending
//! workbench file (6.x default) or a draft (7.x default).

use std::borrow::Cow;

use super::{BundleSender, SendOptions};
use crate::api::Generation;
use crate::error::SendError;

/// Where a bundle sent for validation waits for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationMode {
    /// Uploaded as a pending file to review in the workbench; nothing is
    /// queued.
    Workbench,
    /// Imported into a new draft workspace.
    Draft,
}

impl ValidationMode {
    /// pycti's default for a platform generation.
    pub fn default_for(generation: Generation) -> Self {
        match generation {
            Generation::V6 => Self::Workbench,
            Generation::V7 => Self::Draft,
        }
    }
}

/// What validation made of a send.
pub(super) enum Validated<'o> {
    /// Uploaded to the workbench: nothing more to do.
    Uploaded,
    /// Import it with these options (a draft's id added when one was
    /// created); `mode` when it goes to a draft.
    Import {
        options: Cow<'o, SendOptions>,
        mode: Option<ValidationMode>,
    },
}

impl BundleSender {
    /// Whether a send with `options` goes for validation instead of import.
    pub(super) fn validates(&self, options: &SendOptions) -> bool {
        (self.inner.validate_before_import || options.force_validation)
            && !options.bypass_validation
    }

    /// With validation (`CONNECTOR_VALIDATE_BEFORE_IMPORT` or
    /// [`SendOptions::force_validation`]), the workbench mode uploads the
    /// bundle (`json`, asked for only then) as a pending file; the draft
    /// mode creates a draft, attaches it to the work, and gives the
    /// options that send the messages to it.
    pub(super) async fn validate<'o>(
        &self,
        json: impl FnOnce() -> Result<String, SendError>,
        work_id: Option<&str>,
        options: &'o SendOptions,
    ) -> Result<Validated<'o>, SendError> {
        let api = &self.inner.api;
        let file_name = options
            .file_name
            .clone()
            .or_else(|| work_id.map(|id| format!("{id}.json")));
        let (true, Some(file_name)) = (self.validates(options), file_name) else {
            return Ok(Validated::Import {
                options: Cow::Borrowed(options),
                mode: None,
            });
        };
        let mode = options
            .validation_mode
            .unwrap_or_else(|| ValidationMode::default_for(api.generation()));
        match mode {
            ValidationMode::Workbench => {
                let content = json()?;
                let file_id = api
                    .upload_pending(
                        &file_name,
                        content.as_bytes(),
                        options.entity_id.as_deref(),
                        &options.file_markings,
                    )
                    .await?;
                tracing::info!(attributes.file_id = %file_id, "Bundle uploaded for validation in the workbench");
                // On 7.x the work gets one expectation, reported at once, so
                // it completes.
                if let Some(work_id) = work_id
                    && api.generation() >= Generation::V7
                {
                    api.add_expectations(work_id, 1).await?;
                    api.report_expectation(work_id, None).await?;
                }
                Ok(Validated::Uploaded)
            }
            ValidationMode::Draft if options.draft_id.is_none() => {
                let draft_id = api
                    .draft_workspace_add(&file_name, options.entity_id.as_deref())
                    .await?;
                if let Some(work_id) = work_id {
                    api.add_draft_context(work_id, &draft_id).await?;
                }
                let mut options = Cow::Borrowed(options);
                options.to_mut().draft_id = Some(draft_id);
                Ok(Validated::Import {
                    options,
                    mode: Some(mode),
                })
            }
            // The messages already carry the draft they go to.
            ValidationMode::Draft => Ok(Validated::Import {
                options: Cow::Borrowed(options),
                mode: Some(mode),
            }),
        }
    }
}

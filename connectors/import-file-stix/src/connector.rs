//! The connector: downloads each file the platform hands it and sends the
//! STIX 2.1 bundle it holds, put in the entity's container when the file
//! was imported on one.

use opencti_connector::api::ApiError;
use opencti_connector::catalog::{Listing, SolutionCategory, UseCase};
use opencti_connector::config::Var;
use opencti_connector::listen::{FileImportRequest, FileImporter, JobContext};
use opencti_connector::publish::SendOptions;
use opencti_connector::{Connector, ConnectorSpec, SendError, spec};
use serde_json::{Value, json};

use crate::config::{ImportFileStixConfig, VARS};
use crate::mapping::{ContainerError, add_to_container, new_bundle};

/// What the `opencti-import-file-stix` binary is (name, version,
/// variables), for checks of the documentation against the code.
pub static SPEC: ConnectorSpec =
    spec::<ImportFileStix>().with_kind_vars(opencti_connector::listen::LISTEN_VARS);

/// The STIX representation of an entity, as the platform writes it.
pub const ENTITY_STIX: &str = "query ImportFileStixEntity($id: String!) { stix(id: $id) }";

/// The MIME type of STIX 1.x files, which the Python connector converts
/// with stix2-elevator.
pub const STIX1_MIME: &str = "text/xml";

/// Why a file was not imported. The text closes the job's work in error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be downloaded, or the bundle not sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// A STIX 1.x XML file.
    #[error(
        "`{file}` is a STIX 1.x XML file (text/xml): this connector imports STIX 2.1 JSON only; \
         convert the file to STIX 2.1 first (for instance with stix2-elevator)"
    )]
    Stix1 {
        /// The file's name.
        file: String,
    },
    /// The file is not UTF-8 text.
    #[error("`{file}` is not UTF-8 text, so not a STIX 2.1 JSON bundle")]
    NotText {
        /// The file's name.
        file: String,
    },
    /// The file is not a JSON object with an `objects` array.
    #[error("`{file}` is not a STIX 2.1 bundle: {reason}")]
    NotBundle {
        /// The file's name.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The entity the file was imported on could not be read.
    #[error("cannot read the entity {entity_id} the file was imported on: {source}")]
    EntityRead {
        /// The entity's id.
        entity_id: String,
        /// The platform's answer.
        source: ApiError,
    },
    /// The platform does not know the entity, or does not show it.
    #[error(
        "the entity {entity_id} the file was imported on does not exist or is not visible to the user who asked"
    )]
    EntityNotFound {
        /// The entity's id.
        entity_id: String,
    },
    /// The platform's STIX of the entity is not a JSON object.
    #[error("the platform's STIX of the entity {entity_id} is not a JSON object: {reason}")]
    EntityStix {
        /// The entity's id.
        entity_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The file's objects cannot be added to the container.
    #[error(transparent)]
    Container(#[from] ContainerError),
}

/// The connector.
#[derive(Debug, Clone)]
pub struct ImportFileStix {
    config: ImportFileStixConfig,
}

impl Connector for ImportFileStix {
    type Config = ImportFileStixConfig;
    type Error = ImportError;

    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-import-file-stix";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Imports STIX 2.1 JSON bundle files into OpenCTI";
    const SLUG: Option<&'static str> = Some("import-file-stix");
    const LISTING: Listing = Listing {
        title: "Import File STIX",
        description: "Imports STIX 2.1 JSON bundle files uploaded to OpenCTI, into the container they were uploaded on when there is one, with the Python import-file-stix connector's variables",
        use_cases: &[UseCase::Other],
        solution_categories: &[SolutionCategory::ImportExportSharing],
        ..Listing::DEFAULT
    };

    fn from_config(config: ImportFileStixConfig) -> Result<Self, ImportError> {
        Ok(Self { config })
    }
}

impl FileImporter for ImportFileStix {
    async fn import_file(
        &mut self,
        request: FileImportRequest,
        ctx: &JobContext,
    ) -> Result<String, ImportError> {
        let file = request.file_name().to_owned();
        tracing::info!(file_fetch = %request.file_fetch, "Importing the file");
        if request.file_mime == STIX1_MIME {
            return Err(ImportError::Stix1 { file });
        }
        let content = ctx.download_file(&request.file_fetch).await?;
        let text =
            String::from_utf8(content).map_err(|_| ImportError::NotText { file: file.clone() })?;
        // The Python connector names the bundle after the file's id, which
        // names a validation draft or workbench (`import/global/x.json`).
        let mut options = SendOptions::default();
        options.file_name = Some(request.file_id.clone());
        let report = match request.entity_id.as_deref() {
            Some(entity_id) if !entity_id.is_empty() => {
                tracing::info!(entity_id, "Contextual import");
                let mut objects = bundle_objects(&text, &file)?;
                add_to_container(&mut objects, entity_stix(ctx, entity_id).await?)?;
                ctx.send_bundle_with(new_bundle(objects), &options).await?
            }
            // As given: the runtime checks it is a bundle and splits it.
            _ => ctx
                .send_bundle_with(text, &options)
                .await
                .map_err(|error| match error {
                    SendError::InvalidBundle { reason } => ImportError::NotBundle {
                        file: file.clone(),
                        reason,
                    },
                    other => ImportError::Send(other),
                })?,
        };
        Ok(self.closing_message(&request, report.messages))
    }
}

impl ImportFileStix {
    /// The Python connector's text for the work.
    /// (`messages`: the bundles the split gave, one message each).
    fn closing_message(&self, request: &FileImportRequest, messages: usize) -> String {
        if self.config.validate_before_import && !request.bypass_validation {
            "Generated bundle sent for validation".to_owned()
        } else {
            format!("{messages} generated bundle(s) for worker import")
        }
    }
}

/// The `objects` of the bundle in `text`.
fn bundle_objects(text: &str, file: &str) -> Result<Vec<Value>, ImportError> {
    let not_bundle = |reason: String| ImportError::NotBundle {
        file: file.to_owned(),
        reason,
    };
    let bundle: Value =
        serde_json::from_str(text).map_err(|error| not_bundle(format!("not JSON ({error})")))?;
    match bundle {
        Value::Object(mut fields) => match fields.remove("objects") {
            Some(Value::Array(objects)) => Ok(objects),
            Some(_) => Err(not_bundle("its `objects` is not an array".to_owned())),
            None => Err(not_bundle("it has no `objects`".to_owned())),
        },
        _ => Err(not_bundle("not a JSON object".to_owned())),
    }
}

/// The platform's STIX of the entity, read as the user who asked.
async fn entity_stix(ctx: &JobContext, entity_id: &str) -> Result<Value, ImportError> {
    let data: Value = ctx
        .api()
        .query(ENTITY_STIX, json!({ "id": entity_id }))
        .await
        .map_err(|source| ImportError::EntityRead {
            entity_id: entity_id.to_owned(),
            source,
        })?;
    let Some(text) = data.get("stix").and_then(Value::as_str) else {
        return Err(ImportError::EntityNotFound {
            entity_id: entity_id.to_owned(),
        });
    };
    let stix_error = |reason: String| ImportError::EntityStix {
        entity_id: entity_id.to_owned(),
        reason,
    };
    match serde_json::from_str(text).map_err(|error| stix_error(error.to_string()))? {
        object @ Value::Object(_) => Ok(object),
        _ => Err(stix_error("not an object".to_owned())),
    }
}

//! Layered configuration with pycti's rules.
//!
//! Variables are declared in static tables ([`Var`]); the runtime's own
//! tables are in [`runtime`], each connector adds its own. [`Settings`]
//! resolves every table against the environment and `config.yml` (read with
//! figment and serde-saphyr), applying pycti's rules:
//!
//! * the environment wins (first the variable's name, then its legacy
//!   aliases), then `config.yml` (`section.key`), then the default;
//! * an empty value, wherever it comes from, means the default;
//! * booleans are pycti's `yes`/`true`/`True` and `no`/`false`/`False`, the
//!   lax spellings the Python connectors' pydantic settings accept
//!   (`on`/`off`, `1`/`0`, `t`/`f`, `y`/`n`, any case), or YAML booleans;
//!   one parser and one message for every variable;
//! * string variables keep their text even when it looks like a number.
//!
//! Typed configurations are then built with [`Check`], which collects every
//! problem so the operator sees them all at once, each naming the variable
//! in both spellings and the offending value (masked when secret).

mod error;
pub mod render;
pub mod runtime;
mod secret;
mod settings;
mod value;
mod var;

pub use error::{ConfigError, ConfigErrors};
pub use runtime::{
    ConnectorSection, ConnectorType, DirectoryOutput, LiveStreamConfig, MetricsConfig, MqOverrides,
    OpenctiConfig, PlatformTls, QueueProtocol, RuntimeConfig, S3Output, S3Overrides,
    ServiceAccountConfig,
};
pub use secret::Secret;
pub use settings::{Check, NoConfig, Settings, Source};
pub(crate) use value::parse_bool_text;
pub use value::{FromValue, Origin, Value};
pub use var::{Var, VarKind};

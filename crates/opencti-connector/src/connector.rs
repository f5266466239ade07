//! What every connector is, whatever its kind: the [`Connector`] identity
//! (configuration, error, name, version, description, variables, slug) and
//! the [`ConnectorSpec`] the runtime presents and registers from it.
//!
//! A kind adds one trait on top with its one required method:
//! [`ImportSource::run`](crate::ImportSource::run) for an import
//! connector, [`StreamSink::handle`](crate::stream::StreamSink::handle) for
//! a stream connector.

use crate::catalog::Listing;
use crate::config::runtime::{CONNECTOR_VARS, MQ_VARS, OPENCTI_VARS};
use crate::config::{ConfigErrors, ConnectorType, Settings, Var};
use crate::session::SessionOptions;

/// The identity every connector kind shares.
///
/// `NAME`, `VERSION` and `ABOUT` have no default: each connector states
/// them in its own crate, so `--version` and the version registered with
/// the platform are the connector's, never the runtime's. Write
/// `const VERSION: &'static str = env!("CARGO_PKG_VERSION");` in the
/// connector's crate.
///
/// A connector that leaves out `VERSION` does not compile:
///
/// ```compile_fail,E0046
/// use opencti_connector::Connector;
/// use opencti_connector::config::NoConfig;
///
/// struct Unversioned;
///
/// impl Connector for Unversioned {
///     type Config = NoConfig;
///     type Error = std::convert::Infallible;
///     const NAME: &'static str = "opencti-unversioned";
///     const ABOUT: &'static str = "Forgets to say its version";
///
///     fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
///         Ok(Unversioned)
///     }
/// }
/// ```
pub trait Connector: Sized + Send + 'static {
    /// The connector's typed configuration, validated from the resolved
    /// variables (report every problem at once, see
    /// [`crate::config::Check`]); [`crate::config::NoConfig`] when it has
    /// no variables of its own.
    type Config: for<'a> TryFrom<&'a Settings, Error = ConfigErrors> + Send + 'static;
    /// What building or running the connector can fail with (an import
    /// connector's includes [`crate::SendError`] through `From`).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The connector's own variables; a variable named like a runtime one
    /// (e.g. `CONNECTOR_DURATION_PERIOD` with another default) replaces it.
    const VARS: &'static [Var] = &[];
    /// Binary name shown by `--help`.
    const NAME: &'static str;
    /// Version shown by `--version` and registered with 7.x platforms:
    /// `env!("CARGO_PKG_VERSION")`, written in the connector's crate.
    const VERSION: &'static str;
    /// One line describing the connector for `--help`.
    const ABOUT: &'static str;
    /// Slug registered with 7.x platforms.
    const SLUG: Option<&'static str> = None;
    /// How the connector presents itself in OpenCTI's connector catalog
    /// (see [`crate::catalog`]).
    const LISTING: Listing = Listing::DEFAULT;

    /// Builds the connector from its configuration. Remote setup (logins,
    /// creating lists) belongs in the kind's start hook, such as
    /// [`StreamSink::on_start`](crate::stream::StreamSink::on_start).
    fn from_config(config: Self::Config) -> Result<Self, Self::Error>;
}

/// What a connector binary is: how the command line presents it, which
/// variables it reads, what it registers.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorSpec {
    /// Binary name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// The connector's own variables.
    pub vars: &'static [Var],
    /// Slug registered with 7.x platforms.
    pub slug: Option<&'static str>,
    /// How the connector presents itself in the catalog.
    pub listing: Listing,
    /// Variables of the connector's kind (such as `CONNECTOR_MAX_TLP` for
    /// enrichment), between the runtime's and the connector's.
    pub kind_vars: &'static [Var],
}

impl ConnectorSpec {
    /// Every variable table: runtime tables then the connector's (which
    /// may override runtime defaults).
    pub fn tables(&self) -> [&'static [Var]; 5] {
        [
            OPENCTI_VARS,
            CONNECTOR_VARS,
            MQ_VARS,
            self.kind_vars,
            self.vars,
        ]
    }

    /// This spec with the variables of the connector's kind.
    pub const fn with_kind_vars(mut self, kind_vars: &'static [Var]) -> Self {
        self.kind_vars = kind_vars;
        self
    }

    /// What the session registers for a connector of this kind.
    pub(crate) fn session_options(&self, connector_type: ConnectorType) -> SessionOptions {
        let mut options = SessionOptions::new(connector_type);
        options.version = Some(self.version.to_owned());
        options.slug = self.slug.map(str::to_owned);
        options
    }
}

/// The spec of `C`, as its binary presents and registers it. Each
/// connector crate keeps it as `pub static SPEC: ConnectorSpec = spec::<C>();`
/// for the checks of its documentation against the code.
pub const fn spec<C: Connector>() -> ConnectorSpec {
    ConnectorSpec {
        name: C::NAME,
        version: C::VERSION,
        about: C::ABOUT,
        vars: C::VARS,
        slug: C::SLUG,
        listing: C::LISTING,
        kind_vars: &[],
    }
}

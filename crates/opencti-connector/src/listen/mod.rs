//! Internal connectors: the *listen* half of the helper. The platform
//! (a user, an automatic trigger, a playbook) puts jobs on the connector's
//! listen queue; the runtime takes them one at a time and hands each to
//! the connector's kind trait:
//!
//! * [`Enricher::enrich`] for an enrichment connector
//!   (`INTERNAL_ENRICHMENT`), with [`run_enrichment`];
//! * [`FileImporter::import_file`] for a file import connector
//!   (`INTERNAL_IMPORT_FILE`), with [`run_file_import`];
//! * [`FileExporter::export_file`] for a file export connector
//!   (`INTERNAL_EXPORT_FILE`), with [`run_file_export`].
//!
//! For each job the runtime marks the work received, runs the connector
//! with a [`JobContext`] (bundles carry the job's work, draft and asking
//! user; a playbook step's bundle goes back to the playbook), then closes
//! the work with the connector's text, or in error with its error, its
//! panic, or why the message could not be read. Only then is the message
//! acknowledged: a broker lost mid-job delivers it again, and a job
//! already done is then acknowledged without running twice.
//!
//! Jobs come from the listen queue, or, with `CONNECTOR_LISTEN_PROTOCOL=API`,
//! over HTTP: the connector serves an endpoint (`callback`) and registers
//! its URI, and the platform POSTs each job there; the job is handled the
//! same way and answered once done.
//!
//! Test a connector with `JobContext::for_test` (feature `test-util`) and the request types'
//! `from_job` ([`Job::from_value`] reads a message as the platform sends
//! it).

mod callback;
mod context;
mod handler;
mod message;
mod runner;
mod tlp;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

pub use callback::{ApiListen, CallbackError, ListenTls};
#[cfg(any(test, feature = "test-util"))]
pub use context::JobProbe;
pub use context::{DOWNLOAD_TIMEOUT, JobContext, MAX_DOWNLOAD_BYTES};
pub use handler::{
    Enricher, Enrichment, FileExport, FileExporter, FileImport, FileImporter, Listener,
};
pub use message::{
    EnrichmentRequest, ExportRequest, ExportScope, FileImportRequest, Job, MessageError,
    PlaybookStep, abstract_entity_type, is_observable_entity_type,
};
pub use runner::ListenRunner;
pub use tlp::check_max_tlp;

use crate::cli::Launch;
use callback::ListenTlsError;

use crate::config::{ConfigErrors, ConnectorType, Secret, Settings, Var, VarKind};
use crate::connector::spec;
use crate::error::Error;

/// A table of `$extra` variables followed by those of the listen
/// protocol, which every internal connector reads.
macro_rules! with_listen_protocol_vars {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            Var::new("CONNECTOR_LISTEN_PROTOCOL", "connector", "listen_protocol", VarKind::String)
                .default("AMQP")
                .help("How jobs arrive: AMQP (the listen queue) or API (the platform POSTs them to an HTTP endpoint the connector serves)"),
            Var::new("CONNECTOR_LISTEN_PROTOCOL_API_HOST", "connector", "listen_protocol_api_host", VarKind::String)
                .default("0.0.0.0")
                .help("API listen protocol: address the endpoint is served on (ours; pycti always uses 0.0.0.0)"),
            Var::new("CONNECTOR_LISTEN_PROTOCOL_API_PORT", "connector", "listen_protocol_api_port", VarKind::Int)
                .default("7070")
                .help("API listen protocol: port of the endpoint (0: any free port)"),
            Var::new("CONNECTOR_LISTEN_PROTOCOL_API_PATH", "connector", "listen_protocol_api_path", VarKind::String)
                .default("/api/callback")
                .help("API listen protocol: route the platform POSTs jobs to"),
            Var::new("CONNECTOR_LISTEN_PROTOCOL_API_SSL", "connector", "listen_protocol_api_ssl", VarKind::Bool)
                .default("false")
                .help("API listen protocol: serve HTTPS with LISTEN_PROTOCOL_API_SSL_CERT and _KEY"),
            Var::new("LISTEN_PROTOCOL_API_SSL_CERT", "connector", "listen_protocol_api_ssl_cert", VarKind::String)
                .aliases(&["CONNECTOR_LISTEN_PROTOCOL_API_SSL_CERT"])
                .help("API listen protocol over HTTPS: the server certificate chain (PEM, leaf first), a file path or inline PEM; required with CONNECTOR_LISTEN_PROTOCOL_API_SSL"),
            Var::new("LISTEN_PROTOCOL_API_SSL_KEY", "connector", "listen_protocol_api_ssl_key", VarKind::String)
                .secret()
                .aliases(&["CONNECTOR_LISTEN_PROTOCOL_API_SSL_KEY"])
                .help("API listen protocol over HTTPS: the certificate's private key (PEM, possibly encrypted PKCS#8), a file path or inline PEM; required with CONNECTOR_LISTEN_PROTOCOL_API_SSL"),
            Var::new("LISTEN_PROTOCOL_API_SSL_PASSPHRASE", "connector", "listen_protocol_api_ssl_passphrase", VarKind::String)
                .secret()
                .aliases(&["CONNECTOR_LISTEN_PROTOCOL_API_SSL_PASSPHRASE"])
                .help("API listen protocol over HTTPS: passphrase of an encrypted LISTEN_PROTOCOL_API_SSL_KEY"),
            Var::new("CONNECTOR_LISTEN_PROTOCOL_API_URI", "connector", "listen_protocol_api_uri", VarKind::Url)
                .help("API listen protocol: base URI the platform calls (the path is appended); default http://127.0.0.1:<port> (https with CONNECTOR_LISTEN_PROTOCOL_API_SSL)"),
        ]
    };
}

/// The variables of file import and export connectors, besides the
/// runtime's.
pub static LISTEN_VARS: &[Var] = with_listen_protocol_vars!();

/// The variables of enrichment connectors, besides the runtime's.
pub static ENRICHMENT_VARS: &[Var] = with_listen_protocol_vars!(
    Var::new("CONNECTOR_MAX_TLP", "connector", "max_tlp", VarKind::String).help(
        "Enrichment: refuse entities marked above this TLP (TLP:CLEAR ... TLP:RED); unset: no check",
    )
);

/// How an internal connector takes its jobs (`CONNECTOR_LISTEN_PROTOCOL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListenProtocol {
    /// From its listen queue.
    #[default]
    Amqp,
    /// Over HTTP: the platform POSTs each job to the endpoint.
    Api(ApiListen),
}

/// Runs `C` as an enrichment connector process: CLI, configuration,
/// logging, signals, registration, the listen loop.
pub fn run_enrichment<C: Enricher>() -> ExitCode {
    let spec = spec::<C>().with_kind_vars(ENRICHMENT_VARS);
    crate::cli::run(
        &spec,
        ConnectorType::InternalEnrichment,
        |settings| {
            let config = both(C::Config::try_from(settings), max_tlp(settings));
            both(config, listen_protocol(settings))
                .map(|((config, max_tlp), protocol)| (config, max_tlp, protocol))
        },
        |launch: Launch<(C::Config, Option<String>, ListenProtocol)>| async move {
            let (config, max_tlp, protocol) = launch.connector;
            let connector =
                C::from_config(config).map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(Enrichment::new(connector, max_tlp), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .with_listen_protocol(protocol)
                .run(launch.shutdown)
                .await
        },
    )
}

/// Runs `C` as a file import connector process.
pub fn run_file_import<C: FileImporter>() -> ExitCode {
    crate::cli::run(
        &spec::<C>().with_kind_vars(LISTEN_VARS),
        ConnectorType::InternalImportFile,
        |settings| both(C::Config::try_from(settings), listen_protocol(settings)),
        |launch: Launch<(C::Config, ListenProtocol)>| async move {
            let (config, protocol) = launch.connector;
            let connector =
                C::from_config(config).map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(FileImport(connector), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .with_listen_protocol(protocol)
                .run(launch.shutdown)
                .await
        },
    )
}

/// Runs `C` as a file export connector process.
pub fn run_file_export<C: FileExporter>() -> ExitCode {
    crate::cli::run(
        &spec::<C>().with_kind_vars(LISTEN_VARS),
        ConnectorType::InternalExportFile,
        |settings| both(C::Config::try_from(settings), listen_protocol(settings)),
        |launch: Launch<(C::Config, ListenProtocol)>| async move {
            let (config, protocol) = launch.connector;
            let connector =
                C::from_config(config).map_err(|error| Error::Connector(Box::new(error)))?;
            ListenRunner::new(FileExport(connector), launch.runtime)
                .with_identity(C::VERSION, C::SLUG)
                .with_listen_protocol(protocol)
                .run(launch.shutdown)
                .await
        },
    )
}

/// Both checks' values, or every error of both.
fn both<A, B>(
    first: Result<A, ConfigErrors>,
    second: Result<B, ConfigErrors>,
) -> Result<(A, B), ConfigErrors> {
    match (first, second) {
        (Ok(first), Ok(second)) => Ok((first, second)),
        (Err(errors), Ok(_)) | (Ok(_), Err(errors)) => Err(errors),
        (Err(mut errors), Err(more)) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// `CONNECTOR_LISTEN_PROTOCOL` and its `_API_*` settings, checked. Its
/// errors leave out the settings' own problems, as [`max_tlp`]'s.
pub fn listen_protocol(settings: &Settings) -> Result<ListenProtocol, ConfigErrors> {
    let mut check = settings.check();
    let api = check.parse("CONNECTOR_LISTEN_PROTOCOL", |value| {
        match value.to_string().to_uppercase().as_str() {
            "AMQP" => Ok(false),
            "API" => Ok(true),
            _ => Err("expected AMQP or API".to_owned()),
        }
    });
    let host = check.parse("CONNECTOR_LISTEN_PROTOCOL_API_HOST", |value| {
        value
            .to_string()
            .parse::<IpAddr>()
            .map_err(|_| "expected an IP address such as 0.0.0.0 or 127.0.0.1".to_owned())
    });
    let port: Option<u16> = check.get("CONNECTOR_LISTEN_PROTOCOL_API_PORT");
    let path: String = check
        .get("CONNECTOR_LISTEN_PROTOCOL_API_PATH")
        .unwrap_or_else(|| "/api/callback".to_owned());
    if !path.starts_with('/') {
        check.reject("CONNECTOR_LISTEN_PROTOCOL_API_PATH", "must start with `/`");
    }
    let uri: Option<reqwest::Url> = check.get("CONNECTOR_LISTEN_PROTOCOL_API_URI");
    let ssl: bool = check
        .get("CONNECTOR_LISTEN_PROTOCOL_API_SSL")
        .unwrap_or(false);
    // pycti reads the certificate only when it serves HTTPS.
    let tls = (ssl && api == Some(true)).then(|| listen_tls(&mut check));
    let mut result = check.finish("listen", || {
        Some(if api? {
            ListenProtocol::Api(ApiListen {
                bind: SocketAddr::new(host?, port.unwrap_or(7070)),
                path,
                uri: uri.map(|uri| uri.as_str().to_owned()),
                tls: match tls {
                    Some(tls) => Some(tls?),
                    None => None,
                },
            })
        } else {
            ListenProtocol::Amqp
        })
    });
    if let Err(errors) = &mut result {
        errors
            .0
            .retain(|error| !settings.problems().0.contains(error));
        if errors.is_empty() {
            return Ok(ListenProtocol::Amqp);
        }
    }
    result
}

/// The certificate and key `CONNECTOR_LISTEN_PROTOCOL_API_SSL` serves,
/// read (paths or inline PEM), the key decrypted and checked against the
/// certificate; `None` with the problem recorded on the variable at fault.
fn listen_tls(check: &mut crate::config::Check<'_>) -> Option<ListenTls> {
    const CERT: &str = "LISTEN_PROTOCOL_API_SSL_CERT";
    const KEY: &str = "LISTEN_PROTOCOL_API_SSL_KEY";
    const PASSPHRASE: &str = "LISTEN_PROTOCOL_API_SSL_PASSPHRASE";
    let cert: Option<String> = check.require(CERT);
    let key: Option<Secret> = check.require(KEY);
    let passphrase: Option<Secret> = check.get(PASSPHRASE);
    let cert = cert.and_then(|value| match crate::tls::read_pem(CERT, &value) {
        Ok(pem) => Some(pem),
        Err(reason) => {
            check.reject(CERT, reason);
            None
        }
    });
    let key = key.and_then(|value| {
        let unlocked = crate::tls::read_pem(KEY, value.expose())
            .and_then(|pem| crate::tls::unlock_key(pem, passphrase.as_ref(), KEY, PASSPHRASE));
        match unlocked {
            Ok(pem) => Some(Secret::new(pem)),
            Err(reason) => {
                check.reject(KEY, reason);
                None
            }
        }
    });
    let tls = ListenTls::new(cert?, key?);
    match tls.server_config() {
        Ok(_) => Some(tls),
        Err(ListenTlsError { variable, reason }) => {
            check.reject(variable, reason);
            None
        }
    }
}

/// `CONNECTOR_MAX_TLP`, checked. Its errors leave out the settings'
/// own problems, which the connector's configuration reports.
pub fn max_tlp(settings: &Settings) -> Result<Option<String>, ConfigErrors> {
    let mut check = settings.check();
    let max = check.parse("CONNECTOR_MAX_TLP", |value| {
        tlp::parse_max(&value.to_string())
    });
    let mut result = check.finish("listen", || Some(max));
    if let Err(errors) = &mut result {
        errors
            .0
            .retain(|error| !settings.problems().0.contains(error));
        if errors.is_empty() {
            return Ok(None);
        }
    }
    result
}

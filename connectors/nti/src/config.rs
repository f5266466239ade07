//! The connector's variables (the Python connector's environment names,
//! `config.yml` keys and defaults) and the validated configuration.
//!
//! Where the Python connector accepted a value it could not use (a base URL
//! without its trailing `/`, `1`/`0` as booleans, an unknown TLP, an empty
//! API key), the problem is reported at start-up instead, naming the variable.

use std::time::Duration;

use opencti_connector::config::{ConfigErrors, Secret, Settings, Value, Var, VarKind};
use opencti_connector::http::Network;
use opencti_stix::object::MarkingDefinition;
use reqwest::Url;

/// The connector's variables: runtime variables whose defaults differ for
/// this connector, then the `nti.*` section.
pub static VARS: &[Var] = &[
    Var::new("CONNECTOR_TYPE", "connector", "type", VarKind::String)
        .default("EXTERNAL_IMPORT")
        .help("Connector type; always EXTERNAL_IMPORT"),
    Var::new("CONNECTOR_NAME", "connector", "name", VarKind::String)
        .default("NTI")
        .help("Name shown in the platform"),
    Var::new("CONNECTOR_SCOPE", "connector", "scope", VarKind::String)
        .default("nti")
        .help("Scope registered with the platform"),
    Var::new("CONNECTOR_DURATION_PERIOD", "connector", "duration_period", VarKind::Duration)
        .default("P1D")
        .help("Delay between runs (ISO 8601); NTI publishes one package a day; 0 runs once"),
    Var::new("NTI_BASE_URL", "nti", "base_url", VarKind::Url)
        .default("https://nti.nsfocusglobal.com/api/v2/")
        .help("NTI API base URL; the package is downloaded from <base>download/feed/ (a missing trailing / is added)"),
    Var::new("NTI_API_KEY", "nti", "api_key", VarKind::String)
        .required()
        .secret()
        .help("NTI API key, sent as the X-Ns-Nti-Key header"),
    Var::new("NTI_TLP", "nti", "tlp", VarKind::String)
        .default("white")
        .choices(&["clear", "white", "green", "amber", "amber+strict", "red"])
        .help("Marking of everything imported: clear, white, green, amber, amber+strict or red"),
    Var::new("NTI_CREATE_IOC", "nti", "create_ioc", VarKind::Bool)
        .default("false")
        .help("Import the IOC files (indicators, their observables, based-on)"),
    Var::new("NTI_CREATE_IP", "nti", "create_ip", VarKind::Bool)
        .default("false")
        .help("Import the IP files (addresses, locations, autonomous systems)"),
    Var::new("NTI_CREATE_DOMAIN", "nti", "create_domain", VarKind::Bool)
        .default("false")
        .help("Import the domain files (domain names and the addresses they resolve to)"),
    Var::new("NTI_CREATE_URL", "nti", "create_url", VarKind::Bool)
        .default("false")
        .help("Import the URL files (URLs labelled with their categories)"),
    Var::new("NTI_CREATE_FILE", "nti", "create_file", VarKind::Bool)
        .default("false")
        .help("Import the sample files (file observables with their hashes)"),
    Var::new("NTI_PACKAGE_TYPE", "nti", "package_type", VarKind::String)
        .default("updated")
        .help("Feed package type (the `type` query parameter); `updated` is the daily package"),
    Var::new("NTI_HTTP_TIMEOUT", "nti", "http_timeout", VarKind::Duration)
        .default("PT2M")
        .help("Longest silence while connecting to NTI or reading the package (ISO 8601)"),
    Var::new("NTI_HTTP_RETRIES", "nti", "http_retries", VarKind::Int)
        .default("3")
        .help("Retries of the download after a timeout, a broken connection, HTTP 429 or 5xx (Retry-After honoured)"),
    Var::new("NTI_MAX_PACKAGE_SIZE_MB", "nti", "max_package_size_mb", VarKind::Int)
        .default("1024")
        .help("Largest feed package downloaded, in MiB (after gzip decoding); a larger one fails the run"),
    Var::new("NTI_MAX_FILE_SIZE_MB", "nti", "max_file_size_mb", VarKind::Int)
        .default("4096")
        .help("Largest uncompressed file of the package, in MiB (declared or actually inflated); a larger one fails the run"),
    Var::new("NTI_MAX_LINE_SIZE_MB", "nti", "max_line_size_mb", VarKind::Int)
        .default("4")
        .help("Longest line (one record) of a feed file, in MiB; a longer one fails the run"),
];

/// Bytes in a MiB, the unit of the size limits.
const MIB: u64 = 1 << 20;

/// The size limits of a package, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackageLimits {
    /// Largest download (`NTI_MAX_PACKAGE_SIZE_MB`).
    pub max_package_bytes: u64,
    /// Largest uncompressed file (`NTI_MAX_FILE_SIZE_MB`).
    pub max_file_bytes: u64,
    /// Longest line (`NTI_MAX_LINE_SIZE_MB`).
    pub max_line_bytes: u64,
}

impl PackageLimits {
    /// Limits in MiB, as the variables give them.
    #[must_use]
    pub fn from_mib(package: u64, file: u64, line: u64) -> Self {
        Self {
            max_package_bytes: package.saturating_mul(MIB),
            max_file_bytes: file.saturating_mul(MIB),
            max_line_bytes: line.saturating_mul(MIB),
        }
    }
}

impl Default for PackageLimits {
    /// The variables' defaults.
    fn default() -> Self {
        Self::from_mib(1024, 4096, 4)
    }
}

/// The kinds of feed files, in the order the Python connector lists its
/// tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FeedKind {
    /// `ioc` files: indicators.
    Ioc,
    /// `ip-basic` files: addresses with locations and autonomous systems.
    Ip,
    /// `domain-basic` files: domain names and their resolutions.
    Domain,
    /// `url-basic` files: categorised URLs.
    Url,
    /// `sample` files: malware samples.
    File,
}

impl FeedKind {
    /// Every kind, in task order.
    pub const ALL: [Self; 5] = [Self::Ioc, Self::Ip, Self::Domain, Self::Url, Self::File];

    /// The kind's part of the file names (`data.NTI.API.V2.0.<part>`).
    #[must_use]
    pub fn file_part(self) -> &'static str {
        match self {
            Self::Ioc => "ioc",
            Self::Ip => "ip-basic",
            Self::Domain => "domain-basic",
            Self::Url => "url-basic",
            Self::File => "sample",
        }
    }

    /// The name the Python connector gives the kind in its works and logs.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Ioc => "IOC",
            Self::Ip => "IP",
            Self::Domain => "Domain",
            Self::Url => "URL",
            Self::File => "File",
        }
    }

    /// The variable switching the kind on.
    #[must_use]
    pub fn variable(self) -> &'static str {
        match self {
            Self::Ioc => "NTI_CREATE_IOC",
            Self::Ip => "NTI_CREATE_IP",
            Self::Domain => "NTI_CREATE_DOMAIN",
            Self::Url => "NTI_CREATE_URL",
            Self::File => "NTI_CREATE_FILE",
        }
    }
}

/// The validated connector configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NtiConfig {
    /// The API base URL, ending with `/`.
    pub base_url: Url,
    /// The API key.
    pub api_key: Secret,
    /// The marking of every object.
    pub marking: MarkingDefinition,
    /// The kinds of files imported, in task order.
    pub kinds: Vec<FeedKind>,
    /// The package type asked for.
    pub package_type: String,
    /// Connect and read timeout of the download.
    pub timeout: Duration,
    /// Retries of the download.
    pub retries: u32,
    /// Proxies and extra trusted CAs (the runtime's network variables).
    pub network: Network,
    /// Size limits of the package, its files and their lines.
    pub limits: PackageLimits,
}

impl NtiConfig {
    /// The task name (file-name prefix) of `kind`'s files in this package
    /// type, as the Python connector builds it.
    #[must_use]
    pub fn task_name(&self, kind: FeedKind) -> String {
        task_name(kind, &self.package_type)
    }
}

/// `data.NTI.API.V2.0.<kind>`, plus `-updated` for the `updated` package.
#[must_use]
pub fn task_name(kind: FeedKind, package_type: &str) -> String {
    let suffix = if package_type == "updated" {
        "-updated"
    } else {
        ""
    };
    format!("data.NTI.API.V2.0.{}{suffix}", kind.file_part())
}

/// The marking of `NTI_TLP`: `clear` is TLP:WHITE, as in the Python
/// connector.
fn marking(value: &Value) -> Result<MarkingDefinition, String> {
    let level = value.to_string().trim().to_ascii_lowercase();
    let level = if level == "clear" { "white" } else { &level };
    opencti_stix::marking::tlp(level)
        .cloned()
        .ok_or_else(|| "expected clear, white, green, amber, amber+strict or red".to_owned())
}

/// The base URL with its trailing `/`, so that relative joins keep its path.
fn base_url(value: &Value) -> Result<Url, String> {
    let Value::Url(url) = value else {
        return Err("expected a URL".to_owned());
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http:// or https:// URL".to_owned());
    }
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl TryFrom<&Settings> for NtiConfig {
    type Error = ConfigErrors;

    fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
        let mut check = settings.check();
        let base_url = check.parse("NTI_BASE_URL", base_url);
        let api_key: Option<Secret> = check.require("NTI_API_KEY");
        let marking = check.parse("NTI_TLP", marking);
        let switches: Vec<(FeedKind, Option<bool>)> = FeedKind::ALL
            .into_iter()
            .map(|kind| (kind, check.get::<bool>(kind.variable())))
            .collect();
        let package_type: Option<String> = check.require("NTI_PACKAGE_TYPE");
        let timeout: Option<Duration> = check.require("NTI_HTTP_TIMEOUT");
        if timeout == Some(Duration::ZERO) {
            check.reject("NTI_HTTP_TIMEOUT", "must be longer than zero");
        }
        let retries = check.require::<u32>("NTI_HTTP_RETRIES");
        let mut size_mib = |name: &str| {
            let value = check.require::<u64>(name);
            if value == Some(0) {
                check.reject(name, "must be at least 1");
            }
            value
        };
        let max_package = size_mib("NTI_MAX_PACKAGE_SIZE_MB");
        let max_file = size_mib("NTI_MAX_FILE_SIZE_MB");
        let max_line = size_mib("NTI_MAX_LINE_SIZE_MB");
        let network = Network::check(&mut check);
        check.finish("nti", || {
            let mut kinds = Vec::new();
            for (kind, enabled) in switches {
                if enabled? {
                    kinds.push(kind);
                }
            }
            Some(Self {
                base_url: base_url?,
                api_key: api_key?,
                marking: marking?,
                kinds,
                package_type: package_type?,
                timeout: timeout?,
                retries: retries?,
                network,
                limits: PackageLimits::from_mib(max_package?, max_file?, max_line?),
            })
        })
    }
}

//! The connector as OpenCTI's connector catalog sees it: the JSON Schema of
//! its configuration and its manifest, in the shapes of the
//! OpenCTI-Platform/connectors repository's `__metadata__/` files, and the
//! catalog entry (contract) that embeds both.
//!
//! Everything is generated from the connector's own declarations: the
//! variable tables ([`Var`]: kind, default, secret, choices, conditional
//! requirements), its [`Connector`](crate::Connector) identity and its
//! [`Listing`]. Every binary prints them (`--config-schema`,
//! `--manifest`); each connector's tests compare them with its committed
//! `__metadata__/` files.
//!
//! The schema's top level holds `$schema`, `$id`, `type`, `properties`,
//! `required` and `additionalProperties`, plus `allOf` only when some
//! variables are required in some modes only (`if`/`then`,
//! `dependentRequired`, `anyOf` rules, one per entry).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::config::{ConnectorType, Var, VarKind};
use crate::connector::ConnectorSpec;

/// The JSON Schema dialect of every configuration schema.
pub const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Images are named `<IMAGE_NAMESPACE>/<slug>` (see `docker/`).
pub const IMAGE_NAMESPACE: &str = "opencti-connectors";

/// The oldest platform the catalog offers the connectors to: the first one
/// whose connector manager (XTM Composer) deploys catalog contracts.
pub const MIN_PLATFORM_VERSION: &str = "6.8.0";

/// The catalog's id, fixed so that a platform recognises it when reloaded.
pub const CATALOG_ID: &str = "8f2b6d1e-4c3a-5e7f-9b0d-2a4c6e8f0b1d";

const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// Set by the platform for each connector it deploys, never asked of the
/// operator.
const MANAGED_BY_PLATFORM: [&str; 1] = ["CONNECTOR_ID"];

/// The use cases of upstream's manifest vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UseCase {
    /// Adversaries, campaigns, their tooling.
    AdversaryInsights,
    /// Vulnerabilities and their exploitation.
    VulnerabilityAwareness,
    /// Infrastructure and the attack surface.
    InfrastructureVisibility,
    /// Detection and response.
    DetectionAndResponse,
    /// Anything else.
    Other,
}

impl UseCase {
    /// The vocabulary's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdversaryInsights => "Adversary & Campaign Insights",
            Self::VulnerabilityAwareness => "Vulnerability & Exploit Awareness",
            Self::InfrastructureVisibility => "Infrastructure & Attack Surface Visibility",
            Self::DetectionAndResponse => "Detection & Response Enablement",
            Self::Other => "Other",
        }
    }
}

/// The solution categories of upstream's manifest vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SolutionCategory {
    /// A feed of threat intelligence.
    ThreatIntelligenceFeed,
    /// Network detection.
    NetworkSecurity,
    /// SIEM and analytics.
    SiemAndAnalytics,
    /// Moving data in and out.
    ImportExportSharing,
    /// Anything else.
    Other,
}

impl SolutionCategory {
    /// The vocabulary's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThreatIntelligenceFeed => "Threat Intelligence Feed",
            Self::NetworkSecurity => "Network Security",
            Self::SiemAndAnalytics => "SIEM & Security Analytics",
            Self::ImportExportSharing => "Import, Export & Sharing",
            Self::Other => "Other",
        }
    }
}

/// How a connector presents itself in the catalog, beyond its name and
/// description ([`Connector::NAME`](crate::Connector::NAME),
/// [`Connector::ABOUT`](crate::Connector::ABOUT)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// Display name (`""`: the binary's name).
    pub title: &'static str,
    /// Longer description (`""`: the one-line description).
    pub description: &'static str,
    /// At most three use cases.
    pub use_cases: &'static [UseCase],
    /// At most three solution categories.
    pub solution_categories: &'static [SolutionCategory],
    /// The vendor's page, where one subscribes (`""`: none).
    pub subscription_link: &'static str,
    /// Highest confidence the connector's data may carry (0-100).
    pub max_confidence_level: u8,
    /// The crate's directory in the repository (`""`: `connectors/<slug>`).
    pub directory: &'static str,
}

impl Listing {
    /// A listing that says nothing beyond the connector's identity.
    pub const DEFAULT: Self = Self {
        title: "",
        description: "",
        use_cases: &[UseCase::Other],
        solution_categories: &[SolutionCategory::Other],
        subscription_link: "",
        max_confidence_level: 100,
        directory: "",
    };
}

impl Default for Listing {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ConnectorSpec {
    /// The slug: [`Connector::SLUG`](crate::Connector::SLUG), else the
    /// binary's name without its `opencti-` prefix.
    pub fn catalog_slug(&self) -> &'static str {
        self.slug
            .unwrap_or_else(|| self.name.strip_prefix("opencti-").unwrap_or(self.name))
    }

    /// The image name, without tag.
    pub fn image_name(&self) -> String {
        format!("{IMAGE_NAMESPACE}/{}", self.catalog_slug())
    }

    fn directory(&self) -> String {
        match self.listing.directory {
            "" => format!("connectors/{}", self.catalog_slug()),
            directory => directory.to_owned(),
        }
    }

    fn title(&self) -> &'static str {
        match self.listing.title {
            "" => self.name,
            title => title,
        }
    }
}

/// The variables the schema describes, in declaration order, each once
/// (a connector's declaration replaces the runtime's).
fn schema_vars(spec: &ConnectorSpec) -> Vec<Var> {
    let mut vars: Vec<Var> = Vec::new();
    for var in spec.tables().iter().flat_map(|table| table.iter()) {
        match vars.iter().position(|known| known.env == var.env) {
            Some(position) => vars[position] = *var,
            None => vars.push(*var),
        }
    }
    vars.retain(|var| !MANAGED_BY_PLATFORM.contains(&var.env));
    vars
}

/// The configuration's JSON Schema (2020-12), properties keyed by
/// environment variable name.
pub fn config_schema(spec: &ConnectorSpec, connector_type: ConnectorType) -> Value {
    let vars = schema_vars(spec);
    let mut properties = Map::new();
    let mut required = Vec::new();
    for var in &vars {
        let property = if var.env == "CONNECTOR_TYPE" {
            json!({
                "type": "string",
                "const": connector_type.as_str(),
                "default": connector_type.as_str(),
                "description": "The connector's type, fixed by the binary",
            })
        } else {
            property(var)
        };
        properties.insert(var.env.to_owned(), property);
        let period_needed = var.env == "CONNECTOR_DURATION_PERIOD"
            && connector_type == ConnectorType::ExternalImport;
        if (var.required || period_needed) && var.default.is_none() && var.required_when.is_none() {
            required.push(Value::from(var.env));
        }
    }
    let mut schema = Map::new();
    schema.insert("$schema".to_owned(), SCHEMA_DIALECT.into());
    schema.insert(
        "$id".to_owned(),
        format!("{REPOSITORY}/{}_config.schema.json", spec.catalog_slug()).into(),
    );
    schema.insert("type".to_owned(), "object".into());
    schema.insert("properties".to_owned(), properties.into());
    schema.insert("required".to_owned(), required.into());
    schema.insert("additionalProperties".to_owned(), true.into());
    let rules = conditional_rules(&vars);
    if !rules.is_empty() {
        schema.insert("allOf".to_owned(), rules.into());
    }
    schema.into()
}

fn property(var: &Var) -> Value {
    let mut property = Map::new();
    let (kind, format) = match var.kind {
        VarKind::Bool => ("boolean", None),
        VarKind::Int => ("integer", None),
        VarKind::Float => ("number", None),
        VarKind::Duration => ("string", Some("duration")),
        VarKind::List => ("array", None),
        VarKind::Url => ("string", Some("uri")),
        _ => ("string", None),
    };
    property.insert("type".to_owned(), kind.into());
    if var.kind == VarKind::List {
        property.insert("items".to_owned(), json!({ "type": "string" }));
    }
    if var.secret {
        property.insert("format".to_owned(), "password".into());
        property.insert("writeOnly".to_owned(), true.into());
    } else if let Some(format) = format {
        property.insert("format".to_owned(), format.into());
    }
    property.insert("description".to_owned(), var.help.into());
    if let Some(default) = var.default {
        property.insert("default".to_owned(), typed_value(var.kind, default));
    }
    if !var.choices.is_empty() {
        property.insert("enum".to_owned(), var.choices.to_vec().into());
    }
    property.into()
}

/// `text`, as the environment would give it, in the JSON type of `kind`
/// (text the kind does not read stays text, for the tests to catch).
fn typed_value(kind: VarKind, text: &str) -> Value {
    let typed = match kind {
        VarKind::Bool => crate::config::parse_bool_text(text).map(Value::from),
        VarKind::Int => text.trim().parse::<i64>().ok().map(Value::from),
        VarKind::Float => text.trim().parse::<f64>().ok().map(Value::from),
        VarKind::List => Some(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .collect::<Vec<_>>()
                .into(),
        ),
        _ => None,
    };
    typed.unwrap_or_else(|| text.into())
}

/// One option of a choice: its name and its variables.
type ChoiceOption<'a> = (&'a str, Vec<&'a str>);

/// The rules for variables required in some modes only: one `if`/`then`
/// per condition, one `dependentRequired`, one `anyOf` per choice.
fn conditional_rules(vars: &[Var]) -> Vec<Value> {
    let mut rules = Vec::new();
    let mut conditions: Vec<((&str, &str), Vec<&str>)> = Vec::new();
    let mut dependents = Map::new();
    let mut choices: Vec<(&str, Vec<ChoiceOption<'_>>)> = Vec::new();
    for var in vars {
        if let Some(condition) = var.required_when {
            match conditions.iter_mut().find(|(known, _)| *known == condition) {
                Some((_, envs)) => envs.push(var.env),
                None => conditions.push((condition, vec![var.env])),
            }
        }
        if !var.required_with.is_empty() {
            dependents.insert(var.env.to_owned(), var.required_with.to_vec().into());
        }
        if let Some((choice, option)) = var.required_in_choice {
            let index = match choices.iter().position(|(known, _)| *known == choice) {
                Some(index) => index,
                None => {
                    choices.push((choice, Vec::new()));
                    choices.len() - 1
                }
            };
            let options = &mut choices[index].1;
            match options.iter_mut().find(|(known, _)| *known == option) {
                Some((_, envs)) => envs.push(var.env),
                None => options.push((option, vec![var.env])),
            }
        }
    }
    for ((other, value), envs) in conditions {
        // An unset variable takes its default: when the default is the
        // value, the condition holds unless another value is given.
        let by_default = vars
            .iter()
            .find(|var| var.env == other)
            .and_then(|var| var.default)
            .is_some_and(|default| default == value);
        let mut condition = json!({ "properties": { other: { "const": value } } });
        if !by_default {
            condition["required"] = json!([other]);
        }
        rules.push(json!({ "if": condition, "then": { "required": envs } }));
    }
    if !dependents.is_empty() {
        rules.push(json!({ "dependentRequired": dependents }));
    }
    for (_, options) in choices {
        let any_of: Vec<Value> = options
            .into_iter()
            .map(|(_, envs)| json!({ "required": envs }))
            .collect();
        rules.push(json!({ "anyOf": any_of }));
    }
    rules
}

/// The manifest, as upstream's `__metadata__/connector_manifest.json`
/// (the logo named by its path in the repository).
pub fn manifest(spec: &ConnectorSpec, connector_type: ConnectorType) -> Value {
    let directory = spec.directory();
    json!({
        "title": spec.title(),
        "slug": spec.catalog_slug(),
        "description": description(spec),
        "short_description": spec.about,
        "logo": format!("{directory}/__metadata__/logo.svg"),
        "use_cases": use_cases(spec),
        "solution_categories": solution_categories(spec),
        "license_type": "Free",
        "contact": format!("{REPOSITORY}/issues"),
        "verified": false,
        "last_verified_date": null,
        "playbook_supported": false,
        "max_confidence_level": spec.listing.max_confidence_level,
        "support_version": format!(">={MIN_PLATFORM_VERSION}"),
        "subscription_link": spec.listing.subscription_link,
        "source_code": format!("{REPOSITORY}/tree/main/{directory}"),
        "manager_supported": true,
        "container_version": spec.version,
        "container_image": spec.image_name(),
        "container_type": connector_type.as_str(),
    })
}

fn description(spec: &ConnectorSpec) -> &'static str {
    match spec.listing.description {
        "" => spec.about,
        description => description,
    }
}

fn use_cases(spec: &ConnectorSpec) -> Vec<&'static str> {
    spec.listing
        .use_cases
        .iter()
        .map(|case| case.as_str())
        .collect()
}

fn solution_categories(spec: &ConnectorSpec) -> Vec<&'static str> {
    spec.listing
        .solution_categories
        .iter()
        .map(|category| category.as_str())
        .collect()
}

/// The logo every connector ships (`__metadata__/logo.svg`): a generic
/// plug, ours.
pub const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <rect width="64" height="64" rx="12" fill="#1f3a5f"/>
  <path d="M24 14v12M40 14v12" stroke="#ffffff" stroke-width="4" stroke-linecap="round"/>
  <path d="M18 26h28v8a14 14 0 0 1-28 0z" fill="#ffffff"/>
  <path d="M32 48v6" stroke="#ffffff" stroke-width="4" stroke-linecap="round"/>
</svg>
"##;

/// The logo as a data URL, as catalogs carry it.
pub fn logo_data_url() -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(LOGO_SVG);
    format!("data:image/svg+xml;base64,{encoded}")
}

/// The connector's contract in a V1 catalog: the manifest's fields in the
/// catalog's names, its configuration schema embedded.
pub fn contract(spec: &ConnectorSpec, connector_type: ConnectorType) -> Value {
    json!({
        "id": spec.catalog_slug(),
        "title": spec.title(),
        "slug": spec.catalog_slug(),
        "description": description(spec),
        "short_description": spec.about,
        "logo": logo_data_url(),
        "use_cases": use_cases(spec),
        "solution_categories": solution_categories(spec),
        "license_type": "Free",
        "contact": format!("{REPOSITORY}/issues"),
        "verified": false,
        "last_verified_date": null,
        "subscription_link": spec.listing.subscription_link,
        "source_code": format!("{REPOSITORY}/tree/main/{}", spec.directory()),
        "manager_supported": true,
        "min_version": MIN_PLATFORM_VERSION,
        "version": spec.version,
        "image_name": spec.image_name(),
        "image_type": connector_type.as_str(),
        "platform": "OpenCTI",
        "integration_type": "connector",
        "additional_properties": {
            "playbook_supported": false,
            "max_confidence_level": spec.listing.max_confidence_level,
        },
        "config_schema": config_schema(spec, connector_type),
    })
}

/// A V1 catalog (`manifest_schema_version` 1) of `connectors`, which an
/// operator loads into the platform as a custom catalog.
pub fn catalog(version: &str, connectors: &[(&ConnectorSpec, ConnectorType)]) -> Value {
    let contracts: Vec<Value> = connectors
        .iter()
        .map(|(spec, connector_type)| contract(spec, *connector_type))
        .collect();
    json!({
        "id": CATALOG_ID,
        "name": "opencti-connectors",
        "description": "OpenCTI connectors written in Rust, drop-in replacements for their Python versions",
        "manifest_schema_version": "1",
        "manifest_version": version,
        "product_version": MIN_PLATFORM_VERSION,
        "contracts": contracts,
    })
}

/// `value` as the committed files hold it: two-space indentation, one
/// final newline.
pub fn to_file_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Listing, config_schema};
    use crate::config::{ConnectorType, Var, VarKind};
    use crate::connector::ConnectorSpec;

    static VARS: &[Var] = &[
        Var::new("FEED_MODE", "feed", "mode", VarKind::String)
            .default("url")
            .choices(&["url", "bucket"]),
        Var::new("FEED_URL", "feed", "url", VarKind::Url).required_when("FEED_MODE", "url"),
        Var::new("FEED_BUCKET", "feed", "bucket", VarKind::String)
            .required_when("FEED_MODE", "bucket"),
        Var::new("FEED_KEY_ID", "feed", "key_id", VarKind::String).required_with(&["FEED_SECRET"]),
        Var::new("FEED_SECRET", "feed", "secret", VarKind::String).secret(),
        Var::new("FEED_TOKEN", "feed", "token", VarKind::String)
            .secret()
            .required_in_choice("auth", "token"),
        Var::new("FEED_USER", "feed", "user", VarKind::String).required_in_choice("auth", "login"),
        Var::new("FEED_PASSWORD", "feed", "password", VarKind::String)
            .secret()
            .required_in_choice("auth", "login"),
    ];

    static SPEC: ConnectorSpec = ConnectorSpec {
        name: "opencti-feed",
        version: "1.0.0",
        about: "A feed",
        vars: VARS,
        slug: None,
        listing: Listing::DEFAULT,
        kind_vars: &[],
    };

    fn accepts(form: &serde_json::Value) -> bool {
        let form = form.as_object().cloned().unwrap_or_default();
        let schema = config_schema(&SPEC, ConnectorType::ExternalImport);
        let mut base = json!({
            "OPENCTI_URL": "http://opencti:8080",
            "OPENCTI_TOKEN": "token",
            "CONNECTOR_NAME": "Feed",
            "CONNECTOR_DURATION_PERIOD": "PT1H",
        });
        for (name, value) in form {
            base[name] = value;
        }
        jsonschema::validator_for(&schema).unwrap().is_valid(&base)
    }

    #[test]
    fn a_mode_requires_its_own_variables_and_the_default_mode_counts() {
        assert!(accepts(
            &json!({ "FEED_URL": "http://feed", "FEED_TOKEN": "t" })
        ));
        // The default mode is url: its URL is needed even when the mode is unset.
        assert!(!accepts(&json!({ "FEED_TOKEN": "t" })));
        assert!(!accepts(
            &json!({ "FEED_MODE": "bucket", "FEED_TOKEN": "t" })
        ));
        assert!(accepts(
            &json!({ "FEED_MODE": "bucket", "FEED_BUCKET": "b", "FEED_TOKEN": "t" })
        ));
    }

    #[test]
    fn a_key_id_needs_its_secret_and_one_complete_credential_set_is_needed() {
        let url = json!("http://feed");
        assert!(!accepts(
            &json!({ "FEED_URL": url, "FEED_TOKEN": "t", "FEED_KEY_ID": "k" })
        ));
        assert!(accepts(
            &json!({ "FEED_URL": url, "FEED_TOKEN": "t", "FEED_KEY_ID": "k", "FEED_SECRET": "s" })
        ));
        assert!(!accepts(&json!({ "FEED_URL": url, "FEED_USER": "u" })));
        assert!(accepts(
            &json!({ "FEED_URL": url, "FEED_USER": "u", "FEED_PASSWORD": "p" })
        ));
    }

    #[test]
    fn the_top_level_holds_the_upstream_keys_then_the_rules() {
        let schema = config_schema(&SPEC, ConnectorType::ExternalImport);
        let keys: Vec<&str> = schema
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "$schema",
                "$id",
                "type",
                "properties",
                "required",
                "additionalProperties",
                "allOf"
            ]
        );
        assert!(schema["properties"].get("CONNECTOR_ID").is_none());
        assert_eq!(schema["properties"]["FEED_SECRET"]["format"], "password");
        assert_eq!(schema["properties"]["FEED_SECRET"]["writeOnly"], true);
        assert_eq!(
            schema["properties"]["CONNECTOR_TYPE"]["const"],
            "EXTERNAL_IMPORT"
        );
        assert_eq!(
            schema["properties"]["FEED_MODE"]["enum"],
            json!(["url", "bucket"])
        );
    }
}

//! Resolution of variable tables against the environment and `config.yml`,
//! and the validation helper connectors use to build their typed config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Format;
use serde::de::DeserializeOwned;

use super::error::{ConfigError, ConfigErrors};
use super::value::{FromValue, Origin, Raw, Value, convert};
use super::var::Var;

/// `config.yml` as figment reads it, through serde-saphyr. Numbers written
/// with leading zeros stay text (a token such as `0042` must not become 42).
struct Yaml;

impl Format for Yaml {
    type Error = serde_saphyr::Error;

    const NAME: &'static str = "YAML";

    fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Self::Error> {
        serde_saphyr::from_str_with_options(
            text,
            serde_saphyr::options! {
                with_snippet: false,
                leading_zero_numbers_as_strings: true,
            },
        )
    }
}

/// The raw inputs: an environment snapshot and an optional `config.yml`.
#[derive(Debug, Default)]
pub struct Source {
    env: BTreeMap<String, String>,
    file: Option<(PathBuf, Figment)>,
    problems: Vec<ConfigError>,
}

impl Source {
    /// No environment, no file.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot of the process environment (non-UTF-8 values are skipped).
    pub fn from_process_env() -> Self {
        let env = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        Self {
            env,
            ..Self::default()
        }
    }

    /// Adds (or replaces) environment entries.
    pub fn with_env<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Reads `path` as `config.yml`. A missing or malformed file is recorded
    /// as a problem and reported with the other configuration errors.
    pub fn with_yaml_file(mut self, path: &Path) -> Self {
        // An unreadable file is reported here: figment's own message would
        // name the path a second time.
        if let Err(error) = std::fs::File::open(path) {
            self.problems.push(ConfigError::File {
                path: path.to_path_buf(),
                reason: error.to_string(),
            });
            return self;
        }
        let figment = Figment::from(Yaml::file_exact(path));
        self.adopt(path.to_path_buf(), figment);
        self
    }

    /// Uses `yaml` as the content of `config.yml` (tests, embedded defaults).
    pub fn with_yaml_str(mut self, yaml: &str) -> Self {
        let figment = Figment::from(Yaml::string(yaml));
        self.adopt(PathBuf::from("config.yml"), figment);
        self
    }

    fn adopt(&mut self, path: PathBuf, figment: Figment) {
        match figment.extract::<figment::value::Dict>() {
            Ok(_) => self.file = Some((path, figment)),
            Err(error) => self.problems.push(ConfigError::File {
                path,
                reason: error.to_string(),
            }),
        }
    }

    /// Where `config.yml` is looked for: the explicit path, else beside the
    /// executable, else in the working directory. `None` if there is none.
    pub fn locate_config(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_path_buf());
        }
        let beside_binary = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("config.yml")));
        let in_cwd = std::env::current_dir()
            .ok()
            .map(|dir| dir.join("config.yml"));
        beside_binary
            .into_iter()
            .chain(in_cwd)
            .find(|candidate| candidate.is_file())
    }

    fn lookup_env(&self, var: &Var) -> Option<(String, &str)> {
        std::iter::once(var.env)
            .chain(var.aliases.iter().copied())
            .find_map(|name| {
                self.env
                    .get(name)
                    .map(|value| (name.to_owned(), value.as_str()))
            })
    }

    fn lookup_file(&self, var: &Var) -> Option<(PathBuf, figment::value::Value)> {
        let (path, figment) = self.file.as_ref()?;
        let value = figment.find_value(&var.yaml_path()).ok()?;
        Some((path.clone(), value))
    }
}

/// One variable after resolution.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) var: Var,
    /// The text as written (unmasked), if any value was found or defaulted.
    pub(crate) raw: Option<String>,
    pub(crate) value: Option<Value>,
    pub(crate) origin: Origin,
    pub(crate) failed: bool,
}

/// Resolved configuration: every declared variable with its typed value and
/// origin, plus the problems found while resolving.
///
/// Resolution follows pycti: the environment (first the variable's name,
/// then its legacy aliases) wins over `config.yml`, which wins over the
/// default; an empty value, wherever it comes from, means the default.
#[derive(Debug, Clone)]
pub struct Settings {
    entries: Vec<Entry>,
    index: BTreeMap<&'static str, usize>,
    file: Option<PathBuf>,
    problems: ConfigErrors,
}

impl Settings {
    /// Resolves `tables` (a later table's variable replaces an earlier one
    /// with the same environment name, so a connector can change a runtime
    /// default) against `source`.
    pub fn resolve(tables: &[&[Var]], source: &Source) -> Self {
        let mut vars: Vec<Var> = Vec::new();
        let mut index = BTreeMap::new();
        for var in tables.iter().flat_map(|table| table.iter()) {
            match index.get(var.env) {
                Some(&position) => vars[position] = *var,
                None => {
                    index.insert(var.env, vars.len());
                    vars.push(*var);
                }
            }
        }
        let mut problems = ConfigErrors(source.problems.clone());
        let entries = vars
            .into_iter()
            .map(|var| {
                let (entry, problem) = resolve_one(var, source);
                problems.0.extend(problem);
                entry
            })
            .collect();
        Self {
            entries,
            index,
            file: source.file.as_ref().map(|(path, _)| path.clone()),
            problems,
        }
    }

    /// Test constructor: resolves `tables` against environment pairs only.
    pub fn from_env_pairs<K: Into<String>, V: Into<String>>(
        tables: &[&[Var]],
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::resolve(tables, &Source::new().with_env(pairs))
    }

    /// Problems found while resolving (unreadable file, values of the wrong
    /// type, required variables missing).
    pub fn problems(&self) -> &ConfigErrors {
        &self.problems
    }

    /// The resolved value of `env`, if any.
    pub fn value(&self, env: &str) -> Option<&Value> {
        self.entry(env).and_then(|entry| entry.value.as_ref())
    }

    /// Where the value of `env` came from.
    pub fn origin(&self, env: &str) -> Option<&Origin> {
        self.entry(env).map(|entry| &entry.origin)
    }

    /// The declared variables, in declaration order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.entries.iter().map(|entry| &entry.var)
    }

    /// The `config.yml` that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Variables that were set through a legacy alias: `(alias, current name)`.
    pub fn deprecated_names(&self) -> Vec<(String, &'static str)> {
        self.entries
            .iter()
            .filter_map(|entry| match &entry.origin {
                // `https_proxy` for `HTTPS_PROXY` is a convention, not a legacy name.
                Origin::Env(name) if !name.eq_ignore_ascii_case(entry.var.env) => {
                    Some((name.clone(), entry.var.env))
                }
                _ => None,
            })
            .collect()
    }

    /// Starts validating a typed configuration.
    pub fn check(&self) -> Check<'_> {
        Check {
            settings: self,
            errors: ConfigErrors::default(),
        }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn entry(&self, env: &str) -> Option<&Entry> {
        self.index.get(env).map(|&position| &self.entries[position])
    }
}

fn raw_input(var: &Var, source: &Source) -> Option<(Raw, Origin)> {
    if let Some((name, text)) = source.lookup_env(var) {
        return Some((Raw::Text(text.to_owned()), Origin::Env(name)));
    }
    source
        .lookup_file(var)
        .map(|(path, value)| (Raw::Yaml(value), Origin::File(path)))
}

fn resolve_one(var: Var, source: &Source) -> (Entry, Option<ConfigError>) {
    let input = match raw_input(&var, source) {
        Some((raw, _)) if raw.is_empty() => default_input(&var),
        Some(found) => Some(found),
        None => default_input(&var),
    };
    let Some((raw, origin)) = input else {
        let problem = var.required.then(|| ConfigError::missing(&var));
        let entry = Entry {
            var,
            raw: None,
            value: None,
            origin: Origin::Unset,
            failed: problem.is_some(),
        };
        return (entry, problem);
    };
    let text = raw.display();
    let (value, problem) = match convert(var.kind, &raw) {
        Ok(value) => (Some(value), None),
        Err(reason) => (
            None,
            Some(ConfigError::invalid(&var, &text, origin.clone(), reason)),
        ),
    };
    let entry = Entry {
        var,
        raw: Some(text),
        value,
        origin,
        failed: problem.is_some(),
    };
    (entry, problem)
}

fn default_input(var: &Var) -> Option<(Raw, Origin)> {
    var.default
        .map(|default| (Raw::Text(default.to_owned()), Origin::Default))
}

/// Builds a typed configuration from [`Settings`], collecting every problem
/// instead of stopping at the first.
///
/// ```
/// use opencti_connector::config::{ConfigErrors, Settings, Var, VarKind};
///
/// static VARS: &[Var] = &[
///     Var::new("FEED_URL", "feed", "url", VarKind::Url).required(),
///     Var::new("FEED_LIMIT", "feed", "limit", VarKind::Int).default("100"),
/// ];
///
/// struct FeedConfig { url: reqwest::Url, limit: u32 }
///
/// impl TryFrom<&Settings> for FeedConfig {
///     type Error = ConfigErrors;
///     fn try_from(settings: &Settings) -> Result<Self, ConfigErrors> {
///         let mut check = settings.check();
///         let url = check.require("FEED_URL");
///         let limit = check.require::<u32>("FEED_LIMIT");
///         if limit == Some(0) {
///             check.reject("FEED_LIMIT", "must be at least 1");
///         }
///         check.finish("feed", || Some(FeedConfig { url: url?, limit: limit? }))
///     }
/// }
///
/// let settings = Settings::from_env_pairs(&[VARS], [("FEED_LIMIT", "0")]);
/// let errors = FeedConfig::try_from(&settings).err().unwrap();
/// assert_eq!(errors.len(), 2); // FEED_URL missing and FEED_LIMIT rejected
/// ```
#[derive(Debug)]
pub struct Check<'a> {
    settings: &'a Settings,
    errors: ConfigErrors,
}

impl Check<'_> {
    /// The value of `env` converted to `T`; `None` if unset or invalid (the
    /// problem is recorded).
    pub fn get<T: FromValue>(&mut self, env: &str) -> Option<T> {
        self.parse(env, T::from_value)
    }

    /// Whether the settings declare `env` (reading an undeclared variable
    /// is a problem).
    pub fn declares(&self, env: &str) -> bool {
        self.settings.entry(env).is_some()
    }

    /// Like [`Check::get`], and records a "required" problem if unset.
    pub fn require<T: FromValue>(&mut self, env: &str) -> Option<T> {
        let value = self.get(env);
        if value.is_none()
            && let Some(entry) = self.settings.entry(env)
            && !entry.failed
            && entry.value.is_none()
        {
            self.errors.0.push(ConfigError::missing(&entry.var));
        }
        value
    }

    /// The value of `env` converted by `parse`; a conversion error is
    /// recorded with the variable's names and (masked) value.
    pub fn parse<T>(
        &mut self,
        env: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let Some(entry) = self.settings.entry(env) else {
            self.errors.0.push(ConfigError::Undeclared {
                env: env.to_owned(),
            });
            return None;
        };
        let value = entry.value.as_ref()?;
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(reason) => {
                self.record_invalid(entry, reason);
                None
            }
        }
    }

    /// Records that the value of `env` is not acceptable.
    pub fn reject(&mut self, env: &str, reason: impl Into<String>) {
        match self.settings.entry(env) {
            Some(entry) => self.record_invalid(entry, reason.into()),
            None => self.errors.0.push(ConfigError::Undeclared {
                env: env.to_owned(),
            }),
        }
    }

    fn record_invalid(&mut self, entry: &Entry, reason: String) {
        let raw = entry.raw.clone().unwrap_or_default();
        self.errors.0.push(ConfigError::invalid(
            &entry.var,
            &raw,
            entry.origin.clone(),
            reason,
        ));
    }

    /// Ends validation: every problem (including those found while
    /// resolving) or the value built by `build`. `name` says which
    /// configuration was being built, for the rare [`ConfigError::Incomplete`].
    pub fn finish<T>(
        self,
        name: &'static str,
        build: impl FnOnce() -> Option<T>,
    ) -> Result<T, ConfigErrors> {
        let mut errors = self.settings.problems.clone();
        errors.extend(self.errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        build().ok_or_else(|| ConfigErrors(vec![ConfigError::Incomplete { config: name }]))
    }
}

/// The configuration of a connector without variables of its own: the
/// runtime's variables are all it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl TryFrom<&Settings> for NoConfig {
    type Error = ConfigErrors;

    fn try_from(_: &Settings) -> Result<Self, ConfigErrors> {
        Ok(Self)
    }
}

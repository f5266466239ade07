//! Threat and context entities ("elements") from galaxies and tags:
//! intrusion sets, malware, tools, attack patterns, sectors, countries.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::model::{Galaxy, GalaxyCluster, Tag};
use super::stix::{common_sdo, put_list, put_text};

/// What the platform knows about a tag value (`guess_threats_from_tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownThreat {
    /// The entity's name in the platform.
    pub name: String,
    /// `Intrusion-Set`, `Malware`, `Tool` or `Attack-Pattern`.
    pub entity_type: String,
}

/// Platform answers for the tag values of one event, looked up before
/// conversion (one query per distinct value, not per attribute).
pub type ThreatGuesses = HashMap<String, Option<KnownThreat>>;

/// One built entity.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub(crate) id: Arc<str>,
    pub(crate) name: String,
    pub(crate) object: Arc<Value>,
}

/// The elements of an event or attribute, each name used once across all
/// lists (first wins).
#[derive(Debug, Clone, Default)]
pub(crate) struct Elements {
    pub(crate) intrusion_sets: Vec<Element>,
    pub(crate) malwares: Vec<Element>,
    pub(crate) tools: Vec<Element>,
    pub(crate) attack_patterns: Vec<Element>,
    pub(crate) sectors: Vec<Element>,
    pub(crate) countries: Vec<Element>,
}

impl Elements {
    /// Intrusion sets, malware and tools: what indicators indicate.
    pub(crate) fn threats(&self) -> impl Iterator<Item = &Element> {
        self.intrusion_sets
            .iter()
            .chain(&self.malwares)
            .chain(&self.tools)
    }

    /// Every element in bundle order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Element> {
        self.threats()
            .chain(&self.attack_patterns)
            .chain(&self.sectors)
            .chain(&self.countries)
    }
}

/// Shared context of the objects built for one event.
pub(crate) struct ElementContext<'a> {
    pub(crate) author_id: &'a str,
    pub(crate) markings: &'a [Arc<str>],
    pub(crate) now: &'a str,
    pub(crate) guesses: Option<&'a ThreatGuesses>,
}

struct Builder<'a> {
    context: &'a ElementContext<'a>,
    elements: Elements,
    names: Vec<String>,
}

#[derive(Clone, Copy)]
enum Kind {
    IntrusionSet,
    Malware,
    Tool,
    AttackPattern,
    Sector,
    Country,
}

impl Builder<'_> {
    /// Adds `object` under `name` unless the name was already used.
    fn push(&mut self, kind: Kind, name: String, object: Map<String, Value>) {
        if self.names.contains(&name) {
            return;
        }
        self.names.push(name.clone());
        let id: Arc<str> = Arc::from(object["id"].as_str().unwrap_or_default());
        let element = Element {
            id,
            name,
            object: Arc::new(Value::Object(object)),
        };
        let list = match kind {
            Kind::IntrusionSet => &mut self.elements.intrusion_sets,
            Kind::Malware => &mut self.elements.malwares,
            Kind::Tool => &mut self.elements.tools,
            Kind::AttackPattern => &mut self.elements.attack_patterns,
            Kind::Sector => &mut self.elements.sectors,
            Kind::Country => &mut self.elements.countries,
        };
        list.push(element);
    }

    fn sdo(&self, object_type: &str, id: &str, name: &str) -> Map<String, Value> {
        common_sdo(
            object_type,
            id,
            self.context.author_id,
            self.context.now,
            name,
        )
    }

    fn finish(&self, mut object: Map<String, Value>) -> Map<String, Value> {
        put_list(&mut object, "object_marking_refs", self.context.markings);
        object
    }

    fn named(&self, kind: Kind, name: &str) -> Map<String, Value> {
        let (object_type, id) = match kind {
            Kind::IntrusionSet => ("intrusion-set", opencti_stix::id::intrusion_set(name)),
            Kind::Malware => ("malware", opencti_stix::id::malware(name)),
            Kind::Tool => ("tool", opencti_stix::id::tool(name)),
            Kind::AttackPattern => (
                "attack-pattern",
                opencti_stix::id::attack_pattern(name, None),
            ),
            Kind::Sector | Kind::Country => ("identity", opencti_stix::id::identity(name, "class")),
        };
        let mut object = self.sdo(object_type, &id, name);
        match kind {
            Kind::Malware => {
                object.insert("is_family".to_owned(), Value::Bool(true));
            }
            Kind::Sector | Kind::Country => {
                object.insert("identity_class".to_owned(), Value::from("class"));
            }
            _ => {}
        }
        self.finish(object)
    }
}

/// `value` up to `separator` (` - G0007` style suffixes), or all of it.
fn before<'v>(value: &'v str, separator: &str) -> &'v str {
    value.split(separator).next().unwrap_or(value)
}

/// Intrusion set names: drop the MITRE suffix, else glue `APT 28` into `APT28`.
fn intrusion_set_name(value: &str) -> String {
    if value.contains(" - G") {
        before(value, " - G").to_owned()
    } else if value.contains("APT ") {
        value.replace("APT ", "APT")
    } else {
        value.to_owned()
    }
}

fn aliases(cluster: &GalaxyCluster, name: &str) -> Vec<String> {
    cluster
        .meta
        .as_ref()
        .and_then(|meta| meta.synonyms.clone())
        .unwrap_or_else(|| vec![name.to_owned()])
}

fn is_galaxy(galaxy: &Galaxy, namespace: &str, name: &str) -> bool {
    galaxy.namespace.as_deref() == Some(namespace) && galaxy.name == name
}

/// Builds the elements of `galaxies` and `tags` (the Python `_prepare_elements`).
pub(crate) fn prepare(galaxies: &[Galaxy], tags: &[Tag], context: &ElementContext<'_>) -> Elements {
    let mut builder = Builder {
        context,
        elements: Elements::default(),
        names: Vec::new(),
    };
    for galaxy in galaxies {
        if galaxy.namespace.is_none() {
            tracing::info!(target: "misp_feed::convert", galaxy = %galaxy.name, "skipping galaxy without namespace");
            continue;
        }
        galaxy_elements(&mut builder, galaxy);
    }
    for tag in tags {
        tag_elements(&mut builder, &tag.name);
    }
    builder.elements
}

fn galaxy_elements(builder: &mut Builder<'_>, galaxy: &Galaxy) {
    let description = |cluster: &GalaxyCluster| cluster.description.clone();
    if is_galaxy(galaxy, "mitre-attack", "Intrusion Set")
        || is_galaxy(galaxy, "misp", "Threat Actor")
        || is_galaxy(galaxy, "misp", "Microsoft Activity Group actor")
    {
        for cluster in &galaxy.clusters {
            let name = intrusion_set_name(&cluster.value);
            let id = opencti_stix::id::intrusion_set(&name);
            let mut object = builder.sdo("intrusion-set", &id, &name);
            put_text(&mut object, "description", description(cluster));
            put_list(&mut object, "labels", &["intrusion-set"]);
            let mut object = builder.finish(object);
            put_list(&mut object, "x_opencti_aliases", &aliases(cluster, &name));
            builder.push(Kind::IntrusionSet, name, object);
        }
    }
    if is_galaxy(galaxy, "mitre-attack", "Tool") {
        for cluster in &galaxy.clusters {
            let name = before(&cluster.value, " - S").to_owned();
            let id = opencti_stix::id::tool(&name);
            let mut object = builder.sdo("tool", &id, &name);
            put_text(&mut object, "description", description(cluster));
            put_list(&mut object, "labels", &["tool"]);
            let mut object = builder.finish(object);
            put_list(&mut object, "x_opencti_aliases", &aliases(cluster, &name));
            builder.push(Kind::Tool, name, object);
        }
    }
    if is_galaxy(galaxy, "mitre-attack", "Malware")
        || ["Tool", "Ransomware", "Android", "Malpedia"]
            .iter()
            .any(|name| is_galaxy(galaxy, "misp", name))
    {
        for cluster in &galaxy.clusters {
            let name = before(&cluster.value, " - S").to_owned();
            let id = opencti_stix::id::malware(&name);
            let mut object = builder.sdo("malware", &id, &name);
            put_text(&mut object, "description", description(cluster));
            object.insert("is_family".to_owned(), Value::Bool(true));
            put_list(&mut object, "aliases", &aliases(cluster, &name));
            put_list(&mut object, "labels", std::slice::from_ref(&galaxy.name));
            let object = builder.finish(object);
            builder.push(Kind::Malware, name, object);
        }
    }
    if is_galaxy(galaxy, "mitre-attack", "Attack Pattern") {
        for cluster in &galaxy.clusters {
            let name = before(&cluster.value, " - T").to_owned();
            let mitre_id = cluster
                .meta
                .as_ref()
                .and_then(|meta| meta.external_id.as_ref())
                .and_then(|ids| ids.first())
                .cloned();
            let id = opencti_stix::id::attack_pattern(&name, mitre_id.as_deref());
            let mut object = builder.sdo("attack-pattern", &id, &name);
            put_text(&mut object, "description", description(cluster));
            let mut object = builder.finish(object);
            put_text(&mut object, "x_mitre_id", mitre_id);
            put_list(&mut object, "x_opencti_aliases", &aliases(cluster, &name));
            builder.push(Kind::AttackPattern, name, object);
        }
    }
    if is_galaxy(galaxy, "misp", "Sector") {
        for cluster in &galaxy.clusters {
            let name = cluster.value.clone();
            let id = opencti_stix::id::identity(&name, "class");
            let mut object = builder.sdo("identity", &id, &name);
            put_text(&mut object, "description", description(cluster));
            object.insert("identity_class".to_owned(), Value::from("class"));
            let object = builder.finish(object);
            builder.push(Kind::Sector, name, object);
        }
    }
    if is_galaxy(galaxy, "misp", "Country") {
        for cluster in &galaxy.clusters {
            // The country galaxy keeps the country name in the description.
            let Some(name) = cluster.description.clone() else {
                continue;
            };
            let Some(iso) = cluster.meta.as_ref().and_then(|meta| meta.iso.clone()) else {
                tracing::warn!(target: "misp_feed::convert", country = %name, "country cluster without ISO code skipped");
                continue;
            };
            let Ok(id) = opencti_stix::id::location(&name, Some("Country"), None, None) else {
                continue;
            };
            let mut object = builder.sdo("location", &id, &name);
            object.insert(
                "description".to_owned(),
                Value::from("Imported from MISP tag"),
            );
            object.insert("country".to_owned(), Value::from(iso));
            let object = builder.finish(object);
            builder.push(Kind::Country, name, object);
        }
    }
}

/// The value of `prefix:value` or `prefix="value"` tags (empty: none).
fn tag_value(name: &str) -> Option<String> {
    let quoted = name.contains('=');
    let parts: Vec<&str> = if quoted {
        name.split("=\"").collect()
    } else {
        name.split(':').collect()
    };
    let part = parts.get(1).filter(|part| !part.is_empty())?;
    Some(if quoted {
        super::tags::drop_last_char(part).trim().to_owned()
    } else {
        part.trim().to_owned()
    })
}

/// What `guess_threats_from_tags` asks the platform about a tag.
pub(crate) fn guess_key(name: &str) -> String {
    let mut value = match name.split('=').nth(1) {
        Some(after) => after.replace('"', ""),
        None => name.to_owned(),
    };
    if let Some(after) = value.split(':').nth(1) {
        value = after.replace('"', "");
    }
    value
}

const INTRUSION_SET_TAGS: &[&str] = &[
    "misp-galaxy:threat-actor",
    "misp-galaxy:mitre-mobile-attack-intrusion-set",
    "misp-galaxy:microsoft-activity-group",
    "misp-galaxy:mitre-threat-actor",
    "misp-galaxy:mitre-enterprise-attack-threat-actor",
    "misp-galaxy:mitre-intrusion-set",
    "misp-galaxy:mitre-enterprise-attack-intrusion-set",
    "intrusion-set",
];
const TOOL_TAGS: &[&str] = &[
    "misp-galaxy:mitre-tool",
    "misp-galaxy:mitre-enterprise-attack-tool",
    "tool",
];
const MALWARE_TAGS: &[&str] = &[
    "misp-galaxy:mitre-malware",
    "misp-galaxy:mitre-enterprise-attack-malware",
    "misp-galaxy:misp-ransomware",
    "misp-galaxy:misp-tool",
    "misp-galaxy:misp-android",
    "misp-galaxy:misp-malpedia",
    "malware",
];
const ATTACK_PATTERN_TAGS: &[&str] = &[
    "misp-galaxy:mitre-attack-pattern",
    "misp-galaxy:attack-pattern",
    "mitre-attack:attack-pattern",
    "mitre:",
];

fn starts_with_any(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|prefix| name.starts_with(prefix))
}

fn tag_elements(builder: &mut Builder<'_>, name: &str) {
    if let Some(guesses) = builder.context.guesses
        && let Some(Some(threat)) = guesses.get(&guess_key(name))
    {
        let kind = match threat.entity_type.as_str() {
            "Intrusion-Set" => Some(Kind::IntrusionSet),
            "Malware" => Some(Kind::Malware),
            "Tool" => Some(Kind::Tool),
            "Attack-Pattern" => Some(Kind::AttackPattern),
            _ => None,
        };
        if let Some(kind) = kind {
            let object = builder.named(kind, &threat.name);
            builder.push(kind, threat.name.clone(), object);
        }
    }
    if starts_with_any(name, INTRUSION_SET_TAGS)
        && let Some(value) = tag_value(name)
    {
        let entity = intrusion_set_name(&value);
        let object = builder.named(Kind::IntrusionSet, &entity);
        builder.push(Kind::IntrusionSet, entity, object);
    }
    if starts_with_any(name, TOOL_TAGS)
        && let Some(value) = tag_value(name)
    {
        let entity = before(&value, " - S").to_owned();
        let object = builder.named(Kind::Tool, &entity);
        builder.push(Kind::Tool, entity, object);
    }
    if starts_with_any(name, MALWARE_TAGS)
        && let Some(value) = tag_value(name)
    {
        let entity = before(&value, " - S").to_owned();
        let object = builder.named(Kind::Malware, &entity);
        builder.push(Kind::Malware, entity, object);
    }
    if starts_with_any(name, ATTACK_PATTERN_TAGS)
        && let Some(value) = tag_value(name)
    {
        let entity = before(&value, " - T").to_owned();
        let object = builder.named(Kind::AttackPattern, &entity);
        builder.push(Kind::AttackPattern, entity, object);
    }
    if name.starts_with("misp-galaxy:sector")
        && let Some(quoted) = name.split("=\"").nth(1).filter(|part| !part.is_empty())
    {
        let entity = super::tags::drop_last_char(quoted).trim().to_owned();
        let object = builder.named(Kind::Sector, &entity);
        builder.push(Kind::Sector, entity, object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_and_names() {
        assert_eq!(
            tag_value("misp-galaxy:threat-actor=\"APT 28\""),
            Some("APT 28".into())
        );
        assert_eq!(tag_value("intrusion-set:Lazarus"), Some("Lazarus".into()));
        assert_eq!(tag_value("tool"), None);
        assert_eq!(
            tag_value("misp-galaxy:mitre-tool=\"\""),
            Some(String::new())
        );
        assert_eq!(intrusion_set_name("APT28 - G0007"), "APT28");
        assert_eq!(intrusion_set_name("APT 28"), "APT28");
        assert_eq!(before("Mimikatz - S0002", " - S"), "Mimikatz");
    }

    #[test]
    fn guess_keys_strip_prefixes_and_quotes() {
        assert_eq!(guess_key("misp-galaxy:threat-actor=\"APT 28\""), "APT 28");
        assert_eq!(guess_key("intrusion-set:Lazarus"), "Lazarus");
        assert_eq!(guess_key("Emotet"), "Emotet");
    }
}

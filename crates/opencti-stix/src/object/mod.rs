//! Typed STIX 2.1 objects: the SDOs, SROs, observables (OpenCTI's custom
//! ones included) and marking definitions that connectors produce and
//! OpenCTI's live stream carries.
//!
//! Every model reads and writes its own JSON form: typed fields for the
//! properties connectors use, and an `extra` map for everything else
//! (`x_opencti_*`, `extensions`, custom properties, and `null`s), so that
//! parsing then serialising gives back an equal JSON value. Objects of other
//! types become [`GenericObject`]s, kept as they are.
//!
//! Timestamps are kept as the strings they were given as: pycti hashes
//! dates verbatim, and reformatting them would change ids and round trips.
//! The [builders](crate::builder) write them in the STIX format.
//!
//! # Memory
//!
//! A [`StixObject`] is two words (a boxed model); the box holds the model's
//! fields inline (`String`, `Option<String>` and `Option<Vec<_>>` are three
//! words each, 24 bytes on 64-bit targets) plus an `extra` map (72 bytes)
//! whose empty form does not allocate. [`CommonProperties`] take 240 bytes,
//! so an [`Indicator`] is 576 bytes, a [`Relationship`] 456, an
//! [`Ipv4Address`] 376, before the heap bytes of the strings and lists. A
//! [`GenericObject`] is its map (about 30 bytes per property plus keys and
//! values). The `object_sizes` unit test pins these numbers.

pub(crate) mod fields;
mod sco;
mod sdo;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use sco::*;
pub use sdo::*;

use crate::error::StixError;
use fields::{FieldError, Model, model, model_field_values, property_group};

property_group! {
    /// Properties common to SDOs, SROs and marking definitions.
    pub struct CommonProperties {
        /// `<type>--<uuid>`.
        req id: String,
        /// `2.1` for STIX 2.1 objects.
        opt spec_version: String,
        /// Id of the author identity.
        opt created_by_ref: String,
        /// Creation timestamp, as given.
        opt created: String,
        /// Last modification timestamp, as given.
        opt modified: String,
        /// Whether the object was revoked.
        opt revoked: bool,
        /// Free-form labels (OpenCTI shows them as labels).
        opt labels: Vec<String>,
        /// Confidence, 0 to 100.
        opt confidence: i64,
        /// Language of the text properties.
        opt lang: String,
        /// External references.
        opt external_references: Vec<ExternalReference>,
        /// Ids of the marking definitions that apply.
        opt object_marking_refs: Vec<String>,
    }
}

impl CommonProperties {
    fn object_id(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

property_group! {
    /// Properties common to observables (SCOs), including the custom ones
    /// pycti connectors set on them.
    pub struct ObservableProperties {
        /// `<type>--<uuid>`.
        req id: String,
        /// `2.1` for STIX 2.1 objects.
        opt spec_version: String,
        /// Ids of the marking definitions that apply.
        opt object_marking_refs: Vec<String>,
        /// Author identity (pycti custom property).
        opt created_by_ref: String,
        /// Labels (pycti custom property).
        opt labels: Vec<String>,
        /// OpenCTI score, 0 to 100.
        opt x_opencti_score: i64,
        /// OpenCTI description.
        opt x_opencti_description: String,
        /// Author identity, OpenCTI spelling.
        opt x_opencti_created_by_ref: String,
        /// Labels, OpenCTI spelling.
        opt x_opencti_labels: Vec<String>,
        /// External references, OpenCTI spelling.
        opt x_opencti_external_references: Vec<ExternalReference>,
    }
}

impl ObservableProperties {
    fn object_id(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

model! {
    /// A reference to a source outside STIX (a URL, a CVE, a MITRE id...).
    ///
    /// STIX requires `source_name`, but pycti and OpenCTI accept references
    /// without it, so it is optional here.
    pub struct ExternalReference {
        /// Name of the source (`mitre-attack`, `cve`...).
        opt source_name: String,
        /// Description.
        opt description: String,
        /// URL.
        opt url: String,
        /// Hashes of the referenced content.
        opt hashes: Hashes,
        /// Identifier within the source (`T1566`, `CVE-2021-44228`...).
        opt external_id: String,
    }
}

model! {
    /// A kill chain phase (`{"kill_chain_name": "mitre-attack", "phase_name":
    /// "execution"}`). Both names are optional here because pycti accepts
    /// phases missing one (its splitter hashes the gap as `null`).
    pub struct KillChainPhase {
        /// The kill chain (`mitre-attack`, `lockheed-martin-cyber-kill-chain`...).
        opt kill_chain_name: String,
        /// The phase within it.
        opt phase_name: String,
    }
}

model_field_values!(ExternalReference, KillChainPhase, WindowsRegistryValue);

/// Hashes of a file, artifact or certificate (`{"MD5": "...", "SHA-256":
/// "..."}`), in document order: stix2 hashes the *first* one when none of
/// MD5, SHA-1, SHA-256 and SHA-512 is present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashes(Vec<(String, String)>);

impl Hashes {
    /// No hashes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash for `algorithm`, spelled exactly as stored.
    #[must_use]
    pub fn get(&self, algorithm: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == algorithm)
            .map(|(_, value)| value.as_str())
    }

    /// Sets the hash for `algorithm` (replacing one of the same spelling).
    pub fn insert(&mut self, algorithm: impl Into<String>, value: impl Into<String>) {
        let algorithm = algorithm.into();
        let value = value.into();
        match self.0.iter_mut().find(|(name, _)| *name == algorithm) {
            Some(slot) => slot.1 = value,
            None => self.0.push((algorithm, value)),
        }
    }

    /// `(algorithm, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Number of hashes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no hash.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Hashes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut hashes = Self::new();
        for (algorithm, value) in iter {
            hashes.insert(algorithm, value);
        }
        hashes
    }
}

impl Serialize for Hashes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HashesVisitor;
        impl<'de> serde::de::Visitor<'de> for HashesVisitor {
            type Value = Hashes;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of hash algorithm to hash value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Hashes, A::Error> {
                let mut hashes = Hashes::new();
                while let Some((algorithm, value)) = map.next_entry::<String, String>()? {
                    hashes.insert(algorithm, value);
                }
                Ok(hashes)
            }
        }
        deserializer.deserialize_map(HashesVisitor)
    }
}

/// An object of a type without a model here (`incident`, `x-acme-widget`,
/// `extension-definition`...), kept property for property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GenericObject {
    /// All properties, `type` and `id` included, in document order.
    pub properties: Map<String, Value>,
}

impl GenericObject {
    /// The object's `type`.
    #[must_use]
    pub fn object_type(&self) -> &str {
        self.properties
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `id`, if it has a string one.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.properties.get("id").and_then(Value::as_str)
    }
}

/// Declares [`StixObject`] and its dispatch on `type` from one list.
macro_rules! stix_objects {
    ($( $variant:ident($model:ident) = $stix_type:literal; )*) => {
        /// Any STIX object, dispatched on its `type`.
        ///
        /// Known types get their typed model; any other type (custom,
        /// OpenCTI-specific, future) is kept as a [`GenericObject`]. Both
        /// serialise back to the JSON they were read from.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum StixObject {
            $(
                #[doc = concat!("A `", $stix_type, "`.")]
                $variant(Box<$model>),
            )*
            /// An object of any other type.
            Other(Box<GenericObject>),
        }

        impl StixObject {
            /// The object's `type`.
            #[must_use]
            pub fn object_type(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $stix_type, )*
                    Self::Other(object) => object.object_type(),
                }
            }

            /// The object's `id` (`None` only for a generic object without one).
            #[must_use]
            pub fn id(&self) -> Option<&str> {
                match self {
                    $( Self::$variant(object) => Some(&object.common.id), )*
                    Self::Other(object) => object.id(),
                }
            }

            fn from_map(map: Map<String, Value>) -> Result<Self, FieldError> {
                let object_type = map.get("type").and_then(Value::as_str).unwrap_or_default();
                match object_type {
                    $( $stix_type => $model::from_map(map).map(|object| Self::$variant(Box::new(object))), )*
                    _ if map.get("type").is_some_and(Value::is_string) => {
                        Ok(Self::Other(Box::new(GenericObject { properties: map })))
                    }
                    _ => Err(FieldError::new("type", "a STIX object needs a string `type`")
                        .with_id(map.get("id").and_then(Value::as_str))),
                }
            }

            fn into_map(self) -> Map<String, Value> {
                match self {
                    $( Self::$variant(object) => object.into_map(), )*
                    Self::Other(object) => object.properties,
                }
            }
        }

        impl Serialize for StixObject {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(object) => object.serialize(serializer), )*
                    Self::Other(object) => object.serialize(serializer),
                }
            }
        }

        $(
            impl From<$model> for StixObject {
                fn from(object: $model) -> Self {
                    Self::$variant(Box::new(object))
                }
            }
        )*
    };
}

stix_objects! {
    AttackPattern(AttackPattern) = "attack-pattern";
    Campaign(Campaign) = "campaign";
    CourseOfAction(CourseOfAction) = "course-of-action";
    Grouping(Grouping) = "grouping";
    Identity(Identity) = "identity";
    Indicator(Indicator) = "indicator";
    Infrastructure(Infrastructure) = "infrastructure";
    IntrusionSet(IntrusionSet) = "intrusion-set";
    Location(Location) = "location";
    Malware(Malware) = "malware";
    Note(Note) = "note";
    ObservedData(ObservedData) = "observed-data";
    Report(Report) = "report";
    ThreatActor(ThreatActor) = "threat-actor";
    Tool(Tool) = "tool";
    Vulnerability(Vulnerability) = "vulnerability";
    Relationship(Relationship) = "relationship";
    Sighting(Sighting) = "sighting";
    MarkingDefinition(MarkingDefinition) = "marking-definition";
    Artifact(Artifact) = "artifact";
    AutonomousSystem(AutonomousSystem) = "autonomous-system";
    Directory(Directory) = "directory";
    DomainName(DomainName) = "domain-name";
    EmailAddress(EmailAddress) = "email-addr";
    EmailMessage(EmailMessage) = "email-message";
    File(File) = "file";
    Ipv4Address(Ipv4Address) = "ipv4-addr";
    Ipv6Address(Ipv6Address) = "ipv6-addr";
    MacAddress(MacAddress) = "mac-addr";
    Mutex(Mutex) = "mutex";
    NetworkTraffic(NetworkTraffic) = "network-traffic";
    Process(Process) = "process";
    Software(Software) = "software";
    Url(Url) = "url";
    UserAccount(UserAccount) = "user-account";
    WindowsRegistryKey(WindowsRegistryKey) = "windows-registry-key";
    X509Certificate(X509Certificate) = "x509-certificate";
    Hostname(Hostname) = "hostname";
    CryptocurrencyWallet(CryptocurrencyWallet) = "cryptocurrency-wallet";
    Text(Text) = "text";
    UserAgent(UserAgent) = "user-agent";
    PhoneNumber(PhoneNumber) = "phone-number";
    BankAccount(BankAccount) = "bank-account";
    Credential(Credential) = "credential";
    TrackingNumber(TrackingNumber) = "tracking-number";
    PaymentCard(PaymentCard) = "payment-card";
    MediaContent(MediaContent) = "media-content";
    Persona(Persona) = "persona";
    CryptographicKey(CryptographicKey) = "cryptographic-key";
    SshKey(SshKey) = "ssh-key";
    AiPrompt(AiPrompt) = "ai-prompt";
    Imei(Imei) = "imei";
    Iccid(Iccid) = "iccid";
    Imsi(Imsi) = "imsi";
}

impl StixObject {
    /// Reads an object from its JSON value.
    ///
    /// # Errors
    /// [`StixError::InvalidObject`] naming the object's id and the path of
    /// the property at fault, e.g. `external_references[0].url`.
    pub fn from_value(value: Value) -> Result<Self, StixError> {
        match value {
            Value::Object(map) => {
                Self::from_map(map).map_err(|error| StixError::object(None, error))
            }
            other => Err(StixError::object(
                None,
                FieldError::new(
                    "",
                    format!("expected an object, found {}", fields::kind(&other)),
                ),
            )),
        }
    }

    /// Moves the object into a JSON value (strings are moved, not copied).
    #[must_use]
    pub fn into_value(self) -> Value {
        Value::Object(self.into_map())
    }

    /// Reads the object at `index` of a bundle.
    pub(crate) fn from_bundle_item(index: usize, value: Value) -> Result<Self, StixError> {
        match value {
            Value::Object(map) => {
                Self::from_map(map).map_err(|error| StixError::object(Some(index), error))
            }
            other => Err(StixError::object(
                Some(index),
                FieldError::new(
                    "",
                    format!("expected an object, found {}", fields::kind(&other)),
                ),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for StixObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_map(map).map_err(serde::de::Error::custom)
    }
}

impl From<GenericObject> for StixObject {
    fn from(object: GenericObject) -> Self {
        Self::Other(Box::new(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// The numbers the module documentation gives (64-bit targets).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn object_sizes() {
        assert_eq!(size_of::<StixObject>(), 16);
        assert_eq!(size_of::<Map<String, Value>>(), 72);
        assert_eq!(size_of::<CommonProperties>(), 240);
        assert_eq!(size_of::<Indicator>(), 576);
        assert_eq!(size_of::<Relationship>(), 456);
        assert_eq!(size_of::<Ipv4Address>(), 376);
    }
}

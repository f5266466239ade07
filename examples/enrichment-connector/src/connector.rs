//! The connector: its identity and its `enrich`.

use opencti_connector::prelude::*;
use opencti_stix::StixObject;
use serde_json::{Value, json};

use crate::config::{EnricherConfig, VARS};
use crate::mapping::{self, AddressClass, Kind, MappingError};

/// What the `opencti-enrichment-connector` binary is (name, version,
/// variables), for checks of the documentation against the code.
pub static SPEC: ConnectorSpec =
    spec::<ObservableEnricher>().with_kind_vars(opencti_connector::listen::ENRICHMENT_VARS);

/// Why an enrichment failed; the job's work is closed in error with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrichError {
    /// The entity is of a type the connector does not enrich (outside a
    /// playbook, where it is passed on unchanged instead).
    #[error(
        "cannot enrich a {entity_type}: this connector enriches IPv4-Addr, IPv6-Addr, Domain-Name, Hostname and Url observables"
    )]
    Unsupported {
        /// The entity's type.
        entity_type: String,
    },
    /// The observable has no `value`.
    #[error("the {entity_type} {entity_id} has no `value` to enrich")]
    NoValue {
        /// The observable's type.
        entity_type: &'static str,
        /// Its id.
        entity_id: String,
    },
    /// The value could not be read, or an object not built.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The bundle could not be sent (or shutdown was requested).
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The connector: the label settings are all it keeps between jobs.
#[derive(Debug)]
pub struct ObservableEnricher {
    config: EnricherConfig,
}

impl ObservableEnricher {
    /// The label of an address class, if it gets one.
    fn label(&self, class: AddressClass) -> Option<String> {
        (class != AddressClass::Global || self.config.label_public)
            .then(|| format!("{}{}", self.config.label_prefix, class.name()))
    }

    /// A playbook step's bundle goes on as it came (a playbook waits for
    /// every step's answer); outside a playbook nothing is sent.
    async fn pass_on(
        request: &EnrichmentRequest,
        ctx: &JobContext,
        summary: String,
    ) -> Result<String, EnrichError> {
        if request.from_playbook {
            Box::pin(ctx.send_bundle(bundle(request.stix_objects.clone()))).await?;
        }
        Ok(summary)
    }
}

impl Connector for ObservableEnricher {
    type Config = EnricherConfig;
    type Error = EnrichError;
    const VARS: &'static [Var] = VARS;
    const NAME: &'static str = "opencti-enrichment-connector";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Labels special-purpose IP addresses and adds the refanged, canonical and IDN forms of observables";
    const LISTING: Listing = Listing {
        title: "Observable enricher",
        directory: "examples/enrichment-connector",
        ..Listing::DEFAULT
    };

    fn from_config(config: EnricherConfig) -> Result<Self, EnrichError> {
        Ok(Self { config })
    }
}

impl Enricher for ObservableEnricher {
    const PLAYBOOK_COMPATIBLE: bool = true;

    async fn enrich(
        &mut self,
        request: EnrichmentRequest,
        ctx: &JobContext,
    ) -> Result<String, EnrichError> {
        let entity = &request.stix_entity;
        let stix_type = entity["type"].as_str().unwrap_or_default();
        let Some(kind) = Kind::of_stix_type(stix_type) else {
            // As pycti connectors do: an entity out of scope fails the
            // work, except in a playbook, which gets its bundle back.
            let entity_type = request
                .entity_type
                .clone()
                .unwrap_or_else(|| stix_type.to_owned());
            if request.from_playbook {
                let summary = format!("{entity_type} is not enriched; bundle passed on unchanged");
                return Self::pass_on(&request, ctx, summary).await;
            }
            return Err(EnrichError::Unsupported { entity_type });
        };
        let Some(value) = entity["value"].as_str() else {
            return Err(EnrichError::NoValue {
                entity_type: kind.entity_type(),
                entity_id: request.entity_id.clone(),
            });
        };
        let findings = mapping::analyse(kind, value)?;
        let label = findings.class.and_then(|class| self.label(class));
        if label.is_none() && findings.variants.is_empty() {
            return Self::pass_on(&request, ctx, format!("Nothing to add to {value}")).await;
        }
        let author = mapping::author()?;
        let mut objects = request.stix_objects.clone();
        if let Some(label) = &label {
            // The entity goes back with its label; in a playbook's bundle
            // it is replaced where it stands.
            let labelled = mapping::with_label(entity, label);
            match objects
                .iter_mut()
                .find(|object| object["id"] == entity["id"])
            {
                Some(object) => *object = labelled,
                None => objects.push(labelled),
            }
        }
        objects.push(StixObject::from(author.clone()).into_value());
        objects.extend(mapping::variant_objects(entity, &findings, &author)?);
        // Boxed: the send's future is large, and the listen loop's future
        // holding it inline outgrows the compiler's layout depth limit.
        Box::pin(ctx.send_bundle(bundle(objects))).await?;
        let mut summary = format!("Enriched {value}:");
        if let Some(label) = label {
            summary.push_str(&format!(" labelled {label},"));
        }
        summary.push_str(&format!(
            " {} related observable(s)",
            findings.variants.len()
        ));
        Ok(summary)
    }
}

/// A bundle of `objects`.
fn bundle(objects: Vec<Value>) -> Value {
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": Value::Array(objects),
    })
}

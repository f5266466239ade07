//! Domain objects (SDOs), relationship objects (SROs) and marking
//! definitions.

use serde_json::Value;

use super::fields::model;
use super::{CommonProperties, KillChainPhase};

model! {
    /// An `attack-pattern` (a technique such as MITRE ATT&CK's T1566).
    pub struct AttackPattern("attack-pattern", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Other names.
        opt aliases: Vec<String>,
        /// Kill chain phases.
        opt kill_chain_phases: Vec<KillChainPhase>,
        /// MITRE ATT&CK id (`T1566.001`), which the id derives from.
        opt x_mitre_id: String,
    }
}

model! {
    /// A `campaign`.
    pub struct Campaign("campaign", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Other names.
        opt aliases: Vec<String>,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
        /// Objective.
        opt objective: String,
    }
}

model! {
    /// A `course-of-action` (a mitigation).
    pub struct CourseOfAction("course-of-action", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// MITRE ATT&CK id (`M1051`), which the id derives from.
        opt x_mitre_id: String,
    }
}

model! {
    /// A `grouping` of objects sharing a context.
    pub struct Grouping("grouping", CommonProperties) {
        /// Name.
        opt name: String,
        /// Description.
        opt description: String,
        /// Context (`suspicious-activity`, `malware-analysis`, `unspecified`).
        req context: String,
        /// Ids of the grouped objects.
        req object_refs: Vec<String>,
    }
}

model! {
    /// An `identity`: an organization (a connector's author), an
    /// individual, a sector (`class`), a system...
    pub struct Identity("identity", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Roles.
        opt roles: Vec<String>,
        /// `organization`, `individual`, `class`, `system`, `group`...
        opt identity_class: String,
        /// Sectors.
        opt sectors: Vec<String>,
        /// Contact information.
        opt contact_information: String,
    }
}

model! {
    /// An `indicator`: a detection pattern.
    pub struct Indicator("indicator", CommonProperties) {
        /// Name.
        opt name: String,
        /// Description.
        opt description: String,
        /// Indicator types (`malicious-activity`...).
        opt indicator_types: Vec<String>,
        /// The pattern (`[ipv4-addr:value = '198.51.100.7']`).
        req pattern: String,
        /// Pattern language: `stix`, `pcre`, `sigma`, `snort`, `suricata`,
        /// `yara`...
        req pattern_type: String,
        /// Version of the pattern language.
        opt pattern_version: String,
        /// Start of validity, as given.
        req valid_from: String,
        /// End of validity, as given.
        opt valid_until: String,
        /// Kill chain phases.
        opt kill_chain_phases: Vec<KillChainPhase>,
        /// OpenCTI score, 0 to 100.
        opt x_opencti_score: i64,
        /// Whether OpenCTI should use it for detection.
        opt x_opencti_detection: bool,
        /// OpenCTI type of the observable the pattern describes
        /// (`IPv4-Addr`, `StixFile`...).
        opt x_opencti_main_observable_type: String,
    }
}

model! {
    /// An `infrastructure` (C2 servers, botnets...).
    pub struct Infrastructure("infrastructure", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Infrastructure types.
        opt infrastructure_types: Vec<String>,
        /// Other names.
        opt aliases: Vec<String>,
        /// Kill chain phases.
        opt kill_chain_phases: Vec<KillChainPhase>,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
    }
}

model! {
    /// An `intrusion-set` (a threat group such as APT28).
    pub struct IntrusionSet("intrusion-set", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Other names.
        opt aliases: Vec<String>,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
        /// Goals.
        opt goals: Vec<String>,
        /// Resource level.
        opt resource_level: String,
        /// Primary motivation.
        opt primary_motivation: String,
        /// Secondary motivations.
        opt secondary_motivations: Vec<String>,
    }
}

model! {
    /// A `location`: region, country, administrative area, city or
    /// position (OpenCTI's `x_opencti_location_type`).
    pub struct Location("location", CommonProperties) {
        /// Name.
        opt name: String,
        /// Description.
        opt description: String,
        /// Latitude in degrees.
        opt latitude: f64,
        /// Longitude in degrees.
        opt longitude: f64,
        /// Precision of the coordinates, in metres.
        opt precision: f64,
        /// Region (`western-europe`...).
        opt region: String,
        /// Country code (`FR`).
        opt country: String,
        /// Administrative area.
        opt administrative_area: String,
        /// City.
        opt city: String,
        /// Street address.
        opt street_address: String,
        /// Postal code.
        opt postal_code: String,
        /// OpenCTI location type: `Region`, `Country`,
        /// `Administrative-Area`, `City` or `Position`.
        opt x_opencti_location_type: String,
    }
}

model! {
    /// A `malware` (a family or an instance).
    pub struct Malware("malware", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Malware types (`ransomware`, `trojan`...).
        opt malware_types: Vec<String>,
        /// Whether this is a family rather than an instance.
        opt is_family: bool,
        /// Other names.
        opt aliases: Vec<String>,
        /// Kill chain phases.
        opt kill_chain_phases: Vec<KillChainPhase>,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
        /// Ids of the `software` it runs on.
        opt operating_system_refs: Vec<String>,
        /// Processor architectures.
        opt architecture_execution_envs: Vec<String>,
        /// Implementation languages.
        opt implementation_languages: Vec<String>,
        /// Capabilities.
        opt capabilities: Vec<String>,
        /// Ids of sample `file`s or `artifact`s.
        opt sample_refs: Vec<String>,
    }
}

model! {
    /// A `note` about other objects.
    pub struct Note("note", CommonProperties) {
        /// Summary.
        opt abstract_ as "abstract": String,
        /// Content.
        req content: String,
        /// Authors.
        opt authors: Vec<String>,
        /// Ids of the objects the note is about.
        req object_refs: Vec<String>,
    }
}

model! {
    /// An `observed-data`: observables seen over a period.
    pub struct ObservedData("observed-data", CommonProperties) {
        /// Start of the observation, as given.
        req first_observed: String,
        /// End of the observation, as given.
        req last_observed: String,
        /// How many times the data was observed.
        req number_observed: i64,
        /// Ids of the observed objects.
        opt object_refs: Vec<String>,
    }
}

model! {
    /// A `report`: a published collection of objects.
    pub struct Report("report", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Report types (`threat-report`, OpenCTI's `misp-event`...).
        opt report_types: Vec<String>,
        /// Publication timestamp, as given.
        req published: String,
        /// Ids of the objects in the report.
        req object_refs: Vec<String>,
    }
}

model! {
    /// A `threat-actor`.
    pub struct ThreatActor("threat-actor", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Threat actor types.
        opt threat_actor_types: Vec<String>,
        /// Other names.
        opt aliases: Vec<String>,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
        /// Roles.
        opt roles: Vec<String>,
        /// Goals.
        opt goals: Vec<String>,
        /// Sophistication.
        opt sophistication: String,
        /// Resource level.
        opt resource_level: String,
        /// Primary motivation.
        opt primary_motivation: String,
        /// Secondary motivations.
        opt secondary_motivations: Vec<String>,
        /// Personal motivations.
        opt personal_motivations: Vec<String>,
    }
}

model! {
    /// A `tool` (legitimate software used by attackers).
    pub struct Tool("tool", CommonProperties) {
        /// Name.
        req name: String,
        /// Description.
        opt description: String,
        /// Tool types.
        opt tool_types: Vec<String>,
        /// Other names.
        opt aliases: Vec<String>,
        /// Kill chain phases.
        opt kill_chain_phases: Vec<KillChainPhase>,
        /// Version.
        opt tool_version: String,
    }
}

model! {
    /// A `vulnerability` (a CVE...).
    pub struct Vulnerability("vulnerability", CommonProperties) {
        /// Name (`CVE-2021-44228`).
        req name: String,
        /// Description.
        opt description: String,
    }
}

model! {
    /// A `relationship` between two objects.
    pub struct Relationship("relationship", CommonProperties) {
        /// `uses`, `indicates`, `based-on`, `related-to`, `targets`...
        req relationship_type: String,
        /// Description.
        opt description: String,
        /// Id of the source object.
        req source_ref: String,
        /// Id of the target object.
        req target_ref: String,
        /// Start of the relationship, as given.
        opt start_time: String,
        /// End of the relationship, as given.
        opt stop_time: String,
    }
}

model! {
    /// A `sighting`: something was seen, somewhere.
    pub struct Sighting("sighting", CommonProperties) {
        /// Description.
        opt description: String,
        /// First seen, as given.
        opt first_seen: String,
        /// Last seen, as given.
        opt last_seen: String,
        /// Number of times seen.
        opt count: i64,
        /// Id of what was seen (an indicator, a malware...).
        req sighting_of_ref: String,
        /// Ids of the `observed-data` backing the sighting.
        opt observed_data_refs: Vec<String>,
        /// Ids of the identities or locations where it was seen.
        opt where_sighted_refs: Vec<String>,
        /// Whether this is a summary of several sightings.
        opt summary: bool,
    }
}

model! {
    /// A `marking-definition`: TLP, PAP, statements (see
    /// [`crate::marking`] for the standard ones).
    ///
    /// STIX writes TLP markings as `definition_type: "tlp"`,
    /// `definition: {"tlp": "green"}`; OpenCTI's own markings carry their
    /// type and name in `x_opencti_definition_type` /
    /// `x_opencti_definition` next to a statement definition. `definition`
    /// is kept as raw JSON to hold both forms.
    pub struct MarkingDefinition("marking-definition", CommonProperties) {
        /// Name (`TLP:GREEN`).
        opt name: String,
        /// `tlp`, `statement`, or OpenCTI's `TLP` / `PAP`.
        opt definition_type: String,
        /// `{"tlp": "green"}`, `{"statement": "..."}`, or a plain string.
        opt definition: Value,
        /// OpenCTI's marking type (`TLP`, `PAP`...).
        opt x_opencti_definition_type: String,
        /// OpenCTI's marking name (`TLP:AMBER+STRICT`, `PAP:RED`...).
        opt x_opencti_definition: String,
        /// OpenCTI display order.
        opt x_opencti_order: i64,
        /// OpenCTI display colour.
        opt x_opencti_color: String,
    }
}

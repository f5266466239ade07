//! Live-stream events for stream-connector tests: indicators with ids
//! derived from a number (with a STIX pattern or another kind), objects
//! that are not indicators, and the events that create, change and delete
//! them.
//!
//! ```
//! use opencti_testkit::events::{create, delete, indicator, indicator_id, revoked, update};
//!
//! let stream = vec![
//!     create(indicator(1, "[ipv4-addr:value = '198.51.100.1']")),
//!     update(revoked(indicator(1, "[ipv4-addr:value = '198.51.100.1']"), true)),
//!     delete(indicator_id(1)),
//! ];
//! assert_eq!(stream.len(), 3);
//! ```

use opencti_sim::{EventInjection, EventKind};
use serde_json::{Value, json};

/// The `valid_from` of every [`indicator`].
pub const VALID_FROM: &str = "2025-11-24T10:00:00.000Z";

/// `indicator--00000000-0000-4000-8000-<n, 12 digits>`: a valid id that
/// names its number.
pub fn indicator_id(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

/// A STIX indicator `n` (`name` `"indicator <n>"`) with this STIX pattern,
/// valid from [`VALID_FROM`], not revoked.
pub fn indicator(n: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(n),
        "name": format!("indicator {n}"),
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": VALID_FROM,
        "revoked": false,
    })
}

/// `indicator` with another `pattern_type` (`yara`, `sigma`, `snort`,
/// ...): an indicator whose pattern a sink of STIX patterns passes over.
///
/// ```
/// use opencti_testkit::events::{indicator, with_pattern_type};
///
/// let yara = with_pattern_type(indicator(7, "rule x { condition: true }"), "yara");
/// assert_eq!(yara["pattern_type"], "yara");
/// ```
pub fn with_pattern_type(mut indicator: Value, pattern_type: &str) -> Value {
    indicator["pattern_type"] = json!(pattern_type);
    indicator
}

/// `malware--00000000-0000-4000-8000-<n, 12 digits>`, a malware named
/// `"malware <n>"`: an object in the stream that is not an indicator.
///
/// ```
/// use opencti_testkit::events::malware;
///
/// assert_eq!(malware(8)["id"], "malware--00000000-0000-4000-8000-000000000008");
/// ```
pub fn malware(n: u32) -> Value {
    json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": format!("malware--00000000-0000-4000-8000-{n:012}"),
        "name": format!("malware {n}"),
        "is_family": false,
    })
}

/// `object` with `revoked` set.
pub fn revoked(mut object: Value, revoked: bool) -> Value {
    object["revoked"] = json!(revoked);
    object
}

/// The creation of `object`.
pub fn create(object: Value) -> EventInjection {
    EventInjection::new(EventKind::Create, object)
}

/// An update to `object` (the patch is computed against the stored one).
pub fn update(object: Value) -> EventInjection {
    EventInjection::new(EventKind::Update, object)
}

/// The deletion of the stored object `id`.
pub fn delete(id: impl Into<String>) -> EventInjection {
    EventInjection::delete_id(id)
}

/// A stream of 10,000 events that churns indicators as a busy platform
/// does, for benchmarks: 6,000 creations, then 2,000 pattern changes,
/// 1,000 revocations and 1,000 deletions of those indicators.
/// `pattern(n, version)` gives indicator `n`'s pattern; a change bumps
/// `version` from 0 to 1.
#[derive(Debug, Clone)]
pub struct Churn {
    /// The events, in stream order.
    pub events: Vec<EventInjection>,
    /// How many indicators are live (neither revoked nor deleted) at the end.
    pub live: usize,
}

impl Churn {
    /// The stream, with each indicator's pattern from `pattern`.
    pub fn new(pattern: impl Fn(u32, u32) -> String) -> Self {
        const CREATED: u32 = 6_000;
        let churned = |n: u32, version: u32, is_revoked: bool| {
            revoked(indicator(n, &pattern(n, version)), is_revoked)
        };
        let mut events: Vec<EventInjection> =
            (0..CREATED).map(|n| create(churned(n, 0, false))).collect();
        events.extend((0..2_000).map(|n| update(churned(n, 1, false))));
        events.extend((2_000..3_000).map(|n| update(churned(n, 0, true))));
        events.extend((3_000..4_000).map(|n| delete(indicator_id(n))));
        Self {
            events,
            live: (CREATED - 2_000) as usize,
        }
    }
}

//! Call faults: a named GraphQL operation fails on chosen calls, so tests
//! and drills can make the platform refuse any step of a run.

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The message a faulted call answers with (and what the call history shows).
pub const FAULT_MESSAGE: &str = "fault injected by opencti-sim";

/// Makes the calls of one GraphQL operation fail: after `after` calls that
/// pass, the next `times` ones fail, then the operation works again.
///
/// A failed call answers, by default, as the platform does when a resolver
/// throws: HTTP 200 with an `INTERNAL_SERVER_ERROR` in `errors`. With
/// [`CallFault::http_status`] it answers that HTTP status instead (a 502,
/// 503 or 504 is what a proxy in front of a restarting platform sends).
///
/// Calls are counted from the moment the fault is installed; several faults
/// on one operation are counted independently, and a call fails when any of
/// them says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallFault {
    /// The operation's name, as written in the document (`addExpectations`).
    pub operation: String,
    /// Calls let through before the first failure.
    #[serde(default)]
    pub after: u64,
    /// Calls that fail (1 unless set).
    #[serde(default = "one")]
    pub times: u64,
    /// Answer this HTTP status instead of a GraphQL error.
    #[serde(default)]
    pub status: Option<u16>,
}

fn one() -> u64 {
    1
}

impl CallFault {
    /// The next call of `operation` fails, once.
    pub fn new(operation: impl Into<String>) -> Self {
        Self {
            operation: operation.into(),
            after: 0,
            times: 1,
            status: None,
        }
    }

    /// Lets `calls` calls through first.
    #[must_use]
    pub fn after(mut self, calls: u64) -> Self {
        self.after = calls;
        self
    }

    /// Fails this many calls (`u64::MAX`: from then on).
    #[must_use]
    pub fn times(mut self, calls: u64) -> Self {
        self.times = calls;
        self
    }

    /// Fails with this HTTP status instead of a GraphQL error.
    #[must_use]
    pub fn http_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

/// An installed fault and what it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FaultRecord {
    /// The fault as installed.
    pub fault: CallFault,
    /// Calls of its operation seen since it was installed.
    pub seen: u64,
    /// Calls it made fail.
    pub failed: u64,
}

/// How a faulted call is answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultAnswer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

/// The installed faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    installed: Mutex<Vec<FaultRecord>>,
}

impl Faults {
    pub(crate) fn install(&self, fault: CallFault) {
        tracing::info!(
            operation = %fault.operation,
            after = fault.after,
            times = fault.times,
            status = ?fault.status,
            "call fault installed"
        );
        self.lock().push(FaultRecord {
            fault,
            seen: 0,
            failed: 0,
        });
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn list(&self) -> Vec<FaultRecord> {
        self.lock().clone()
    }

    /// Counts a call of `operation`; the answer when it is to fail.
    pub(crate) fn check(&self, operation: &str) -> Option<FaultAnswer> {
        let mut status = None;
        let mut fails = false;
        for record in self
            .lock()
            .iter_mut()
            .filter(|record| record.fault.operation == operation)
        {
            record.seen += 1;
            let failing = record.seen > record.fault.after
                && record.seen - record.fault.after <= record.fault.times;
            if failing {
                record.failed += 1;
                fails = true;
                status = status.or(record.fault.status);
            }
        }
        if !fails {
            return None;
        }
        tracing::info!(operation, ?status, "call fault: failing this call");
        Some(match status {
            Some(status) => FaultAnswer {
                status,
                body: json!({"error": FAULT_MESSAGE}),
            },
            None => FaultAnswer {
                status: 200,
                body: json!({
                    "errors": [crate::graphql::platform_error(
                        "INTERNAL_SERVER_ERROR",
                        FAULT_MESSAGE,
                        &json!({"operation": operation}),
                    )],
                    "data": null,
                }),
            },
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRecord>> {
        self.installed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_lets_calls_through_then_fails_its_count_then_stops() {
        let faults = Faults::default();
        faults.install(CallFault::new("addExpectations").after(2).times(3));
        let failed: Vec<bool> = (0..7)
            .map(|_| faults.check("addExpectations").is_some())
            .collect();
        assert_eq!(failed, [false, false, true, true, true, false, false]);
        assert!(faults.check("ping").is_none(), "other operations pass");
        assert_eq!(faults.list()[0].seen, 7);
        assert_eq!(faults.list()[0].failed, 3);
    }

    #[test]
    fn a_status_fault_answers_its_status() {
        let faults = Faults::default();
        faults.install(CallFault::new("ping").http_status(503));
        let answer = faults.check("ping").expect("fails");
        assert_eq!(answer.status, 503);
        faults.install(CallFault::new("ping"));
        let answer = faults.check("ping").expect("fails");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["errors"][0]["message"], FAULT_MESSAGE);
        faults.clear();
        assert!(faults.check("ping").is_none());
    }
}

//! The work state machine (progress -> complete), on plain records so it can
//! be tested without a server.

use chrono::{DateTime, Utc};

use crate::model::{WorkMessage, WorkRecord, WorkStatus, iso};

/// The platform keeps at most this many errors per work.
const MAX_WORK_ERRORS: usize = 100;

/// An error reported with an expectation (`WorkErrorInput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectationError {
    pub(crate) error: Option<String>,
    pub(crate) source: Option<String>,
}

/// Arguments of `workAdd`, already resolved against the connector.
#[derive(Debug)]
pub(crate) struct NewWork<'a> {
    pub(crate) connector_id: &'a str,
    pub(crate) connector_type: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) friendly_name: Option<String>,
    pub(crate) is_multipart: bool,
    /// Works the platform creates for a listen message wait for the
    /// connector's `toReceived`; a connector's own works start received.
    pub(crate) by_platform: bool,
    /// What a platform job is about (entity, file or export path).
    pub(crate) event_source_id: Option<String>,
    /// The draft a platform job runs in.
    pub(crate) draft_context: Option<String>,
}

impl WorkRecord {
    /// A new work: in progress and received right away when the connector
    /// created it, waiting when the platform did.
    pub(crate) fn create(new: NewWork<'_>, at: DateTime<Utc>) -> Self {
        Self {
            id: work_id(new.connector_id, at),
            name: new.friendly_name,
            connector_id: new.connector_id.to_owned(),
            user_id: new.user_id.to_owned(),
            event_type: new.connector_type.to_owned(),
            status: if new.by_platform {
                WorkStatus::Wait
            } else {
                WorkStatus::Progress
            },
            timestamp: at,
            updated_at: at,
            received_time: (!new.by_platform).then_some(at),
            processed_time: None,
            completed_time: None,
            completed_number: None,
            expected: 0,
            processed: 0,
            last_processed: None,
            is_multipart: new.is_multipart,
            processed_flag: false,
            messages: Vec::new(),
            errors: Vec::new(),
            draft_context: new.draft_context,
            event_source_id: new.event_source_id,
        }
    }

    pub(crate) fn add_expectations(&mut self, count: u64, at: DateTime<Utc>) {
        self.expected = self.expected.saturating_add(count);
        self.updated_at = at;
    }

    pub(crate) fn report_expectation(
        &mut self,
        error: Option<ExpectationError>,
        at: DateTime<Utc>,
    ) {
        self.processed = self.processed.saturating_add(1);
        self.last_processed = Some(at);
        self.updated_at = at;
        if let Some(error) = error {
            self.push_error(error.error, error.source, at);
        }
        if (!self.is_multipart || self.processed_flag) && self.processed >= self.expected {
            self.complete(self.processed, at);
        }
    }

    pub(crate) fn mark_received(&mut self, message: Option<String>, at: DateTime<Utc>) {
        self.status = WorkStatus::Progress;
        self.received_time = Some(at);
        self.updated_at = at;
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            let sequence = self.messages.len() as u64;
            self.messages.push(WorkMessage {
                timestamp: at,
                message: Some(message),
                sequence,
                source: None,
            });
        }
    }

    pub(crate) fn mark_processed(
        &mut self,
        message: Option<String>,
        in_error: bool,
        at: DateTime<Utc>,
    ) {
        self.processed_time = Some(at);
        self.updated_at = at;
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            if in_error {
                self.push_error(Some(message), None, at);
            } else {
                let sequence = self.messages.len() as u64;
                self.messages.push(WorkMessage {
                    timestamp: at,
                    message: Some(message),
                    sequence,
                    source: None,
                });
            }
        }
        if self.processed >= self.expected {
            // An empty work still completes, and counts as one.
            self.complete(self.processed.max(1), at);
        } else if self.is_multipart {
            self.processed_flag = true;
        }
    }

    pub(crate) fn ping(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
    }

    fn complete(&mut self, number: u64, at: DateTime<Utc>) {
        self.status = WorkStatus::Complete;
        self.completed_number = Some(number);
        self.completed_time = Some(at);
    }

    fn push_error(&mut self, message: Option<String>, source: Option<String>, at: DateTime<Utc>) {
        if self.errors.len() < MAX_WORK_ERRORS {
            let sequence = self.errors.len() as u64;
            self.errors.push(WorkMessage {
                timestamp: at,
                message,
                sequence,
                source,
            });
        }
    }
}

/// `work_<connector id>_<ISO-8601 ms timestamp>`.
pub(crate) fn work_id(connector_id: &str, at: DateTime<Utc>) -> String {
    format!("work_{connector_id}_{}", iso(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 8, 12, 0, 0, second)
            .single()
            .expect("valid date")
    }

    fn work(multipart: bool) -> WorkRecord {
        WorkRecord::create(
            NewWork {
                connector_id: "5ed6",
                connector_type: "EXTERNAL_IMPORT",
                user_id: "u",
                friendly_name: Some("run".to_owned()),
                is_multipart: multipart,
                by_platform: false,
                event_source_id: None,
                draft_context: None,
            },
            at(0),
        )
    }

    #[test]
    fn new_work_is_in_progress_with_a_platform_style_id() {
        let w = work(false);
        assert_eq!(w.id, "work_5ed6_2026-08-12T00:00:00.000Z");
        assert_eq!(w.status, WorkStatus::Progress);
        assert_eq!(w.received_time, Some(at(0)));
        assert_eq!((w.expected, w.processed), (0, 0));
    }

    #[test]
    fn platform_works_wait_until_received() {
        let mut w = WorkRecord::create(
            NewWork {
                connector_id: "5ed6",
                connector_type: "INTERNAL_ENRICHMENT",
                user_id: "u",
                friendly_name: None,
                is_multipart: false,
                by_platform: true,
                event_source_id: Some("ipv4-addr--1".to_owned()),
                draft_context: None,
            },
            at(0),
        );
        assert_eq!((w.status, w.received_time), (WorkStatus::Wait, None));
        w.mark_received(
            Some("Connector ready to process the operation".to_owned()),
            at(1),
        );
        assert_eq!(
            (w.status, w.received_time),
            (WorkStatus::Progress, Some(at(1)))
        );
        assert_eq!(w.messages.len(), 1);
    }

    #[test]
    fn five_expectations_complete_without_to_processed_and_keep_errors() {
        let mut w = work(false);
        w.add_expectations(5, at(1));
        for i in 0..5 {
            assert_eq!(w.status, WorkStatus::Progress);
            let error = (i == 2).then(|| ExpectationError {
                error: Some("boom".to_owned()),
                source: Some("{}".to_owned()),
            });
            w.report_expectation(error, at(2));
        }
        assert_eq!(w.status, WorkStatus::Complete);
        assert_eq!(w.completed_number, Some(5));
        assert_eq!(w.errors.len(), 1);
        assert_eq!(w.errors[0].message.as_deref(), Some("boom"));
        assert_eq!(w.errors[0].source.as_deref(), Some("{}"));
    }

    #[test]
    fn to_processed_alone_completes_an_empty_work_with_one() {
        let mut w = work(false);
        w.mark_processed(Some("done".to_owned()), false, at(3));
        assert_eq!(w.status, WorkStatus::Complete);
        assert_eq!(w.completed_number, Some(1));
        assert_eq!(w.messages.len(), 1);
        assert!(w.errors.is_empty());
    }

    #[test]
    fn to_processed_in_error_records_an_error() {
        let mut w = work(false);
        w.mark_processed(Some("failed".to_owned()), true, at(3));
        assert_eq!(w.errors[0].message.as_deref(), Some("failed"));
        assert!(w.messages.is_empty());
    }

    #[test]
    fn multipart_waits_for_to_processed_and_all_reports() {
        let mut w = work(true);
        w.add_expectations(2, at(1));
        w.report_expectation(None, at(2));
        w.report_expectation(None, at(2));
        assert_eq!(
            w.status,
            WorkStatus::Progress,
            "multipart needs toProcessed"
        );
        w.add_expectations(1, at(3));
        w.mark_processed(None, false, at(4));
        assert_eq!(w.status, WorkStatus::Progress, "one report still missing");
        assert!(w.processed_flag);
        w.report_expectation(None, at(5));
        assert_eq!(w.status, WorkStatus::Complete);
        assert_eq!(w.completed_number, Some(3));
    }

    #[test]
    fn non_multipart_with_pending_expectations_stays_in_progress_after_to_processed() {
        let mut w = work(false);
        w.add_expectations(2, at(1));
        w.mark_processed(None, false, at(2));
        assert_eq!(w.status, WorkStatus::Progress);
        w.report_expectation(None, at(3));
        w.report_expectation(None, at(3));
        assert_eq!(w.status, WorkStatus::Complete);
    }

    #[test]
    fn errors_are_capped_at_one_hundred() {
        let mut w = work(false);
        w.add_expectations(150, at(1));
        for _ in 0..150 {
            w.report_expectation(
                Some(ExpectationError {
                    error: Some("e".to_owned()),
                    source: None,
                }),
                at(2),
            );
        }
        assert_eq!(w.errors.len(), 100);
        assert_eq!(w.status, WorkStatus::Complete);
    }
}

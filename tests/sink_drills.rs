//! The vendor drills of the stream sinks that write to their vendor (PT
//! NAD, Sekoia.io), shared by their `tests/vendor_drills.rs` with
//! `#[path]` (with `hostile_front.rs`, `hostile_answers.rs` and
//! `sink_startup.rs`): behind the hostile front, an oversized answer (its
//! length announced or not), an answer that drips for ever, a
//! `Retry-After` of a day, a login page at startup and cut answers. Each
//! call stays within [`BOUND`] and says what failed; the event is handed
//! back to be tried again (never taken as applied nor dropped) and is
//! applied once the vendor is sane again.
//!
//! Each connector implements [`SinkDrill`] (its fake behind the front,
//! its sink, how it writes) and [`sink_drill_tests!`] writes the drills
//! as its tests.

use std::time::{Duration, Instant};

use opencti_connector::http::DEFAULT_MAX_SERVER_DELAY;
use opencti_connector::stream::event::{EventKind, StreamEvent};
use opencti_connector::stream::sink::Outcome;
use opencti_testkit::events::indicator;
use opencti_testkit::vendor::Fault;

use crate::hostile_answers::Hostile;
use crate::hostile_front::Front;

/// Longest a drill's call may take.
pub(crate) const BOUND: Duration = Duration::from_secs(20);
/// What the sinks read of an answer at most (their client's limit).
pub(crate) const ANSWER_LIMIT: u64 = 16 << 20;
/// The value of the drills' one event.
pub(crate) const VALUE: &str = "198.51.100.77";

/// A connector's fake vendor behind the hostile front, and its sink.
#[allow(async_fn_in_trait)]
pub(crate) trait SinkDrill: Sized {
    /// The sink drilled.
    type Sink;
    /// Why its startup failed.
    type StartError: std::fmt::Display;
    /// The read timeout the drill gives the sink.
    const TIMEOUT: Duration;

    /// The fake vendor started, behind a front.
    async fn start() -> Self;
    /// The front's queue of hostile answers.
    fn hostile(&self) -> &Front;
    /// A sink going through the front, retrying its startup quickly
    /// (`sink_startup::quick_retry`), not started.
    fn unstarted_sink(&self) -> Self::Sink;
    /// Starts `sink`: its checks of the vendor.
    async fn start_sink(sink: &Self::Sink) -> Result<(), Self::StartError>;
    /// Applies [`creation`] alone: its outcome, once the sink's batch
    /// outcome is checked to have the sink's shape.
    async fn apply_once(sink: &Self::Sink) -> Outcome;
    /// Queues `fault` for the next write to the vendor.
    fn fail_next_write(&self, fault: Fault);
    /// How many writes reached the front.
    fn writes(&self) -> usize;
    /// Whether the vendor holds [`VALUE`].
    fn applied(&self) -> bool;
    /// The vendor's own answer when it throttles writes for a day.
    fn throttled_for_a_day() -> Fault {
        Fault::too_many_requests(86_400)
    }
}

/// The drills' one event: the creation of an indicator of [`VALUE`].
pub(crate) fn creation() -> StreamEvent {
    let indicator = indicator(77, &format!("[ipv4-addr:value = '{VALUE}']"));
    StreamEvent::for_test("1732460000000-1", EventKind::Create, indicator, None)
}

/// A sink going through the front, started.
pub(crate) async fn started<D: SinkDrill>(drill: &D) -> D::Sink {
    let sink = drill.unstarted_sink();
    if let Err(error) = D::start_sink(&sink).await {
        panic!("the sink starts: {error}");
    }
    sink
}

/// Applies [`creation`] within [`BOUND`]: its outcome and how long it
/// took.
pub(crate) async fn apply<D: SinkDrill>(sink: &D::Sink) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(BOUND, D::apply_once(sink))
        .await
        .expect("the batch ends within the bound");
    (outcome, started.elapsed())
}

/// The event was handed back, for the reason `why` names, and nothing
/// was applied; the next try, the vendor sane, applies it.
pub(crate) async fn assert_retried_then_applied<D: SinkDrill>(
    drill: &D,
    sink: &D::Sink,
    outcome: Outcome,
    why: &str,
) {
    let Outcome::Retry { reason, .. } = &outcome else {
        panic!("the event must be tried again, not {outcome:?}");
    };
    assert!(reason.contains(why), "the reason says why: {reason}");
    assert!(!drill.applied(), "nothing applied");
    let (outcome, _) = apply::<D>(sink).await;
    assert_eq!(outcome, Outcome::Done);
    assert!(drill.applied());
}

/// Writes the shared drills as tests of the connector whose drill is
/// `$drill` (a [`SinkDrill`]).
#[macro_export]
macro_rules! sink_drill_tests {
    ($drill:ty) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_oversized_answer_to_a_write_is_cut_at_the_limit() {
            $crate::sink_drills::an_oversized_answer_to_a_write::<$drill>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_announced_oversized_answer_is_refused_before_it_is_read() {
            $crate::sink_drills::an_announced_oversized_answer::<$drill>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_answer_that_drips_for_ever_ends_at_the_timeout() {
            $crate::sink_drills::an_answer_that_drips_for_ever::<$drill>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_retry_after_of_a_day_is_capped() {
            $crate::sink_drills::a_retry_after_of_a_day::<$drill>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cut_answers_to_a_write_mark_no_event_done() {
            $crate::sink_drills::cut_answers_to_a_write::<$drill>().await;
        }
    };
}

/// An answer to a write larger than the client's limit, without its
/// length: read up to the limit, then the event is tried again.
pub(crate) async fn an_oversized_answer_to_a_write<D: SinkDrill>() {
    let drill = D::start().await;
    let sink = started(&drill).await;
    drill.fail_next_write(Fault::Oversized(ANSWER_LIMIT + (1 << 20)));
    let (outcome, took) = apply::<D>(&sink).await;
    println!("oversized answer: {took:?}, {outcome:?}");
    assert_eq!(drill.writes(), 1, "one write, answered oversized");
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

/// An answer announcing a tebibyte: refused before it is read (read, the
/// body would end at the sink's timeout, and say so).
pub(crate) async fn an_announced_oversized_answer<D: SinkDrill>() {
    let drill = D::start().await;
    let sink = started(&drill).await;
    drill.hostile().answer_next([Hostile::Announced]);
    let (outcome, took) = apply::<D>(&sink).await;
    println!("announced tebibyte: {took:?}, {outcome:?}");
    assert_retried_then_applied(&drill, &sink, outcome, "larger than").await;
}

/// An answer that never ends ends at the sink's timeout.
pub(crate) async fn an_answer_that_drips_for_ever<D: SinkDrill>() {
    let drill = D::start().await;
    let sink = started(&drill).await;
    drill.hostile().answer_next([Hostile::Drip]);
    let (outcome, took) = apply::<D>(&sink).await;
    println!("dripping answer: {took:?}, {outcome:?}");
    assert!(took >= D::TIMEOUT, "the sink's timeout: {took:?}");
    assert_retried_then_applied(&drill, &sink, outcome, "did not answer in time").await;
}

/// A `Retry-After` of a day: the event is handed back with the pause
/// capped, not waited in the batch.
pub(crate) async fn a_retry_after_of_a_day<D: SinkDrill>() {
    let drill = D::start().await;
    let sink = started(&drill).await;
    drill.fail_next_write(D::throttled_for_a_day());
    let (outcome, took) = apply::<D>(&sink).await;
    println!("a day's Retry-After: {took:?}, {outcome:?}");
    let Outcome::Retry {
        after: Some(after), ..
    } = &outcome
    else {
        panic!("the event must be tried again after a pause, not {outcome:?}");
    };
    assert!(
        *after <= DEFAULT_MAX_SERVER_DELAY,
        "the pause is capped: {after:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "not waited in the batch: {took:?}"
    );
    assert_retried_then_applied(&drill, &sink, outcome, "429").await;
}

/// Cut, broken or missing answers to a write: none confirms it, so the
/// event is tried again (the writes are idempotent), then applied.
pub(crate) async fn cut_answers_to_a_write<D: SinkDrill>() {
    let drill = D::start().await;
    let sink = started(&drill).await;
    for fault in [Fault::Truncated, Fault::Drop, Fault::Hangup] {
        drill.fail_next_write(fault);
        let (outcome, took) = apply::<D>(&sink).await;
        println!("{fault:?}: {took:?}, {outcome:?}");
        assert!(
            matches!(outcome, Outcome::Retry { .. }),
            "{fault:?}: the event must be tried again, not {outcome:?}"
        );
    }
    let (outcome, _) = apply::<D>(&sink).await;
    assert_eq!(outcome, Outcome::Done);
    assert!(drill.applied());
}

/// Login pages answered with 200 to every startup attempt (two, with the
/// quick retry): the startup fails within [`BOUND`], saying what it got;
/// the drill, for the connector's own checks.
pub(crate) async fn a_login_page_at_startup<D: SinkDrill>() -> D {
    let drill = D::start().await;
    drill.hostile().answer_next([Hostile::LoginPage; 2]);
    let result = tokio::time::timeout(BOUND, D::start_sink(&drill.unstarted_sink()))
        .await
        .expect("the startup ends within the bound");
    let Err(error) = result else {
        panic!("a login page is not the vendor");
    };
    println!("startup: {error}");
    assert!(error.to_string().contains("Sign in"), "{error}");
    drill
}

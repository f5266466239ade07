//! Stream runs of the connector the harness builds from its variables:
//! started for a test to drive, or restarted in the middle of the stream
//! with the vendor slowed during the first run.

use std::time::Duration;

use opencti_connector::stream::StreamSink;
use opencti_sim::EventInjection;

use crate::{ConnectorHarness, KitError, Restart, RunningStream, TestPlatform};

impl<'p> ConnectorHarness<'p> {
    /// Builds the connector from the harness's variables, as the binary
    /// does, and starts it: [`ConnectorHarness::build`] then
    /// [`ConnectorHarness::start_stream`].
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::build`] and
    /// [`ConnectorHarness::start_stream`].
    pub async fn build_and_start<S: StreamSink>(&self) -> Result<RunningStream<'p, S>, KitError> {
        self.start_stream(self.build::<S>()?).await
    }

    /// [`ConnectorHarness::run_stream_across_restart`] for two sinks built
    /// from the harness's variables, with the vendor slowed during the
    /// first run: `set_delay(Some(delay))` before it starts (a delay on
    /// every answer of the fake, such as
    /// [`FakeVendor::set_delay`](crate::vendor::FakeVendor::set_delay)),
    /// `set_delay(None)` before the second run, which meets the vendor at
    /// its normal pace. Check [`Restart::stopped_midway`]: a `delay` too
    /// short lets the first run finish `first` before it is stopped.
    ///
    /// # Errors
    ///
    /// As [`ConnectorHarness::build`] and
    /// [`ConnectorHarness::run_stream_across_restart`].
    pub async fn run_stream_across_restart_slowed<S: StreamSink>(
        &self,
        delay: Duration,
        set_delay: impl Fn(Option<Duration>),
        first: Vec<EventInjection>,
        second: Vec<EventInjection>,
        done: impl FnMut(&TestPlatform) -> bool,
    ) -> Result<Restart<S>, KitError> {
        // Both built before the first run, so that a refused configuration
        // is an error here rather than a panic inside the restart.
        let mut first_sink = Some(self.build::<S>()?);
        let mut second_sink = Some(self.build::<S>()?);
        set_delay(Some(delay));
        let next_sink = || {
            first_sink.take().unwrap_or_else(|| {
                set_delay(None);
                second_sink
                    .take()
                    .expect("run_stream_across_restart builds two sinks")
            })
        };
        self.run_stream_across_restart(next_sink, first, second, done)
            .await
    }
}

//! A restart with the vendor slowed during the first run: the stop falls
//! in the middle of the stream, and the second run meets the vendor at
//! its pace.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use opencti_connector::config::NoConfig;
use opencti_connector::prelude::*;
use opencti_testkit::events::{create, indicator, indicator_id};
use opencti_testkit::{ConnectorHarness, TestPlatform};

/// The "vendor": its delay on every event, and the indicators it holds.
static DELAY: Mutex<Option<Duration>> = Mutex::new(None);
static HELD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Hands each indicator to the "vendor", which takes [`DELAY`] to answer.
#[derive(Debug)]
struct SlowVendorSink;

impl Connector for SlowVendorSink {
    type Config = NoConfig;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "opencti-testkit-slow-vendor";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Hands indicators to a slow vendor";

    fn from_config(_: NoConfig) -> Result<Self, Self::Error> {
        Ok(Self)
    }
}

impl StreamSink for SlowVendorSink {
    async fn handle(&mut self, event: &StreamEvent) -> Outcome {
        let delay = *DELAY.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        HELD.lock().unwrap().insert(event.object.id().to_owned());
        Outcome::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_is_slowed_and_stopped_midway_and_the_second_is_not() {
    let platform = TestPlatform::start().await.unwrap();
    let delays = Mutex::new(Vec::new());
    let events = |numbers: std::ops::Range<u32>| {
        numbers
            .map(|n| {
                create(indicator(
                    n,
                    &format!("[ipv4-addr:value = '198.51.100.{n}']"),
                ))
            })
            .collect()
    };
    let everything: BTreeSet<String> = (0..30).map(indicator_id).collect();
    let restart = ConnectorHarness::new(&platform)
        .run_stream_across_restart_slowed::<SlowVendorSink>(
            Duration::from_millis(100),
            |delay| {
                delays.lock().unwrap().push(delay);
                *DELAY.lock().unwrap() = delay;
            },
            events(0..20),
            events(20..30),
            |_| *HELD.lock().unwrap() == everything,
        )
        .await
        .unwrap();
    assert!(restart.stopped_midway(), "{restart:?}");
    assert_eq!(
        delays.into_inner().unwrap(),
        [Some(Duration::from_millis(100)), None],
        "slowed for the first run, back to its pace for the second"
    );
    assert_eq!(*HELD.lock().unwrap(), everything);
    platform.shutdown().await.unwrap();
}

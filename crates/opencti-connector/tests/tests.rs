//! Integration tests of `opencti-connector` (one test binary).

/// Gives a test sink the identity every stream connector has, built by
/// `from_config` as `$build`.
macro_rules! test_sink_identity {
    ($sink:ty, $build:expr) => {
        impl opencti_connector::Connector for $sink {
            type Config = opencti_connector::config::NoConfig;
            type Error = std::convert::Infallible;
            const NAME: &'static str = "opencti-test-sink";
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const ABOUT: &'static str = "A stream sink of the runtime's tests";

            fn from_config(_: Self::Config) -> Result<Self, Self::Error> {
                Ok($build)
            }
        }
    };
}

mod amqp;
mod api;
mod broker;
mod broker_outage;
mod broker_tls;
mod config;
mod hostile_platform;
mod import;
mod listen;
mod listen_api;
mod network;
mod platform;
mod private_broker;
mod s3_output;
mod service_account;
mod stream_runner;
mod stream_runtime;
mod stream_server;
mod stream_source;
mod stream_sse;

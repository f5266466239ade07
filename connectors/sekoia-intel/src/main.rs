//! `opencti-sekoia-intel`: the Sekoia.io Intel stream connector.

fn main() -> std::process::ExitCode {
    opencti_connector::stream::run_stream::<opencti_sekoia_intel::SekoiaSink>()
}

//! `opencti-ptnad`: the PT NAD stream connector.

fn main() -> std::process::ExitCode {
    opencti_connector::stream::run_stream::<opencti_ptnad::PtnadSink>()
}

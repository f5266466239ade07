//! `opencti-ptnad`: the PT NAD stream connector.

fn main() -> std::process::ExitCode {
    opencti_ptnad::connector::run()
}

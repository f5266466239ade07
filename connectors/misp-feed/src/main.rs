//! `opencti-misp-feed`: the MISP feed import connector.

fn main() -> std::process::ExitCode {
    opencti_connector::run_import::<opencti_misp_feed::MispFeed>()
}

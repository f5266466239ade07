//! `opencti-nti`: the NSFOCUS Threat Intelligence feed import connector.

fn main() -> std::process::ExitCode {
    opencti_connector::run_import::<opencti_nti::Nti>()
}

//! `opencti-teamt5`: the TeamT5 ThreatVision import connector.

fn main() -> std::process::ExitCode {
    opencti_connector::run_import::<opencti_teamt5::Teamt5>()
}

//! The binary: the shared CLI, configuration and schedule around the source.

fn main() -> std::process::ExitCode {
    opencti_connector::run_import::<opencti_template_connector::Template>()
}

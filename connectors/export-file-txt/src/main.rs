//! `opencti-export-file-txt`: the plain-text list export connector.

fn main() -> std::process::ExitCode {
    opencti_connector::listen::run_file_export::<opencti_export_file_txt::ExportFileTxt>()
}

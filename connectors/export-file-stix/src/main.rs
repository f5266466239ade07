//! `opencti-export-file-stix`: the STIX 2.1 file export connector.

fn main() -> std::process::ExitCode {
    opencti_connector::listen::run_file_export::<opencti_export_file_stix::ExportFileStix>()
}

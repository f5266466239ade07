//! `opencti-import-file-stix`: imports STIX 2.1 bundle files into OpenCTI.

fn main() -> std::process::ExitCode {
    opencti_connector::listen::run_file_import::<opencti_import_file_stix::ImportFileStix>()
}

//! The binary: the shared CLI, configuration and listen loop around the enricher.

fn main() -> std::process::ExitCode {
    opencti_connector::listen::run_enrichment::<opencti_enrichment_connector::ObservableEnricher>()
}

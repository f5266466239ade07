//! `opencti-misp-feed`: the MISP feed import connector.

fn main() -> std::process::ExitCode {
    opencti_misp_feed::connector::main()
}

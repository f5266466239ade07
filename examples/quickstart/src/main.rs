//! `opencti-quickstart`: see [`opencti_quickstart`].

fn main() -> std::process::ExitCode {
    opencti_quickstart::main()
}

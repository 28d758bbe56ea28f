//! The `cachelite` binary: see the `cachelite_cli` library for the commands.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    cachelite_cli::cli::main()
}

//! The `wirefeed` binary: parses the command line and hands over to [`wirefeed::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wirefeed::cli::Cli::parse();
    match wirefeed::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wirefeed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

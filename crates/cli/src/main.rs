//! The `evebuild` command: parses arguments, renders progress and errors, and calls the
//! engine in the `evebuild` library. Nothing here knows how an artifact is made.

mod args;
mod help;
mod run;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    run::init_logging(&cli.global);
    match run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `mamori` command: a thin layer over the library crates.
#![forbid(unsafe_code)]

mod cli;
mod demo;
mod detect;
mod inspect;
mod output;
mod sim;
mod style;
mod verify;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Inspect(a) => inspect::run(&a),
        cli::Command::Verify(a) => verify::run(&a),
        cli::Command::Sim(cli::SimCommand::Snp(a)) => sim::run_snp(&a),
        cli::Command::Demo(a) => demo::run(&a),
    }
}

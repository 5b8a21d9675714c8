//! The `mamori` command: a thin layer over the library crates.
#![forbid(unsafe_code)]

mod admin;
mod agent;
mod bench;
mod cli;
mod demo;
mod detect;
mod inspect;
mod output;
#[cfg(target_os = "linux")]
mod process_metrics;
mod serve;
mod sim;
mod style;
mod verify;

use clap::Parser;
use std::process::ExitCode;

/// The server allocates and frees many small buffers per request (HTTP,
/// JSON, policy values); mimalloc's thread-local free lists cost less CPU
/// per flow than glibc's malloc (measured with `mamori bench`, see
/// docs/decisions.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Inspect(a) => inspect::run(&a),
        cli::Command::Verify(a) => verify::run(&a),
        cli::Command::Sim(cli::SimCommand::Snp(a)) => sim::run_snp(&a),
        cli::Command::Demo(a) => demo::run(&a),
        cli::Command::Serve(a) => serve::run(&a),
        cli::Command::Admin(a) => admin::run(&a),
        cli::Command::Bench(a) => bench::run(&a),
        cli::Command::Measure(a) => measure(&a),
        cli::Command::Agent(a) => agent::run(&a),
    }
}

fn measure(a: &snp_measure::MeasureArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match snp_measure::run(a, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mamori measure: {e}");
            match e {
                snp_measure::MeasureError::Usage(_) | snp_measure::MeasureError::Read { .. } => {
                    ExitCode::from(2)
                }
                _ => ExitCode::from(1),
            }
        }
    }
}

//! Stand-alone `measure` command, for trying the CLI before it is wired
//! into the `mamori` binary:
//! `cargo run --release -p snp-measure --example measure -- snp --mode snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf OVMF.fd`
use std::process::ExitCode;

use clap::Parser;
use snp_measure::{run, MeasureArgs, MeasureError};

fn main() -> ExitCode {
    let args = MeasureArgs::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // Usage mistakes and unreadable inputs exit 2, like clap does.
            match e {
                MeasureError::Usage(_) | MeasureError::Read { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

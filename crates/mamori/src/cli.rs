use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Mamori: confidential-computing attestation and secret release.
#[derive(Parser, Debug)]
#[command(name = "mamori", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect the evidence type and print it for humans (or --json).
    Inspect(InspectArgs),
    /// Verify evidence offline against vendor roots and collateral.
    Verify(VerifyArgs),
}

/// Evidence families `--tee` can force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TeeKind {
    Snp,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Evidence file (raw, hex or base64; containers recognised by content).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Evidence type, when detection should not guess.
    #[arg(long, value_enum)]
    pub tee: Option<TeeKind>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Evidence file (raw, hex or base64; containers recognised by content).
    pub file: PathBuf,
    /// Certificates, CRLs or vendor collateral: files or directories,
    /// recognised by content. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub collateral: Vec<PathBuf>,
    /// Trust this root certificate in addition to the pinned vendor roots
    /// (e.g. the development root written by `mamori sim snp`). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Vec<PathBuf>,
    /// Verify as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Evidence type, when detection should not guess.
    #[arg(long, value_enum)]
    pub tee: Option<TeeKind>,
    /// Print {"tee", "verified", "claims", "error"} as JSON.
    #[arg(long)]
    pub json: bool,
}

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
    /// Simulated TEEs for development: genuine-format evidence signed by a
    /// development chain that is trusted only when named explicitly.
    #[command(subcommand)]
    Sim(SimCommand),
    /// The whole flow on this machine with a simulated TEE, narrated.
    Demo(DemoArgs),
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Write a signed SEV-SNP attestation report and its development chain.
    Snp(SimSnpArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProductArg {
    Milan,
    Genoa,
    Turin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SigningKeyArg {
    Vcek,
    Vlek,
}

#[derive(Args, Debug)]
pub struct SimSnpArgs {
    /// Output directory: report.bin, and certs/ (vcek.pem, ask.pem, ark.pem).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the development platform (keys, chip id) here and reuse it on
    /// later runs, so that several reports share one chain.
    #[arg(long, value_name = "DIR")]
    pub platform: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "milan")]
    pub product: ProductArg,
    #[arg(long, value_enum, default_value = "vcek")]
    pub signing_key: SigningKeyArg,
    /// Launch measurement, 48 bytes hex.
    #[arg(long, value_name = "HEX")]
    pub measurement: Option<String>,
    /// REPORT_DATA, up to 64 bytes hex (zero-padded).
    #[arg(long, value_name = "HEX")]
    pub report_data: Option<String>,
    /// HOST_DATA, 32 bytes hex.
    #[arg(long, value_name = "HEX")]
    pub host_data: Option<String>,
    /// Guest policy (hex or decimal); default 0x30000 (SMT allowed, no debug).
    #[arg(long, value_name = "VALUE")]
    pub policy: Option<String>,
    /// Set the policy's DEBUG bit (the host may read guest memory).
    #[arg(long)]
    pub debug: bool,
    #[arg(long, default_value_t = 0)]
    pub vmpl: u32,
    /// Report version (2, 3, 4 or 5).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=5))]
    pub report_version: u32,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Never colour the output.
    #[arg(long)]
    pub no_color: bool,
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

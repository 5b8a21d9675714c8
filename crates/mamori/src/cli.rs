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
    /// Run the Verifier and key broker (embedded store).
    Serve(ServeArgs),
    /// Administer a running server (or generate an admin key).
    Admin(AdminArgs),
    /// Load generator: complete attestation flows against a running server.
    Bench(BenchArgs),
    /// Expected launch measurements (SEV-SNP) and ID blocks, identical to
    /// the reference tool sev-snp-measure.
    Measure(snp_measure::MeasureArgs),
    /// The attester side: prove this TEE to a key broker and fetch secrets.
    Agent(AgentArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// Confidential Containers KBS 0.4.0.
    Kbs,
    /// Mamori's native API (passport model).
    Native,
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Key broker URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Also trust the CA certificate(s) in this PEM file for an https URL
    /// (Mozilla's roots are always trusted).
    #[arg(long, global = true, value_name = "PEM_FILE")]
    pub ca: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value = "kbs")]
    pub protocol: ProtocolArg,
    /// Evidence from a simulated SEV-SNP platform kept in DIR (see
    /// `mamori sim snp --platform`) instead of this machine's TEE
    /// (configfs-tsm).
    #[arg(long, global = true, value_name = "DIR")]
    pub sim_platform: Option<PathBuf>,
    /// Simulated platform only: the launch measurement (48 bytes hex).
    #[arg(long, global = true, value_name = "HEX")]
    pub measurement: Option<String>,
    /// Simulated platform only: launch with debugging allowed.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Attest and print the token and the appraisal.
    Attest,
    /// Attest and fetch a secret, decrypted with the TEE's key.
    GetResource {
        /// REPO/TYPE/TAG (KBS) or any resource path (native).
        path: String,
        /// Write the secret here (0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (TOML); every key has a default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080 (overrides the file).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Data directory: database and key-encryption key (overrides the file).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the records in this PostgreSQL database, shared with other
    /// nodes (libpq string or postgres:// URL; the password belongs in
    /// $MAMORI_POSTGRES_PASSWORD). Overrides the file's store.postgres_url.
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
    /// An admin public key (PEM, Ed25519 or P-256). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub admin_public_key: Vec<PathBuf>,
    /// Trust an extra SEV-SNP root, e.g. `mamori sim snp`'s development ARK. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub snp_trust_anchor: Vec<PathBuf>,
    /// Intel DCAP collateral for the `tdx` and `sgx` TEEs: a file or directory
    /// (PCS / PCCS / dcap-qvl collateral, certificates, CRLs). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub dcap_collateral: Vec<PathBuf>,
    /// Accept the unsigned `sample` TEE (development only; never affirming).
    #[arg(long)]
    pub insecure_allow_sample_tee: bool,
    /// Check the configuration and every file it names (TLS pair, admin
    /// keys, SEV-SNP roots and CRLs, DCAP collateral, an existing
    /// key-encryption key), then exit: 0 when serving would start, 2 when
    /// not. Creates nothing and listens nowhere.
    #[arg(long)]
    pub check: bool,
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Server URL, e.g. http://127.0.0.1:8080.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Also trust the CA certificate(s) in this PEM file for an https URL
    /// (Mozilla's roots are always trusted).
    #[arg(long, global = true, value_name = "PEM_FILE")]
    pub ca: Option<PathBuf>,
    /// The admin private key (PKCS#8 PEM, from `mamori admin keygen`).
    #[arg(long, global = true, value_name = "PRIVATE_KEY_FILE")]
    pub key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Write a new Ed25519 admin key pair (admin.key 0600, admin.pub).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Secrets released to attested TEEs.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Rego resource policies per path or path prefix.
    #[command(subcommand, name = "resource-policy")]
    ResourcePolicy(PolicyCommand),
    /// Rego appraisal policies per TEE kind (or `default`).
    #[command(subcommand, name = "attestation-policy")]
    AttestationPolicy(PolicyCommand),
    /// Reference values visible to appraisal policies.
    #[command(subcommand, name = "reference-value")]
    ReferenceValue(ReferenceCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rotate the token-signing key.
    #[command(name = "rotate-signing-key")]
    RotateSigningKey,
    /// Evaluate a policy against an input without changing anything.
    #[command(name = "dry-run")]
    DryRun {
        /// appraisal or resource
        #[arg(long)]
        kind: String,
        /// Input JSON file.
        #[arg(long)]
        input: PathBuf,
        /// Policy file (default: the policy in force).
        #[arg(long)]
        policy: Option<PathBuf>,
        #[arg(long)]
        tee: Option<String>,
        #[arg(long)]
        path: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// Store a secret: `resource set REPO/TYPE/TAG --file F`.
    Set {
        path: String,
        #[arg(long)]
        file: PathBuf,
    },
    Delete {
        path: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// `set TARGET --file POLICY.rego`: TARGET is a path/prefix (resource
    /// policies; "" for all) or a TEE kind (appraisal policies).
    Set {
        target: String,
        #[arg(long)]
        file: PathBuf,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum ReferenceCommand {
    /// `set NAME VALUE...`
    Set {
        name: String,
        #[arg(required = true)]
        values: Vec<String>,
        /// Expire after this many seconds.
        #[arg(long)]
        expires_in: Option<i64>,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    List {
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    Verify,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Server URL. Without it, a server is started in-process on loopback.
    #[arg(long)]
    pub url: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Complete flows to run (bounded).
    #[arg(long, default_value_t = 5000)]
    pub flows: usize,
    /// Stop after this many seconds even if flows remain.
    #[arg(long, default_value_t = 60)]
    pub max_seconds: u64,
    /// `snp` (simulated SEV-SNP over the native API) or `kbs-sample`
    /// (the sample TEE over the KBS-compatible API).
    #[arg(long, default_value = "snp")]
    pub mode: String,
    /// Admin private key, to provision the server (with --url). Without it,
    /// the server must already be provisioned (by an earlier run with it).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Development platform directory (`mamori sim snp --platform`) whose
    /// root the server trusts (with --url).
    #[arg(long)]
    pub platform: Option<PathBuf>,
    /// Run the in-process server on this PostgreSQL database instead of
    /// the embedded store (an empty database or schema: the server is
    /// given a key-encryption key of its own). PostgreSQL's own CPU is not
    /// in the server CPU figure.
    #[arg(long, value_name = "URL", conflicts_with = "url")]
    pub postgres_url: Option<String>,
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
    Tdx,
    Sgx,
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

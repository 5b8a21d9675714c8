//! Command-line surface: `measure snp` (the reference `sev-snp-measure`
//! flags) and `measure snp-id-block` (the reference `snp-create-id-block`
//! flags plus the ID block fields it hard-codes).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{self, SHA256};
use base64::Engine as _;
use clap::builder::PossibleValue;

use crate::firmware::Firmware;
use crate::gctx::LaunchDigest;
use crate::hashes::{KernelHashes, Sha256};
use crate::id_block::{GuestPolicy, IdBlock, IdBlockError, SignedIdBlock, SigningKey};
use crate::launch::{self, Guest, Image, LaunchError, Vcpus};
use crate::vcpu::{VcpuSignature, VcpuType};
use crate::vmsa::{GuestFeatures, VmmType};

/// `measure`: expected launch measurements and ID blocks.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "measure",
    about = "Expected AMD SEV/SEV-ES/SEV-SNP launch measurements and SNP ID blocks"
)]
pub struct MeasureArgs {
    /// What to compute.
    #[command(subcommand)]
    pub command: MeasureCommand,
}

/// The `measure` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum MeasureCommand {
    /// Calculate a guest's launch measurement (same inputs and output as sev-snp-measure)
    Snp(SnpArgs),
    /// Build and sign an SNP ID block and ID auth structure (like snp-create-id-block)
    SnpIdBlock(IdBlockArgs),
}

/// Guest mode (`--mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SEV.
    Sev,
    /// SEV-ES.
    SevEs,
    /// SEV-SNP.
    Snp,
    /// Only the digest of the OVMF pages, for `--snp-ovmf-hash`.
    SnpOvmfHash,
    /// SEV-SNP with Coconut-SVSM.
    SnpSvsm,
}

impl Mode {
    /// The reference tool's name for the mode in verbose output.
    fn reference_name(self) -> &'static str {
        match self {
            Mode::Sev => "SEV",
            Mode::SevEs => "SEV_ES",
            Mode::Snp | Mode::SnpOvmfHash => "SEV_SNP",
            Mode::SnpSvsm => "SEV_SNP_SVSM",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Mode::Sev => "sev",
            Mode::SevEs => "seves",
            Mode::Snp => "snp",
            Mode::SnpOvmfHash => "snp:ovmf-hash",
            Mode::SnpSvsm => "snp:svsm",
        }
    }
}

impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Mode::Sev,
            Mode::SevEs,
            Mode::Snp,
            Mode::SnpOvmfHash,
            Mode::SnpSvsm,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.flag()))
    }
}

impl clap::ValueEnum for VcpuType {
    fn value_variants<'a>() -> &'a [Self] {
        VcpuType::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl clap::ValueEnum for VmmType {
    fn value_variants<'a>() -> &'a [Self] {
        VmmType::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// Measurement output format (`--output-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lower-case hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// Flags of `measure snp`.
#[derive(clap::Args, Debug, Clone)]
pub struct SnpArgs {
    /// Print "Calculated <MODE> guest measurement: …" rather than the bare value
    #[arg(short, long)]
    pub verbose: bool,
    /// Guest mode
    #[arg(long, value_enum, default_value = "snp")]
    pub mode: Mode,
    /// Number of guest vCPUs (required except in sev and snp:ovmf-hash modes)
    #[arg(long, value_name = "N")]
    pub vcpus: Option<u32>,
    /// Type of guest vCPU (QEMU CPU model)
    #[arg(long, value_name = "CPUTYPE", value_enum, hide_possible_values = false)]
    pub vcpu_type: Option<VcpuType>,
    /// Guest vCPU signature value (CPUID 1 EAX; 0x-prefixed hex accepted)
    #[arg(long, value_name = "VALUE", value_parser = parse_u32_auto)]
    pub vcpu_sig: Option<u32>,
    /// Guest vCPU family
    #[arg(long, value_name = "FAMILY", requires_all = ["vcpu_model", "vcpu_stepping"])]
    pub vcpu_family: Option<u32>,
    /// Guest vCPU model
    #[arg(long, value_name = "MODEL")]
    pub vcpu_model: Option<u32>,
    /// Guest vCPU stepping
    #[arg(long, value_name = "STEPPING")]
    pub vcpu_stepping: Option<u32>,
    /// Type of guest VMM
    #[arg(long, value_name = "VMMTYPE", value_enum, default_value = "QEMU")]
    pub vmm_type: VmmType,
    /// OVMF firmware file to calculate the hash from
    #[arg(long, value_name = "PATH")]
    pub ovmf: PathBuf,
    /// Kernel file to calculate the hash from (measured direct boot)
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Initrd file to calculate the hash from (use with --kernel)
    #[arg(long, value_name = "PATH", requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// Kernel command line to calculate the hash from (use with --kernel)
    #[arg(long, value_name = "CMDLINE", requires = "kernel")]
    pub append: Option<String>,
    /// Guest features (SEV_FEATURES) expected in the VMSA, e.g. 0x1 (SNPActive)
    #[arg(long, value_name = "VALUE", value_parser = parse_u64_auto, default_value = "0x1")]
    pub guest_features: u64,
    /// Measurement output format
    #[arg(long, value_enum, default_value = "hex")]
    pub output_format: OutputFormat,
    /// Pre-calculated digest of the OVMF pages (hex, from --mode snp:ovmf-hash)
    #[arg(long, value_name = "HASH")]
    pub snp_ovmf_hash: Option<String>,
    /// Write the measured VMSAs to vmsa<N>.bin in the current directory
    #[arg(long)]
    pub dump_vmsa: bool,
    /// Coconut-SVSM binary (snp:svsm mode)
    #[arg(long, value_name = "PATH")]
    pub svsm: Option<PathBuf>,
    /// Size of the OVMF_VARS file in bytes (snp:svsm mode)
    #[arg(long, value_name = "SIZE", conflicts_with = "vars_file")]
    pub vars_size: Option<u64>,
    /// OVMF_VARS file, whose size is used (snp:svsm mode)
    #[arg(long, value_name = "PATH")]
    pub vars_file: Option<PathBuf>,
}

/// Flags of `measure snp-id-block`.
#[derive(clap::Args, Debug, Clone)]
pub struct IdBlockArgs {
    /// Expected launch measurement, base64 (as the reference tool takes it) or 96 hex digits
    #[arg(long, value_name = "VALUE")]
    pub measurement: String,
    /// ID private key (PEM, EC P-384, PKCS#8 or SEC1)
    #[arg(long, value_name = "PATH")]
    pub idkey: PathBuf,
    /// Author private key (PEM, EC P-384), which signs the ID key
    #[arg(long, value_name = "PATH")]
    pub authorkey: Option<PathBuf>,
    /// Family ID, 32 hex digits (default all zero)
    #[arg(long, value_name = "HEX", value_parser = parse_id16)]
    pub family_id: Option<[u8; 16]>,
    /// Image ID, 32 hex digits (default all zero)
    #[arg(long, value_name = "HEX", value_parser = parse_id16)]
    pub image_id: Option<[u8; 16]>,
    /// Guest SVN
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub guest_svn: u32,
    /// Guest policy the VM must be launched with
    #[arg(long, value_name = "VALUE", value_parser = parse_u64_auto, default_value = "0x30000")]
    pub policy: u64,
}

/// Why `measure` failed; every message names the file or flag involved.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// An input file could not be read.
    #[error("cannot read {what} file {}: {source}", path.display())]
    Read {
        /// Its role (OVMF, kernel, …).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The measurement could not be computed from the given files.
    #[error("{}: {source}", path.display())]
    Launch {
        /// The file the problem is in (the OVMF or SVSM file).
        path: PathBuf,
        /// What went wrong.
        source: LaunchError,
    },
    /// A key file could not be used.
    #[error("{what} file {}: {source}", path.display())]
    Key {
        /// ID key or author key.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What went wrong.
        source: IdBlockError,
    },
    /// Signing the ID block failed.
    #[error("ID block: {0}")]
    IdBlock(#[source] IdBlockError),
    /// A combination of flags that cannot be honoured.
    #[error("{0}")]
    Usage(String),
    /// Writing the result failed.
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

/// Runs a `measure` subcommand, writing its result to `out`.
pub fn run(args: &MeasureArgs, out: &mut dyn Write) -> Result<(), MeasureError> {
    match &args.command {
        MeasureCommand::Snp(a) => run_snp(a, out),
        MeasureCommand::SnpIdBlock(a) => run_id_block(a, out),
    }
}

fn usage(msg: impl Into<String>) -> MeasureError {
    MeasureError::Usage(msg.into())
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, MeasureError> {
    std::fs::read(path).map_err(|source| MeasureError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// SHA-256 of a file, streamed (initrds can be hundreds of MiB).
fn sha256_file(what: &'static str, path: &Path) -> Result<Sha256, MeasureError> {
    let err = |source| MeasureError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(err)?;
    let mut ctx = digest::Context::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        };
        ctx.update(buf.get(..n).unwrap_or_default());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// The vCPU signature the way the reference tool picks it: family/model/
/// stepping first, then an explicit signature, then the named type. As in
/// the reference, a zero family or signature counts as not given.
fn vcpu_signature(a: &SnpArgs) -> Option<VcpuSignature> {
    if let (Some(family), Some(model), Some(stepping)) = (
        a.vcpu_family.filter(|f| *f != 0),
        a.vcpu_model,
        a.vcpu_stepping,
    ) {
        return Some(VcpuSignature::from_family_model_stepping(
            family, model, stepping,
        ));
    }
    if let Some(sig) = a.vcpu_sig.filter(|s| *s != 0) {
        return Some(VcpuSignature(sig));
    }
    a.vcpu_type.map(VcpuType::signature)
}

fn run_snp(a: &SnpArgs, out: &mut dyn Write) -> Result<(), MeasureError> {
    let ovmf = read_file("OVMF", &a.ovmf)?;
    let launch_err = |path: &Path| {
        let path = path.to_owned();
        move |source| MeasureError::Launch { path, source }
    };

    if a.mode == Mode::SnpOvmfHash {
        let fw = Firmware::parse(&ovmf).map_err(|source| MeasureError::Launch {
            path: a.ovmf.clone(),
            source: LaunchError::Firmware {
                image: Image::Ovmf,
                source,
            },
        })?;
        let digest = launch::snp_ovmf_hash(&fw).map_err(launch_err(&a.ovmf))?;
        // Always hex, whatever --output-format says: this is the form
        // --snp-ovmf-hash takes back, and what the reference prints.
        return writeln!(out, "{}", digest.to_hex()).map_err(MeasureError::Write);
    }

    if a.mode != Mode::Snp && a.snp_ovmf_hash.is_some() {
        return Err(usage("--snp-ovmf-hash only works with --mode snp"));
    }
    if a.mode == Mode::SnpSvsm && a.kernel.is_some() {
        // The reference silently ignores a kernel here; refusing is safer
        // than printing a measurement that does not cover it.
        return Err(usage(
            "--kernel/--initrd/--append are not measured in snp:svsm mode",
        ));
    }
    if a.dump_vmsa && a.mode == Mode::Sev {
        return Err(usage("--dump-vmsa is not available in sev mode"));
    }
    let count = match (a.mode, a.vcpus) {
        (Mode::Sev, v) => v.unwrap_or(0),
        (_, None) => {
            return Err(usage(format!(
                "missing --vcpus N in guest mode '{}'",
                a.mode.flag()
            )))
        }
        (_, Some(0)) => return Err(usage("--vcpus must be at least 1")),
        (_, Some(n)) => n,
    };
    let signature = vcpu_signature(a);
    if a.mode != Mode::Sev && signature.is_none() && a.vmm_type == VmmType::Qemu {
        return Err(usage(format!(
            "missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '{}'",
            a.mode.flag()
        )));
    }
    let vcpus = Vcpus {
        count,
        signature,
        vmm: a.vmm_type,
    };

    let kernel = match &a.kernel {
        None => None,
        Some(k) => {
            let kernel = sha256_file("kernel", k)?;
            let initrd = a
                .initrd
                .as_deref()
                .map(|p| sha256_file("initrd", p))
                .transpose()?;
            Some(KernelHashes::from_digests(
                kernel,
                initrd,
                a.append.as_deref(),
            ))
        }
    };

    let svsm_data;
    let guest = match a.mode {
        Mode::Sev => Guest::Sev { kernel },
        Mode::SevEs => Guest::SevEs { kernel, vcpus },
        Mode::Snp => {
            let ovmf_hash = a
                .snp_ovmf_hash
                .as_deref()
                .map(LaunchDigest::from_hex)
                .transpose()
                .map_err(|e| usage(format!("--snp-ovmf-hash: {e}")))?;
            Guest::Snp {
                kernel,
                vcpus,
                features: GuestFeatures(a.guest_features),
                ovmf_hash,
            }
        }
        Mode::SnpSvsm => {
            let svsm_path = a
                .svsm
                .as_deref()
                .ok_or_else(|| usage("snp:svsm mode requires --svsm"))?;
            let vars_size = match (&a.vars_file, a.vars_size) {
                (Some(path), _) => std::fs::metadata(path)
                    .map_err(|source| MeasureError::Read {
                        what: "OVMF vars",
                        path: path.clone(),
                        source,
                    })?
                    .len(),
                (None, Some(n)) if n > 0 => n,
                _ => {
                    return Err(usage(
                        "snp:svsm mode requires --vars-size (non-zero) or --vars-file",
                    ))
                }
            };
            svsm_data = read_file("SVSM", svsm_path)?;
            Guest::SnpSvsm {
                svsm: &svsm_data,
                vars_size,
                vcpus,
            }
        }
        Mode::SnpOvmfHash => return Err(usage("unreachable mode")),
    };

    let blame = |e: &LaunchError| -> PathBuf {
        match (e, &a.svsm) {
            (
                LaunchError::Firmware {
                    image: Image::Svsm, ..
                }
                | LaunchError::Pages {
                    image: Image::Svsm, ..
                }
                | LaunchError::UnknownSection {
                    image: Image::Svsm, ..
                }
                | LaunchError::KernelHashesSectionSize {
                    image: Image::Svsm, ..
                },
                Some(svsm),
            ) => svsm.clone(),
            _ => a.ovmf.clone(),
        }
    };
    let to_err = |source: LaunchError| MeasureError::Launch {
        path: blame(&source),
        source,
    };
    let measurement = launch::launch_digest(&ovmf, &guest).map_err(to_err)?;

    if a.dump_vmsa {
        let pages = launch::vmsa_pages(&ovmf, &guest).map_err(to_err)?;
        for (i, page) in pages.iter().enumerate() {
            let path = PathBuf::from(format!("vmsa{i}.bin"));
            std::fs::write(&path, page.as_slice()).map_err(MeasureError::Write)?;
        }
    }

    let text = match (a.output_format, measurement) {
        (OutputFormat::Hex, m) => m.to_hex(),
        (OutputFormat::Base64, m) => m.to_base64(),
    };
    let line = if a.verbose {
        format!(
            "Calculated {} guest measurement: {text}",
            a.mode.reference_name()
        )
    } else {
        text
    };
    writeln!(out, "{line}").map_err(MeasureError::Write)
}

fn load_key(what: &'static str, path: &Path) -> Result<SigningKey, MeasureError> {
    let pem = read_file(what, path)?;
    SigningKey::from_pem(&pem).map_err(|source| MeasureError::Key {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads a launch digest given as base64 (the reference tool's form) or
/// hex.
pub fn parse_measurement(text: &str) -> Result<LaunchDigest, String> {
    let text = text.trim();
    if text.len() == 96 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return LaunchDigest::from_hex(text).map_err(|e| e.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("--measurement is neither 96 hex digits nor base64: {e}"))?;
    let len = bytes.len();
    <[u8; 48]>::try_from(bytes)
        .map(LaunchDigest)
        .map_err(|_| format!("--measurement decodes to {len} bytes, an SNP measurement has 48"))
}

fn run_id_block(a: &IdBlockArgs, out: &mut dyn Write) -> Result<(), MeasureError> {
    let ld = parse_measurement(&a.measurement).map_err(MeasureError::Usage)?;
    let id_key = load_key("ID key", &a.idkey)?;
    let author = a
        .authorkey
        .as_deref()
        .map(|p| load_key("author key", p))
        .transpose()?;
    let block = IdBlock {
        family_id: a.family_id.unwrap_or_default(),
        image_id: a.image_id.unwrap_or_default(),
        guest_svn: a.guest_svn,
        policy: GuestPolicy(a.policy),
        ..IdBlock::new(ld)
    };
    let signed =
        SignedIdBlock::sign(&block, &id_key, author.as_ref()).map_err(MeasureError::IdBlock)?;
    writeln!(out, "{}", signed.to_reference_text()).map_err(MeasureError::Write)
}

/// Parses an integer the way Python's `int(text, 0)` does (decimal, or
/// 0x/0o/0b-prefixed, underscores between digits), refusing negatives.
pub fn parse_u64_auto(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.starts_with('-') {
        return Err(format!("'{text}' is negative"));
    }
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else {
        // Python refuses leading zeros in decimal ("010") as ambiguous.
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
            return Err(format!(
                "'{text}': leading zeros are not allowed in decimal"
            ));
        }
        (10, lower.as_str())
    };
    // Underscores may separate digits (and follow a radix prefix).
    let digits = if radix != 10 {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(format!("'{text}' is not an integer"));
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    u64::from_str_radix(&clean, radix).map_err(|e| format!("'{text}': {e}"))
}

/// [`parse_u64_auto`] limited to 32 bits.
pub fn parse_u32_auto(text: &str) -> Result<u32, String> {
    let v = parse_u64_auto(text)?;
    u32::try_from(v).map_err(|_| format!("'{text}' does not fit in 32 bits"))
}

fn parse_id16(text: &str) -> Result<[u8; 16], String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("'{text}': {e}"))?;
    let len = bytes.len();
    <[u8; 16]>::try_from(bytes).map_err(|_| format!("'{text}' is {len} bytes, expected 16"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn auto_base_integers() {
        assert_eq!(parse_u64_auto("0x1"), Ok(1));
        assert_eq!(parse_u64_auto("0X2f"), Ok(0x2f));
        assert_eq!(parse_u64_auto("33"), Ok(33));
        assert_eq!(parse_u64_auto("0"), Ok(0));
        assert_eq!(parse_u64_auto("000"), Ok(0));
        assert_eq!(parse_u64_auto("0b101"), Ok(5));
        assert_eq!(parse_u64_auto("0o17"), Ok(15));
        assert_eq!(parse_u64_auto("1_000"), Ok(1000));
        assert_eq!(parse_u64_auto("0x_ff"), Ok(255));
        assert!(parse_u64_auto("010").is_err());
        assert!(parse_u64_auto("-1").is_err());
        assert!(parse_u64_auto("0x").is_err());
        assert!(parse_u64_auto("1__0").is_err());
        assert!(parse_u64_auto("_1").is_err());
        assert!(parse_u64_auto("0x1g").is_err());
        assert!(parse_u32_auto("0x100000000").is_err());
    }

    #[test]
    fn measurement_forms() {
        let d = LaunchDigest([0x5a; 48]);
        assert_eq!(parse_measurement(&d.to_hex()), Ok(d));
        assert_eq!(parse_measurement(&d.to_base64()), Ok(d));
        assert!(parse_measurement("AAAA").is_err());
        assert!(parse_measurement("***").is_err());
    }

    #[test]
    fn flags_parse_like_the_reference() {
        let args = MeasureArgs::try_parse_from([
            "measure",
            "snp",
            "--mode",
            "snp:svsm",
            "--vcpus",
            "4",
            "--vcpu-type",
            "EPYC-Milan-v2",
            "--ovmf",
            "/x",
            "--vmm-type",
            "QEMU",
            "--guest-features",
            "0x21",
            "--vars-size",
            "540672",
            "--svsm",
            "/y",
        ])
        .expect("parses");
        let MeasureCommand::Snp(s) = args.command else {
            panic!("snp subcommand")
        };
        assert_eq!(s.mode, Mode::SnpSvsm);
        assert_eq!(s.vcpu_type, Some(VcpuType::EpycMilanV2));
        assert_eq!(s.guest_features, 0x21);
        assert!(MeasureArgs::try_parse_from([
            "measure",
            "snp",
            "--ovmf",
            "/x",
            "--vcpu-type",
            "epyc"
        ])
        .is_err());
        assert!(
            MeasureArgs::try_parse_from(["measure", "snp", "--ovmf", "/x", "--initrd", "/i"])
                .is_err()
        );
        assert!(MeasureArgs::try_parse_from([
            "measure",
            "snp",
            "--ovmf",
            "/x",
            "--vars-size",
            "1",
            "--vars-file",
            "/v"
        ])
        .is_err());
    }

    #[test]
    fn signature_precedence() {
        let parse = |extra: &[&str]| {
            let mut v = vec!["measure", "snp", "--ovmf", "/x"];
            v.extend_from_slice(extra);
            match MeasureArgs::try_parse_from(v).expect("parses").command {
                MeasureCommand::Snp(s) => vcpu_signature(&s),
                MeasureCommand::SnpIdBlock(_) => None,
            }
        };
        assert_eq!(
            parse(&["--vcpu-type", "EPYC", "--vcpu-sig", "0x10"]),
            Some(VcpuSignature(0x10))
        );
        assert_eq!(
            parse(&[
                "--vcpu-sig",
                "0x10",
                "--vcpu-family",
                "25",
                "--vcpu-model",
                "1",
                "--vcpu-stepping",
                "1"
            ]),
            Some(VcpuType::EpycMilan.signature())
        );
        assert_eq!(
            parse(&["--vcpu-type", "EPYC-Genoa", "--vcpu-sig", "0"]),
            Some(VcpuType::EpycGenoa.signature())
        );
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn errors_name_the_file() {
        let args = MeasureArgs::try_parse_from([
            "measure",
            "snp",
            "--ovmf",
            "/nonexistent/OVMF.fd",
            "--vcpus",
            "1",
            "--vcpu-type",
            "EPYC",
        ])
        .expect("parses");
        let err = run(&args, &mut Vec::new()).expect_err("missing file");
        let msg = err.to_string();
        assert!(msg.contains("OVMF file /nonexistent/OVMF.fd"), "{msg}");
    }
}

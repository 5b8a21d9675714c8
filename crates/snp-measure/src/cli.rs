//! Command-line surface: `measure snp` (the reference `sev-snp-measure`
//! flags) and `measure snp-id-block` (the reference `snp-create-id-block`
//! flags plus the ID block fields it hard-codes).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{self, SHA256};
use base64::Engine as _;
use clap::builder::PossibleValue;

use crate::firmware::{Firmware, FOUR_GIB};
use crate::gctx::{page_digest, Gpa, GuestContext, LaunchDigest, PAGE_SIZE};
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
    /// Print "Calculated SEV_SNP guest measurement: …" (or the mode in use) rather than the bare value
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
    /// Write the measured VMSAs to vmsa0.bin, vmsa1.bin, … in the current directory
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
    /// Writing a file (a `--dump-vmsa` page) failed.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
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

/// Bytes first read from the end of a firmware file: the footer table and
/// SEV metadata of OVMF builds sit within the last few KiB (next to the
/// reset vector); when a table or the metadata lies further back, the
/// parser says how much is needed and that much is read.
const TAIL_LEN: u64 = 16 * 1024;
/// Firmware is hashed through buffers of this size rather than read whole:
/// touching fresh memory costs a page fault per 4 KiB, about as much as
/// hashing the page.
const STREAM_CHUNK: usize = 64 * 1024;

/// What was read of the OVMF file.
struct OvmfInput {
    /// The whole file, or only its end (see [`OvmfRead`]).
    bytes: Vec<u8>,
    /// The file's length.
    len: u64,
    /// The SNP digest of its pages, when they were streamed.
    pages_digest: Option<LaunchDigest>,
}

/// How much of the OVMF file a mode needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OvmfRead {
    /// All of it in memory (SEV/SEV-ES hash it whole, SVSM too).
    Whole,
    /// Its SNP page digest, computed as it is read, and its end.
    StreamPages,
    /// Only its end (SNP with a pre-computed OVMF hash).
    TailOnly,
}

fn read_ovmf(path: &Path, how: OvmfRead) -> Result<OvmfInput, MeasureError> {
    let err = |source| MeasureError::Read {
        what: "OVMF",
        path: path.to_owned(),
        source,
    };
    if how == OvmfRead::Whole {
        let bytes = read_file("OVMF", path)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        return Ok(OvmfInput {
            bytes,
            len,
            pages_digest: None,
        });
    }
    let mut file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let mut tail = read_tail(&mut file, len, TAIL_LEN.min(len)).map_err(err)?;
    // The metadata may lie further back than the first guess.
    for _ in 0..3 {
        match Firmware::parse_tail(&tail, len, Gpa(FOUR_GIB)) {
            Err(crate::firmware::FirmwareError::TailTooShort { need, .. })
                if u64::try_from(need)
                    .is_ok_and(|n| n <= len && n > u64::try_from(tail.len()).unwrap_or(0)) =>
            {
                tail =
                    read_tail(&mut file, len, u64::try_from(need).unwrap_or(len)).map_err(err)?;
            }
            _ => break,
        }
    }
    let pages_digest = if how == OvmfRead::StreamPages && len % PAGE_SIZE as u64 == 0 {
        Some(stream_pages_digest(&mut file, len).map_err(err)?)
    } else {
        // A length that is not whole pages is reported by the measurement
        // itself, from the tail, with the same message as for a whole file.
        None
    };
    Ok(OvmfInput {
        bytes: tail,
        len,
        pages_digest,
    })
}

/// The last `n` bytes of a file of length `len`.
fn read_tail(file: &mut File, len: u64, n: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(len.saturating_sub(n)))?;
    let mut tail = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    file.take(n).read_to_end(&mut tail)?;
    if u64::try_from(tail.len()).ok() != Some(n) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file changed while being read",
        ));
    }
    Ok(tail)
}

/// The SNP launch digest of the file's pages mapped to end at 4 GiB.
///
/// Page digests are independent, so each worker hashes its own contiguous
/// share of the file, read with positional reads into its own small buffer;
/// only the chaining through PAGE_INFO is sequential.
fn stream_pages_digest(file: &mut File, len: u64) -> io::Result<LaunchDigest> {
    let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidData, msg.to_owned());
    let gpa = FOUR_GIB
        .checked_sub(len)
        .ok_or_else(|| invalid("firmware larger than 4 GiB"))?;
    let pages = len / PAGE_SIZE as u64;
    // Below ~64 pages per worker a thread costs more than it saves.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| u64::try_from(n.get()).unwrap_or(1))
        .min(8)
        .min(pages.div_ceil(64))
        .max(1);
    let per_worker = pages.div_ceil(workers);
    let shares: Vec<(u64, u64)> = (0..workers)
        .map(|w| {
            let first = w * per_worker;
            (first.min(pages), (first + per_worker).min(pages))
        })
        .collect();
    let file: &File = file;
    let digests = std::thread::scope(|scope| -> io::Result<Vec<[u8; 48]>> {
        let mut shares = shares.into_iter();
        let own = shares.next().unwrap_or((0, 0));
        let spawned: Vec<_> = shares
            .map(|share| {
                let handle = std::thread::Builder::new()
                    .spawn_scoped(scope, move || hash_share(file, share))
                    .ok();
                (share, handle)
            })
            .collect();
        let mut all = hash_share(file, own)?;
        for (share, handle) in spawned {
            let part = match handle.map(|h| h.join()) {
                Some(Ok(part)) => part?,
                // Not started, or died: do that share here.
                _ => hash_share(file, share)?,
            };
            all.extend(part);
        }
        Ok(all)
    })?;
    if u64::try_from(digests.len()).ok() != Some(pages) {
        return Err(invalid("file changed while being read"));
    }
    let mut g = GuestContext::new();
    g.update_normal_page_digests(Gpa(gpa), &digests)
        .map_err(|e| invalid(&e.to_string()))?;
    Ok(g.digest())
}

/// Page digests of pages `first..end` of the file.
fn hash_share(file: &File, (first, end): (u64, u64)) -> io::Result<Vec<[u8; 48]>> {
    let page = PAGE_SIZE as u64;
    let mut out = Vec::with_capacity(usize::try_from(end.saturating_sub(first)).unwrap_or(0));
    let mut buf = vec![0u8; STREAM_CHUNK];
    let chunk_pages = (STREAM_CHUNK / PAGE_SIZE) as u64;
    let mut next = first;
    while next < end {
        let n = chunk_pages.min(end - next);
        let bytes = usize::try_from(n * page).unwrap_or(STREAM_CHUNK);
        let chunk = buf.get_mut(..bytes).unwrap_or_default();
        read_exact_at(file, chunk, next * page)?;
        out.extend(chunk.chunks_exact(PAGE_SIZE).map(page_digest));
        next += n;
    }
    Ok(out)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = buf.get_mut(n..).unwrap_or_default();
                offset = offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn run_snp(a: &SnpArgs, out: &mut dyn Write) -> Result<(), MeasureError> {
    let launch_err = |path: &Path| {
        let path = path.to_owned();
        move |source| MeasureError::Launch { path, source }
    };
    let ovmf_fw_err = |source| MeasureError::Launch {
        path: a.ovmf.clone(),
        source: LaunchError::Firmware {
            image: Image::Ovmf,
            source,
        },
    };

    if a.mode == Mode::SnpOvmfHash {
        let input = read_ovmf(&a.ovmf, OvmfRead::StreamPages)?;
        // Parsed for its errors: the reference refuses a bad table or
        // metadata here too.
        let fw =
            Firmware::parse_tail(&input.bytes, input.len, Gpa(FOUR_GIB)).map_err(ovmf_fw_err)?;
        let digest = match input.pages_digest {
            Some(d) => d,
            None => launch::snp_ovmf_hash(&fw).map_err(launch_err(&a.ovmf))?,
        };
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

    let user_ovmf_hash = a
        .snp_ovmf_hash
        .as_deref()
        .map(LaunchDigest::from_hex)
        .transpose()
        .map_err(|e| usage(format!("--snp-ovmf-hash: {e}")))?;
    let how = match (a.mode, user_ovmf_hash) {
        (Mode::Snp, Some(_)) => OvmfRead::TailOnly,
        (Mode::Snp, None) => OvmfRead::StreamPages,
        _ => OvmfRead::Whole,
    };
    let input = read_ovmf(&a.ovmf, how)?;
    let fw = Firmware::parse_tail(&input.bytes, input.len, Gpa(FOUR_GIB)).map_err(ovmf_fw_err)?;

    let svsm_data;
    let guest = match a.mode {
        Mode::Sev => Guest::Sev { kernel },
        Mode::SevEs => Guest::SevEs { kernel, vcpus },
        Mode::Snp => {
            let ovmf_hash = match user_ovmf_hash {
                Some(h) => Some(h),
                None => input.pages_digest,
            };
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
    let measurement = launch::launch_digest_of(&fw, &guest).map_err(to_err)?;
    if a.mode == Mode::Snp && fw.metadata_sections().is_empty() {
        // The reference prints a value here too, so we do; but no secrets or
        // CPUID page will be set up, which is almost never what was meant.
        eprintln!(
            "warning: {} declares no SEV metadata sections (no secrets or CPUID page): \
             it is probably not an SEV-SNP capable OVMF build",
            a.ovmf.display()
        );
    }

    if a.dump_vmsa {
        let pages = launch::vmsa_pages_of(&fw, &guest).map_err(to_err)?;
        for (i, page) in pages.iter().enumerate() {
            let path = PathBuf::from(format!("vmsa{i}.bin"));
            std::fs::write(&path, page.as_slice())
                .map_err(|source| MeasureError::WriteFile { path, source })?;
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

    fn temp_file(name: &str, data: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("snp-measure-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, data).expect("write temp file");
        path
    }

    fn run_args(args: &[&str]) -> Result<String, MeasureError> {
        let mut argv = vec!["measure", "snp"];
        argv.extend_from_slice(args);
        let parsed = MeasureArgs::try_parse_from(argv).expect("parses");
        let mut out = Vec::new();
        run(&parsed, &mut out)?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    /// The streamed, tail-parsed path gives what the library gives on the
    /// whole image, including when the metadata lies far from the end and
    /// around the streaming chunk size.
    #[test]
    fn streamed_firmware_matches_whole_image() {
        use crate::firmware::tests::build_image;
        use crate::guid;
        let chunk_pages = STREAM_CHUNK / PAGE_SIZE;
        for pages in [
            1,
            40,
            chunk_pages - 1,
            chunk_pages,
            chunk_pages + 1,
            3 * chunk_pages + 7,
        ] {
            let img = build_image(
                pages,
                &[(guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0])],
                Some(&[
                    (0x80_0000, 0x2000, 1),
                    (0x80_d000, 0x1000, 2),
                    (0x80_e000, 0x1000, 3),
                ]),
            );
            let path = temp_file(&format!("stream-{pages}.fd"), &img);
            let p = path.to_str().expect("utf-8 path");
            let sig = VcpuType::EpycGenoa.signature();
            let whole = launch::launch_digest(
                &img,
                &Guest::Snp {
                    kernel: None,
                    vcpus: Vcpus {
                        count: 3,
                        signature: Some(sig),
                        vmm: VmmType::Qemu,
                    },
                    features: GuestFeatures(1),
                    ovmf_hash: None,
                },
            )
            .expect("measures");
            let ours = run_args(&["--vcpus", "3", "--vcpu-type", "EPYC-Genoa", "--ovmf", p])
                .expect("runs");
            assert_eq!(ours.trim(), whole.to_hex(), "{pages} pages");
            let hash = run_args(&["--mode", "snp:ovmf-hash", "--ovmf", p]).expect("runs");
            let fw = Firmware::parse(&img).expect("parses");
            assert_eq!(
                hash.trim(),
                launch::snp_ovmf_hash(&fw).expect("hash").to_hex()
            );
            let seeded = run_args(&[
                "--vcpus",
                "3",
                "--vcpu-type",
                "EPYC-Genoa",
                "--ovmf",
                p,
                "--snp-ovmf-hash",
                hash.trim(),
            ])
            .expect("runs");
            assert_eq!(seeded, ours);
        }
    }

    #[test]
    fn streamed_firmware_errors_match_whole_image() {
        use crate::firmware::tests::build_image;
        use crate::guid;
        let mut img = build_image(
            300,
            &[(guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0])],
            Some(&[(0x80_0000, 0x2000, 1)]),
        );
        img.drain(..100);
        let path = temp_file("odd.fd", &img);
        let p = path.to_str().expect("utf-8 path");
        let whole = launch::launch_digest(
            &img,
            &Guest::Snp {
                kernel: None,
                vcpus: Vcpus {
                    count: 1,
                    signature: Some(VcpuSignature(1)),
                    vmm: VmmType::Qemu,
                },
                features: GuestFeatures(1),
                ovmf_hash: None,
            },
        )
        .expect_err("not whole pages");
        for mode in ["snp", "snp:ovmf-hash"] {
            let err = run_args(&[
                "--mode",
                mode,
                "--vcpus",
                "1",
                "--vcpu-sig",
                "1",
                "--ovmf",
                p,
            ])
            .expect_err("not whole pages");
            assert_eq!(err.to_string(), format!("{p}: {whole}"));
        }
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

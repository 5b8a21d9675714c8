//! Reading evidence and collateral files and recognising what they are.

use crate::cli::TeeKind;
use mamori_verifier::Collateral;
use std::path::{Path, PathBuf};

/// Evidence recognised by content.
pub enum Evidence {
    Snp(tee_snp::SnpEvidence),
    /// An Intel DCAP quote (TDX or SGX), with where it came from.
    Dcap {
        quote: Vec<u8>,
        container: &'static str,
    },
}

impl Evidence {
    pub fn tee(&self) -> &'static str {
        match self {
            Evidence::Snp(_) => "snp",
            Evidence::Dcap { quote, .. } => match tee_dcap::inspect(quote) {
                Ok(q) if q.info.tee_type == 0 => "sgx",
                _ => "tdx",
            },
        }
    }
}

/// A DCAP quote held as raw bytes, hex or base64 text, or inside Azure's
/// TDX vTPM evidence JSON (`td_quote`, a byte array or base64url).
fn dcap(bytes: &[u8]) -> Option<Evidence> {
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &bytes[i..]);
    if trimmed.and_then(|t| t.first()) == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let q = v.get("td_quote")?;
        let quote = match q {
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect::<Option<Vec<u8>>>()?,
            serde_json::Value::String(s) => mamori_verifier::decode_text(s.as_bytes()).0,
            _ => return None,
        };
        return tee_dcap::detect(&quote).then_some(Evidence::Dcap {
            quote,
            container: "azure-tdx-vtpm",
        });
    }
    let (decoded, _) = mamori_verifier::decode_text(bytes);
    tee_dcap::detect(&decoded).then_some(Evidence::Dcap {
        quote: decoded,
        container: "quote",
    })
}

/// A failure that is the user's input, not the evidence: exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

pub fn read_file(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))
}

/// Recognises the evidence in `bytes`, or explains why it is none we know.
pub fn detect(bytes: &[u8], forced: Option<TeeKind>) -> Result<Evidence, UsageError> {
    match forced {
        Some(TeeKind::Snp) => tee_snp::extract(bytes)
            .map(Evidence::Snp)
            .map_err(|e| UsageError(format!("unrecognised evidence: {e}"))),
        Some(kind @ (TeeKind::Tdx | TeeKind::Sgx)) => {
            let ev = dcap(bytes).ok_or_else(|| {
                UsageError("unrecognised evidence: not an Intel DCAP quote".into())
            })?;
            // A quote says which TEE made it; `--tee` must agree.
            let wanted = if matches!(kind, TeeKind::Tdx) {
                "tdx"
            } else {
                "sgx"
            };
            if ev.tee() != wanted {
                return Err(UsageError(format!(
                    "--tee {wanted}, but the evidence is {} quote",
                    if ev.tee() == "tdx" { "a TDX" } else { "an SGX" }
                )));
            }
            Ok(ev)
        }
        None => match dcap(bytes) {
            Some(e) => Ok(e),
            None => tee_snp::extract(bytes).map(Evidence::Snp).map_err(|e| {
                UsageError(format!(
                    "unrecognised evidence (neither an Intel DCAP quote nor SEV-SNP): {e}"
                ))
            }),
        },
    }
}

fn collect_files(path: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), UsageError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| UsageError(format!("cannot list {}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                collect_files(&p, out)?;
            } else {
                out.push((p, false));
            }
        }
    } else {
        out.push((path.to_path_buf(), true));
    }
    Ok(())
}

/// Loads collateral from files and directories. A file named explicitly
/// must be recognised; files found inside directories that are not
/// collateral (notes, keys) are skipped with a remark on stderr.
/// Collateral as read: the shared bag, and every file's bytes (with whether
/// it was named explicitly) for recognisers of vendor documents.
pub struct LoadedCollateral {
    pub bag: Collateral,
    pub files: Vec<(PathBuf, bool, Vec<u8>)>,
}

pub fn load_collateral(paths: &[PathBuf]) -> Result<LoadedCollateral, UsageError> {
    let mut listed = Vec::new();
    for p in paths {
        collect_files(p, &mut listed)?;
    }
    let mut bag = Collateral::new();
    let mut files = Vec::new();
    for (path, explicit) in listed {
        let bytes = read_file(&path)?;
        let name = path.display().to_string();
        match bag.add(&name, &bytes) {
            Ok(()) => {}
            Err(e) if explicit => return Err(UsageError(format!("collateral {e}"))),
            Err(e) => eprintln!("note: skipping {e}"),
        }
        files.push((path, explicit, bytes));
    }
    Ok(LoadedCollateral { bag, files })
}

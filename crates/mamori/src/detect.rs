//! Reading evidence and collateral files and recognising what they are.

use crate::cli::TeeKind;
use mamori_verifier::Collateral;
use std::path::{Path, PathBuf};

/// Evidence recognised by content.
pub enum Evidence {
    Snp(tee_snp::SnpEvidence),
}

impl Evidence {
    pub fn tee(&self) -> &'static str {
        match self {
            Evidence::Snp(_) => "snp",
        }
    }
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
        Some(TeeKind::Snp) | None => tee_snp::extract(bytes)
            .map(Evidence::Snp)
            .map_err(|e| UsageError(format!("unrecognised evidence: {e}"))),
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
pub fn load_collateral(paths: &[PathBuf]) -> Result<Collateral, UsageError> {
    let mut files = Vec::new();
    for p in paths {
        collect_files(p, &mut files)?;
    }
    let mut bag = Collateral::new();
    for (path, explicit) in files {
        let bytes = read_file(&path)?;
        let name = path.display().to_string();
        match bag.add(&name, &bytes) {
            Ok(()) => {}
            Err(e) if explicit => return Err(UsageError(format!("collateral {e}"))),
            Err(e) => eprintln!("note: skipping {e}"),
        }
    }
    Ok(bag)
}

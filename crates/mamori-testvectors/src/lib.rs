//! Locates the real evidence that tests read in place.
//!
//! The vectors are never copied into the repository: tests find them through
//! `MAMORI_VECTORS`, or else `../shared/vectors` next to the workspace root.
//! When neither exists the tests print why and skip, so a checkout without the
//! shared folder still builds and runs its self-contained tests.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The vectors folder, if it exists.
pub fn dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MAMORI_VECTORS") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    // crates/<name>/ -> workspace root -> ../shared/vectors
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join("../shared/vectors");
    p.is_dir().then_some(p)
}

/// Reads one vector (path relative to the vectors folder). `None` (with a
/// note on stderr) when the folder is absent; a missing file inside a present
/// folder is a test failure, because the manifest promised it.
pub fn read(rel: &str) -> Option<Vec<u8>> {
    let Some(d) = dir() else {
        eprintln!("skipping: vectors folder not found (set MAMORI_VECTORS); wanted {rel}");
        return None;
    };
    let path = d.join(rel);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => panic!("vector {} unreadable: {e}", path.display()),
    }
}

/// Path of one vector, if the folder is present.
pub fn path(rel: &str) -> Option<PathBuf> {
    match dir() {
        Some(d) => Some(d.join(rel)),
        None => {
            eprintln!("skipping: vectors folder not found (set MAMORI_VECTORS); wanted {rel}");
            None
        }
    }
}

//! Envelope encryption of secrets at rest. Each secret gets a fresh data key
//! (AES-256-GCM); the data key is sealed under the key-encryption key (KEK),
//! which lives in a file outside the database (or in an environment
//! variable). The stored path is bound as associated data, so a sealed blob
//! moved to another path does not open.
//!
//! Blob layout (version 1): `01 ‖ nonce_k(12) ‖ sealed data key(32+16) ‖
//! nonce_d(12) ‖ ciphertext ‖ tag(16)`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use thiserror::Error;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

#[derive(Debug, Error)]
pub enum KekError {
    #[error("key-encryption key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("key-encryption key in ${var}: {reason}")]
    Env { var: String, reason: String },
    #[error("key-encryption key: {0} bytes, expected {KEY_LEN}")]
    Length(usize),
    #[error("sealed data is corrupt or was sealed for another path or key")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// The key-encryption key.
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

fn aes(key: &[u8]) -> Result<LessSafeKey, KekError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| KekError::Seal)
}

fn random<const N: usize>() -> Result<[u8; N], KekError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KekError::Seal)?;
    Ok(b)
}

impl Kek {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        if bytes.len() != KEY_LEN {
            return Err(KekError::Length(bytes.len()));
        }
        Ok(Kek { key: aes(bytes)? })
    }

    /// Reads the key from `$var` (hex), if set.
    pub fn from_env(var: &str) -> Result<Option<Self>, KekError> {
        let Ok(v) = std::env::var(var) else {
            return Ok(None);
        };
        let bytes = hex::decode(v.trim()).map_err(|e| KekError::Env {
            var: var.into(),
            reason: format!("not hex: {e}"),
        })?;
        if bytes.len() != KEY_LEN {
            return Err(KekError::Env {
                var: var.into(),
                reason: format!("{} bytes, expected {KEY_LEN}", bytes.len()),
            });
        }
        Ok(Some(Kek { key: aes(&bytes)? }))
    }

    /// Loads the key file, creating it (mode 0600, 32 random bytes) when it
    /// does not exist. A file readable by others is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, KekError> {
        if let Some(k) = Self::load_existing(path)? {
            return Ok(k);
        }
        let bytes: [u8; KEY_LEN] = random()?;
        write_private(path, &bytes).map_err(|e| KekError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Kek { key: aes(&bytes)? })
    }

    /// Loads the key file if it exists (`None` when it does not). A file
    /// readable by others is refused.
    pub fn load_existing(path: &Path) -> Result<Option<Self>, KekError> {
        let err = |reason: String| KekError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                check_mode(path).map_err(err)?;
                if bytes.len() != KEY_LEN {
                    return Err(err(format!("{} bytes, expected {KEY_LEN}", bytes.len())));
                }
                Ok(Some(Kek { key: aes(&bytes)? }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Seals `plaintext` for `context` (the path it is stored under).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let data_key: [u8; KEY_LEN] = random()?;
        let nk: [u8; NONCE_LEN] = random()?;
        let nd: [u8; NONCE_LEN] = random()?;
        let mut sealed_key = data_key.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nk),
                Aad::from(context.as_bytes()),
                &mut sealed_key,
            )
            .map_err(|_| KekError::Seal)?;
        let mut body = plaintext.to_vec();
        aes(&data_key)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nd),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| KekError::Seal)?;
        let mut out = Vec::with_capacity(1 + 2 * NONCE_LEN + sealed_key.len() + body.len());
        out.push(VERSION);
        out.extend_from_slice(&nk);
        out.extend_from_slice(&sealed_key);
        out.extend_from_slice(&nd);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a blob sealed for `context`.
    pub fn open(&self, context: &str, blob: &[u8]) -> Result<Vec<u8>, KekError> {
        let (&v, rest) = blob.split_first().ok_or(KekError::Open)?;
        if v != VERSION || rest.len() < 2 * NONCE_LEN + KEY_LEN + 2 * TAG_LEN {
            return Err(KekError::Open);
        }
        let (nk, rest) = rest.split_at(NONCE_LEN);
        let (sk, rest) = rest.split_at(KEY_LEN + TAG_LEN);
        let (nd, body) = rest.split_at(NONCE_LEN);
        let nonce = |b: &[u8]| Nonce::try_assume_unique_for_key(b).map_err(|_| KekError::Open);
        let mut key = sk.to_vec();
        let data_key = self
            .key
            .open_in_place(nonce(nk)?, Aad::from(context.as_bytes()), &mut key)
            .map_err(|_| KekError::Open)?;
        let mut body = body.to_vec();
        let plain = aes(data_key)
            .map_err(|_| KekError::Open)?
            .open_in_place(nonce(nd)?, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| KekError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "permissions {:o} let others read it; chmod 600",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Writes a new file readable only by its owner (never overwrites).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = Kek::from_bytes(&[7u8; 32]).unwrap();
        let blob = k.seal("default/key/a", b"secret").unwrap();
        assert_eq!(k.open("default/key/a", &blob).unwrap(), b"secret");
        assert!(k.open("default/key/b", &blob).is_err());
        let other = Kek::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("default/key/a", &blob).is_err());
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 1;
            assert!(k.open("default/key/a", &b).is_err(), "byte {i}");
        }
        assert!(k.open("default/key/a", &blob[..blob.len() - 1]).is_err());
        assert!(k.open("default/key/a", &[]).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("mamori-kek-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("kek.key");
        let a = Kek::load_or_create(&p).unwrap();
        let blob = a.seal("x", b"y").unwrap();
        let b = Kek::load_or_create(&p).unwrap();
        assert_eq!(b.open("x", &blob).unwrap(), b"y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Kek::load_or_create(&p).is_err());
        }
    }
}

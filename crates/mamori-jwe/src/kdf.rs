//! Concat KDF as JOSE uses it for ECDH-ES (RFC 7518 §4.6.2, NIST SP 800-56A
//! §5.8.1 single-step KDF with SHA-256).
//!
//! aws-lc-rs's `kdf::sskdf_digest` is NIST SP 800-56C rev. 2 "Option 1": the
//! output is `H(counter ‖ Z ‖ FixedInfo)` for counter = 1, 2, …, which is the
//! same construction as 800-56A's Concat KDF. So we only build JOSE's
//! `OtherInfo` (= FixedInfo) and call it:
//!
//! ```text
//! OtherInfo = len32(AlgorithmID) ‖ AlgorithmID
//!           ‖ len32(PartyUInfo)  ‖ PartyUInfo      (apu, decoded; may be empty)
//!           ‖ len32(PartyVInfo)  ‖ PartyVInfo      (apv, decoded; may be empty)
//!           ‖ be32(keydatalen in bits)             (SuppPubInfo; SuppPrivInfo empty)
//! ```
//! RFC 7518 Appendix C is the test vector (see the tests).

use crate::JweError;
use aws_lc_rs::kdf::{get_sskdf_digest_algorithm, sskdf_digest, SskdfDigestAlgorithmId};

fn push_len_prefixed(info: &mut Vec<u8>, data: &[u8]) -> Result<(), JweError> {
    let len = u32::try_from(data.len()).map_err(|_| JweError::Crypto("KDF input too long"))?;
    info.extend_from_slice(&len.to_be_bytes());
    info.extend_from_slice(data);
    Ok(())
}

/// Derives `out.len()` bytes from the shared secret `z` for `algorithm_id`
/// (the `enc` value for direct ECDH-ES, else the `alg` value such as
/// `ECDH-ES+A256KW`), with the decoded `apu` / `apv` (empty when absent).
///
/// # Errors
/// [`JweError::Crypto`] if the output is empty or the KDF fails.
pub fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    out: &mut [u8],
) -> Result<(), JweError> {
    let keydatalen_bits = out
        .len()
        .checked_mul(8)
        .and_then(|b| u32::try_from(b).ok())
        .filter(|b| *b > 0)
        .ok_or(JweError::Crypto("KDF output length"))?;
    let mut info = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    push_len_prefixed(&mut info, algorithm_id.as_bytes())?;
    push_len_prefixed(&mut info, apu)?;
    push_len_prefixed(&mut info, apv)?;
    info.extend_from_slice(&keydatalen_bits.to_be_bytes());
    let alg = get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256)
        .ok_or(JweError::Crypto("SSKDF-SHA256 unavailable"))?;
    sskdf_digest(alg, z, &info, out).map_err(|_| JweError::Crypto("Concat KDF"))
}

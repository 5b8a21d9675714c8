//! Strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
//!
//! Strict means: the URL-safe alphabet only, no `=` padding, no whitespace and
//! no non-zero trailing bits (so every byte string has exactly one accepted
//! encoding and a token cannot be altered without changing its bytes).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// A base64url string was not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64url (unpadded, URL-safe alphabet, canonical trailing bits required)")]
pub struct Base64Error;

/// Encodes bytes as unpadded base64url.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the unpadded base64url encoding of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes strict unpadded base64url.
///
/// # Errors
/// [`Base64Error`] for padding, characters outside the URL-safe alphabet,
/// an impossible length or non-zero trailing bits.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Base64Error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strictness() {
        assert_eq!(decode("AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode("AQ").unwrap(), vec![1]);
        assert!(decode("AQ==").is_err(), "padding");
        assert!(decode("AR").is_err(), "non-zero trailing bits");
        assert!(decode("A").is_err(), "impossible length");
        assert!(decode("AQ+/").is_err(), "standard alphabet");
        assert!(decode("AQ I").is_err(), "whitespace");
        assert!(decode("").unwrap().is_empty());
    }
}

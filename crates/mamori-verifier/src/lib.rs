//! Types shared by every evidence family: the kinds of TEE, the collateral
//! bag (certificates, CRLs and vendor documents recognised by content) and
//! the decoding of evidence as users hold it (raw, hex or base64 text).
//!
//! Pure: no I/O, no clock. Callers read files and pass bytes and `now`.
#![forbid(unsafe_code)]

mod collateral;
mod text;

pub use collateral::{Collateral, CollateralError, Document};
pub use mamori_x509::UnixTime;
pub use text::{decode_text, Encoding};

/// Lower-case hexadecimal, the encoding of every binary claim.
pub fn hex_lower(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

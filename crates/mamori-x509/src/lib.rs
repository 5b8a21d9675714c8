//! Certificates for attestation: strict parsing, signature checks with
//! aws-lc-rs, path validation to pinned roots at a caller-given time, CRLs.
//!
//! Why not `rustls-webpki`: it rejects AMD's ARK/ASK/VCEK chain (the RSASSA-PSS
//! AlgorithmIdentifier carries an explicit trailerField) and it is built for
//! TLS server names, not for vendor attestation roots with custom extensions.
//! `x509-parser` accepts the real encodings; the validator on top is ours and
//! small: the attestation PKIs are shallow, single-rooted trees.
//!
//! Nothing here reads a clock or a file: `now` is a parameter.
#![forbid(unsafe_code)]

mod cert;
mod crl;
mod der;
mod error;
mod path;
mod pem;
mod sig;
mod time;

pub use cert::{Certificate, Extension, KeyUsage};
pub use crl::Crl;
pub use error::{CertError, ChainError, CrlError};
pub use path::{validate_path, ValidatedPath};
pub use pem::{split_blobs, Blob};
pub use sig::{KeyKind, PublicKey, SignatureScheme};
pub use time::UnixTime;

/// Whether the unsigned outer signatureAlgorithm of a DER certificate
/// (`is_crl` false) or CRL (`is_crl` true) is byte for byte the signed copy
/// inside its TBS. x509-parser accepts any parameters in the outer copy, so
/// without this one signed object has endless encodings (RFC 5280 4.1.1.2).
#[must_use]
pub fn signature_algorithms_match(der: &[u8], is_crl: bool) -> bool {
    matches!(der::algorithm_identifiers(der, is_crl), Some((outer, inner)) if outer == inner)
}

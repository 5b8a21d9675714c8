//! Simulated TEEs for development, demos and tests.
//!
//! `snp` writes genuine-format SEV-SNP attestation reports signed by a freshly
//! generated development chain (ARK and ASK as RSA-4096 with RSASSA-PSS, a
//! P-384 VCEK carrying AMD's extensions). The chain's organisation says it is
//! simulated; a verifier trusts it only when its root is named explicitly.
#![forbid(unsafe_code)]

mod der;
pub mod snp;
pub mod x509;

pub use snp::{ReportOptions, SimChainOptions, SnpSimChain};

/// Why the simulator could not produce something.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
    #[error("stored development chain is unusable: {0}")]
    Stored(String),
}

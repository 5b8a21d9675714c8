//! Intel TDX and SGX DCAP quote parsing and offline verification, in pure Rust.
//!
//! * [`Quote::parse`] — zero-copy parsing of ECDSA quotes v3 (SGX), v4 (SGX, TDX 1.0)
//!   and v5 (SGX, TDX 1.0, TDX 1.5); unknown versions and types are errors; trailing
//!   zero padding is tolerated and reported.
//! * [`Collateral`] — a bag of collateral recognised by content (certificates, CRLs,
//!   PCS TCB info / QE identity bodies, combined collateral JSON).
//! * [`verify`] / [`Verifier`] — quote signature, QE report signature and binding, PCK
//!   chain to the pinned Intel SGX Root CA at `now`, CRLs, TCB info and QE identity
//!   signatures over the served bytes and their freshness, TCB level matching
//!   (platform, TDX module, QE) → typed [`Claims`].
//!
//! Pure and synchronous: no I/O, no clock, no network, no `unsafe`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod certs;
pub mod claims;
pub mod collateral;
mod describe;
pub mod error;
pub mod pck;
pub mod pcs;
pub mod pcs_paths;
pub mod quote;
pub mod tcb;
pub mod verify;

pub use certs::{INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256};
pub use claims::{Claims, QuoteClaims};
pub use collateral::{Collateral, Recognised};
pub use error::{CollateralError, DcapError, Item, QuoteError};
pub use pcs::TcbStatus;
pub use quote::{detect, unwrap_container, Container, Quote};
pub use verify::{
    inspect, verify, InspectedQuote, QuoteInfo, VerifiedQuote, Verifier, VerifyOptions,
};

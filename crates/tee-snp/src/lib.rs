//! AMD SEV-SNP attestation reports: strict zero-copy parsing of report
//! versions 2–5, verification of the signature, the VCEK/VLEK certificate path
//! to AMD's pinned roots and the report-to-certificate bindings, and typed
//! claims. Pure: no I/O, no clock (`now` is a parameter), no `unsafe`.
#![forbid(unsafe_code)]

pub mod claims;
pub mod container;
pub mod endorsement;
pub mod inspect;
pub mod kds;
pub mod report;
pub mod sev_json;
pub mod trust;
pub mod types;
pub mod verify;

pub use claims::SnpClaims;
pub use container::{extract, extract_decoded, Container, ContainerError, SnpEvidence};
pub use endorsement::{EndorsementError, EndorsementInfo};
pub use report::{ParseError, Report, REPORT_LEN, SIGNED_LEN};
pub use trust::TrustStore;
pub use types::{GuestPolicy, PlatformInfo, Product, SigningKey, TcbVersion};
pub use verify::{verify_report, SnpError, VerifiedReport, VerifiedSigner};

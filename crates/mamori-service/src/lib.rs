//! Mamori's service layer: everything between the HTTP handlers and the pure
//! crates. It issues challenges, verifies evidence, checks that the evidence
//! binds the session nonce and the TEE's key, appraises the claims under
//! Rego policies, signs EAR tokens, keeps secrets sealed at rest and
//! releases them encrypted to attested TEEs, applies admin changes and
//! appends every decision to the audit log. Time comes in as a parameter.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod dcap;
mod error;
pub mod evidence;
pub mod fetch;
pub mod kds;
pub mod kek;
mod keys;
pub mod metrics;
pub mod pcs;
mod policies;
pub mod request_id;
mod service;

pub use config::{Config, ConfigError};
pub use error::ServiceError;
pub use service::{
    check, check_path, expected_report_data, AttestRequest, Attested, Challenge, CheckReport,
    Credential, DryRun, Service, StartError,
};

/// The shipped default resource policy (release only when every submodule
/// is affirming).
pub fn default_resource_policy() -> &'static str {
    mamori_policy::defaults::RESOURCE
}

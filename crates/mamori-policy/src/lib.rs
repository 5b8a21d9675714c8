//! Mamori's policy engine: Rego appraisal and resource policies evaluated
//! with regorus, producing AR4SI trustworthiness vectors and release decisions.
//!
//! * **Appraisal policies** (`package mamori.appraisal`, rule `trust_vector`,
//!   optional `reasons`) turn verified TEE claims, reference values and
//!   binding facts into an [`AppraisalOutcome`].
//! * **Resource policies** (`package mamori.resource`, rule `allow`,
//!   optional `reasons`) turn a verified EAR token's claims and a resource
//!   path into a [`Decision`].
//!
//! A policy is compiled once ([`AppraisalPolicy::compile`],
//! [`ResourcePolicy::compile`]) and the compiled value — `Clone` (shared) and
//! `Send + Sync` — is evaluated any number of times from any thread. The crate
//! is pure: no I/O, no clock in any decision (regorus's monotonic timer only
//! bounds how long an evaluation may run), no `unsafe`.
//!
//! The contracts are documented in this crate's `README.md`.
#![forbid(unsafe_code)]

mod appraisal;
pub mod defaults;
mod engine;
mod error;
mod resource;
mod serialize;
mod trust;
mod value;

pub use appraisal::{
    AppraisalInput, AppraisalOutcome, AppraisalPolicy, Binding, PreparedReference,
    APPRAISAL_PACKAGE, REASONS_RULE, TRUST_VECTOR_RULE,
};
pub use error::PolicyError;
pub use resource::{Decision, ResourceInput, ResourcePolicy, ALLOW_RULE, RESOURCE_PACKAGE};
pub use trust::{TrustClaim, TrustTier, TrustVector};
pub use value::Document;

use std::time::Duration;

/// Bounds on what one evaluation may cost or produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one evaluation; regorus stops the evaluation
    /// with [`PolicyError::LimitExceeded`] beyond it. Our policies take
    /// microseconds; the default (100 ms) only stops runaway policies.
    pub max_eval_time: Duration,
    /// Instruction budget of one evaluation on regorus's VM: deterministic,
    /// so a runaway policy fails the same way on every machine. Our default
    /// policies use a few thousand.
    pub max_instructions: usize,
    /// At most this many reasons are kept (a summary line follows).
    pub max_reasons: usize,
    /// Each reason is cut to this many bytes.
    pub max_reason_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_eval_time: Duration::from_millis(100),
            max_instructions: 1_000_000,
            max_reasons: 64,
            max_reason_len: 1024,
        }
    }
}

/// Which contract a policy follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    Appraisal,
    Resource,
}

/// A compiled policy of either kind (for code that handles uploads generically).
#[derive(Clone, Debug)]
pub enum Compiled {
    Appraisal(AppraisalPolicy),
    Resource(ResourcePolicy),
}

impl Compiled {
    /// SHA-256 of the source, lower-case hex.
    pub fn digest(&self) -> &str {
        match self {
            Compiled::Appraisal(p) => p.digest(),
            Compiled::Resource(p) => p.digest(),
        }
    }

    pub fn kind(&self) -> PolicyKind {
        match self {
            Compiled::Appraisal(_) => PolicyKind::Appraisal,
            Compiled::Resource(_) => PolicyKind::Resource,
        }
    }
}

/// Compile (and so validate) a policy of the given kind: what an upload
/// endpoint calls before storing anything.
pub fn compile(kind: PolicyKind, source: &str) -> Result<Compiled, PolicyError> {
    Ok(match kind {
        PolicyKind::Appraisal => Compiled::Appraisal(AppraisalPolicy::compile(source)?),
        PolicyKind::Resource => Compiled::Resource(ResourcePolicy::compile(source)?),
    })
}

/// Dry run of an appraisal policy over a JSON input: no side effects.
pub fn evaluate_appraisal(
    policy: &AppraisalPolicy,
    input: &serde_json::Value,
) -> Result<AppraisalOutcome, PolicyError> {
    policy.evaluate_json(input)
}

/// Dry run of a resource policy over a JSON input: no side effects.
pub fn evaluate_resource(
    policy: &ResourcePolicy,
    input: &serde_json::Value,
) -> Result<Decision, PolicyError> {
    policy.evaluate_json(input)
}

/// SHA-256 of a policy source, lower-case hex: the policy's version id.
pub fn digest(source: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        source.as_bytes(),
    ))
}

// Compiled policies are shared across tokio workers.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AppraisalPolicy>();
    assert_send_sync::<ResourcePolicy>();
    assert_send_sync::<Compiled>();
};

//! Typed errors. Every message names what is wrong so that an operator who
//! uploads a policy, or reads a failed attestation, can fix it without a debugger.

use thiserror::Error;

/// Everything that can go wrong while compiling or evaluating a policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The Rego source does not parse or does not compile. `message` is
    /// regorus's own message (it quotes the offending line); `line` is the
    /// 1-based line in the uploaded source when regorus reported one.
    #[error("policy does not compile{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Compile { message: String, line: Option<u32> },

    /// The policy declares another package than the contract requires.
    #[error("policy must declare `package {expected}`, found `package {found}`")]
    WrongPackage {
        expected: &'static str,
        found: String,
    },

    /// A rule the contract requires is not defined by the policy.
    #[error("policy does not define the required rule `{rule}` (package `{package}`)")]
    MissingRule {
        package: &'static str,
        rule: &'static str,
    },

    /// The input could not be turned into a policy input (e.g. a JSON number
    /// regorus cannot represent).
    #[error("policy input is invalid: {0}")]
    Input(String),

    /// Evaluation failed (a builtin error, a conflict between rule values, …).
    #[error("policy evaluation failed: {0}")]
    Evaluation(String),

    /// Evaluation was stopped by the execution-time limit: a policy must not
    /// be able to hang the server.
    #[error("policy evaluation exceeded its limit: {0}")]
    LimitExceeded(String),

    /// The policy produced an output of the wrong shape; `field` names it
    /// (e.g. `trust_vector.executables` or `reasons[2]`).
    #[error("policy output `{field}` is invalid: expected {expected}")]
    OutputShape { field: String, expected: String },
}

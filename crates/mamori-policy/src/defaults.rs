//! The default policies shipped with Mamori, embedded from
//! `crates/mamori-policy/policies/`. They are ordinary policies: an operator
//! can read them, dry-run them and replace them.

use crate::{AppraisalPolicy, PolicyError, ResourcePolicy};

/// SEV-SNP appraisal (`tee = "snp"`).
pub const SNP_APPRAISAL: &str = include_str!("../policies/appraisal/snp.rego");
/// Intel TDX appraisal (`tee = "tdx"`).
pub const TDX_APPRAISAL: &str = include_str!("../policies/appraisal/tdx.rego");
/// Intel SGX appraisal (`tee = "sgx"`).
pub const SGX_APPRAISAL: &str = include_str!("../policies/appraisal/sgx.rego");
/// The development `sample` TEE: never affirming.
pub const SAMPLE_APPRAISAL: &str = include_str!("../policies/appraisal/sample.rego");
/// Every other TEE kind: conservative.
pub const GENERIC_APPRAISAL: &str = include_str!("../policies/appraisal/default.rego");
/// Release only when every submodule is affirming.
pub const RESOURCE: &str = include_str!("../policies/resource/default.rego");

/// Policy id of the default resource policy.
pub const RESOURCE_POLICY_ID: &str = "default";

/// A default appraisal policy: its id (what `ear.appraisal-policy-id` can
/// name) and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultAppraisal {
    pub id: &'static str,
    pub source: &'static str,
}

/// The default appraisal policy for a TEE kind (`snp`, `tdx`, `sgx`,
/// `sample`, or the generic one for any other kind).
pub fn appraisal_for_tee(tee: &str) -> DefaultAppraisal {
    match tee {
        "snp" => DefaultAppraisal {
            id: "default-snp",
            source: SNP_APPRAISAL,
        },
        "tdx" => DefaultAppraisal {
            id: "default-tdx",
            source: TDX_APPRAISAL,
        },
        "sgx" => DefaultAppraisal {
            id: "default-sgx",
            source: SGX_APPRAISAL,
        },
        "sample" => DefaultAppraisal {
            id: "default-sample",
            source: SAMPLE_APPRAISAL,
        },
        _ => DefaultAppraisal {
            id: "default",
            source: GENERIC_APPRAISAL,
        },
    }
}

/// Compile the default appraisal policy for a TEE kind.
pub fn appraisal_policy_for_tee(tee: &str) -> Result<AppraisalPolicy, PolicyError> {
    AppraisalPolicy::compile(appraisal_for_tee(tee).source)
}

/// Compile the default resource policy.
pub fn resource_policy() -> Result<ResourcePolicy, PolicyError> {
    ResourcePolicy::compile(RESOURCE)
}

//! Shared helpers: every evaluation runs on both of regorus's forms (the
//! compiled VM program and the interpreter) and must agree.
#![allow(dead_code)]

use mamori_policy::*;
use serde_json::{json, Value};

pub fn appraise(policy: &AppraisalPolicy, input: &Value) -> Result<AppraisalOutcome, PolicyError> {
    let vm = policy.evaluate_json(input);
    let interpreted = policy.evaluate_json_interpreted(input);
    assert_eq!(vm, interpreted, "VM and interpreter disagree on {input}");
    vm
}

/// For malformed input: the compiled form (what the service runs) must
/// answer, and must equal the interpreter's outcome wherever the interpreter
/// answers. The interpreter stops at a builtin's type error (`count` of a
/// null reference, say) where the compiled form reads the expression as
/// undefined. Returns whether the two were compared.
pub fn compiled_answers_as_interpreted(policy: &AppraisalPolicy, input: &Value) -> bool {
    let compiled = policy
        .evaluate_json(input)
        .unwrap_or_else(|e| panic!("{input}: {e}"));
    match policy.evaluate_json_interpreted(input) {
        Ok(interpreted) => {
            assert_eq!(compiled, interpreted, "{input}");
            true
        }
        Err(_) => false,
    }
}

pub fn decide(policy: &ResourcePolicy, input: &Value) -> Result<Decision, PolicyError> {
    let vm = policy.evaluate_json(input);
    let interpreted = policy.evaluate_json_interpreted(input);
    assert_eq!(vm, interpreted, "VM and interpreter disagree on {input}");
    vm
}

pub const MEASUREMENT: &str = "5c19d5b4a50066c8c991bd920dfecd5e6d2f1a7c06e86b8b1f4e4f7a2a9d3c1e0c5d8a6b4e2f1a3c5d7e9f0a1b2c3d4e";

/// Claims of a well-configured SNP guest, as tee-snp emits them.
pub fn snp_claims() -> Value {
    json!({
        "version": 3,
        "guest_svn": 2,
        "policy": {"abi_minor": 0, "abi_major": 0, "smt": true, "migrate_ma": false, "debug": false,
                   "single_socket": false, "cxl_allow": false, "mem_aes_256_xts": false, "rapl_dis": false,
                   "ciphertext_hiding": false, "page_swap_disable": false, "raw": "0x30000"},
        "vmpl": 0,
        "measurement": MEASUREMENT,
        "host_data": "00".repeat(32),
        "id_key_digest": "00".repeat(48),
        "reported_tcb": {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 213, "raw": "d517000000000a00"},
        "signing_key": "vcek",
        "product": "milan"
    })
}

pub fn snp_input(claims: Value, reference: Value, bound: bool) -> Value {
    json!({"tee": "snp", "claims": claims, "reference": reference, "binding": {"report_data_bound": bound}})
}

pub fn good_reference() -> Value {
    json!({"snp_launch_measurement": [MEASUREMENT]})
}

pub fn snp() -> AppraisalPolicy {
    defaults::appraisal_policy_for_tee("snp").expect("default SNP policy compiles")
}

pub fn mentions(outcome: &AppraisalOutcome, needle: &str) -> bool {
    outcome.reasons.iter().any(|r| r.contains(needle))
}

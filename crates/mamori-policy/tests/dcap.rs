//! The default Intel TDX and SGX appraisal policies over good and bad
//! guests, with claims named as tee-dcap emits them.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod common;
use common::*;
use mamori_policy::*;
use serde_json::{json, Value};

const MR_TD: &str = "dae67181d3d65e073ad8f95b0f5d5c8f6b1a3e2d4c5b6a79881726354453627181900a0b0c0d0e0f1011121314151617";

fn tdx() -> AppraisalPolicy {
    defaults::appraisal_policy_for_tee("tdx").unwrap()
}

fn sgx() -> AppraisalPolicy {
    defaults::appraisal_policy_for_tee("sgx").unwrap()
}

fn tdx_claims() -> Value {
    json!({
        "tee": "tdx", "quote_version": 4, "body_type": "td10", "debug": false,
        "report_data": "00".repeat(64),
        "mr_td": MR_TD, "rtmr0": "01".repeat(48), "rtmr1": "02".repeat(48),
        "rtmr2": "03".repeat(48), "rtmr3": "00".repeat(48),
        "mr_config_id": "00".repeat(48), "td_attributes": "0000001000000000",
        "td_attributes_flags": ["sept_ve_disable"],
        "tcb_status": "UpToDate", "advisory_ids": [], "fmspc": "00806f050000"
    })
}

fn sgx_claims() -> Value {
    json!({
        "tee": "sgx", "quote_version": 3, "body_type": "sgx", "debug": false,
        "report_data": "00".repeat(64),
        "mr_enclave": "aa".repeat(32), "mr_signer": "bb".repeat(32),
        "isv_prod_id": 1, "isv_svn": 4, "attributes": "0500000000000000e700000000000000",
        "tcb_status": "UpToDate", "advisory_ids": []
    })
}

fn input(tee: &str, claims: Value, reference: Value, bound: bool) -> Value {
    json!({"tee": tee, "claims": claims, "reference": reference, "binding": {"report_data_bound": bound}})
}

fn tdx_ref() -> Value {
    json!({"tdx_mr_td": [MR_TD]})
}

fn sgx_ref() -> Value {
    json!({"sgx_mr_enclave": ["aa".repeat(32)], "sgx_mr_signer": ["BB".repeat(32)], "sgx_isv_prod_id": [1], "sgx_min_isv_svn": [2, 4]})
}

#[test]
fn defaults_are_registered_for_tdx_and_sgx() {
    assert_eq!(defaults::appraisal_for_tee("tdx").id, "default-tdx");
    assert_eq!(defaults::appraisal_for_tee("sgx").id, "default-sgx");
    assert_eq!(
        defaults::appraisal_for_tee("tdx").source,
        defaults::TDX_APPRAISAL
    );
    assert_eq!(
        defaults::appraisal_for_tee("sgx").source,
        defaults::SGX_APPRAISAL
    );
}

#[test]
fn good_td_is_affirming_everywhere() {
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), tdx_ref(), true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
    assert_eq!(out.vector.instance_identity, Some(2));
    assert_eq!(out.vector.configuration, Some(2));
    assert_eq!(out.vector.executables, Some(3));
    assert_eq!(out.vector.hardware, Some(2));
    assert_eq!(out.vector.runtime_opaque, Some(2));
    assert!(out.reasons.is_empty(), "{:?}", out.reasons);
    // Case-blind, and among several allowed values.
    let r = json!({"tdx_mr_td": ["ab".repeat(48), MR_TD.to_uppercase()], "tdx_rtmr1": ["02".repeat(48)]});
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), r, true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
}

#[test]
fn tcb_status_grades_hardware() {
    for (status, tier) in [
        ("UpToDate", 2),
        ("SWHardeningNeeded", 32),
        ("ConfigurationNeeded", 32),
        ("ConfigurationAndSWHardeningNeeded", 32),
        ("OutOfDate", 96),
        ("OutOfDateConfigurationNeeded", 96),
        ("Revoked", 96),
        ("SomethingNew", 96),
    ] {
        for (policy, mut claims, reference, tee) in [
            (tdx(), tdx_claims(), tdx_ref(), "tdx"),
            (sgx(), sgx_claims(), sgx_ref(), "sgx"),
        ] {
            claims["tcb_status"] = json!(status);
            claims["advisory_ids"] = json!(["INTEL-SA-00828"]);
            let out = appraise(&policy, &input(tee, claims, reference, true)).unwrap();
            assert_eq!(out.vector.hardware, Some(tier), "{tee} {status}");
            assert_eq!(out.status, TrustTier::from_claim(tier), "{tee} {status}");
            if tier != 2 {
                assert!(
                    mentions(&out, &format!("tcb_status: {status}")),
                    "{:?}",
                    out.reasons
                );
            }
            if (32..96).contains(&tier) || status == "OutOfDate" {
                assert!(mentions(&out, "INTEL-SA-00828"), "{:?}", out.reasons);
            }
        }
    }
    // A missing status is never affirming.
    let mut claims = tdx_claims();
    claims.as_object_mut().unwrap().remove("tcb_status");
    let out = appraise(&tdx(), &input("tdx", claims, tdx_ref(), true)).unwrap();
    assert_eq!(out.vector.hardware, Some(96));
}

#[test]
fn debug_is_contraindicated() {
    let mut claims = tdx_claims();
    claims["debug"] = json!(true);
    let out = appraise(&tdx(), &input("tdx", claims, tdx_ref(), true)).unwrap();
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert_eq!(out.vector.configuration, Some(96));
    assert_eq!(out.vector.runtime_opaque, Some(96));
    assert!(mentions(&out, "debug: the TD"), "{:?}", out.reasons);

    let mut claims = sgx_claims();
    claims["debug"] = json!(true);
    let out = appraise(&sgx(), &input("sgx", claims, sgx_ref(), true)).unwrap();
    assert_eq!(out.vector.configuration, Some(96));
    assert!(mentions(&out, "debug: the enclave"), "{:?}", out.reasons);

    // Missing debug claim: not affirming.
    let mut claims = tdx_claims();
    claims.as_object_mut().unwrap().remove("debug");
    let out = appraise(&tdx(), &input("tdx", claims, tdx_ref(), true)).unwrap();
    assert_eq!(out.vector.configuration, Some(96));
    assert!(mentions(&out, "debug: missing"));
}

#[test]
fn tdx_executables_from_reference_values() {
    // None configured: unrecognized.
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), json!({}), true)).unwrap();
    assert_eq!(out.vector.executables, Some(33));
    assert_eq!(out.status, TrustTier::Warning);
    assert!(
        mentions(&out, "mr_td: no reference MRTD values"),
        "{:?}",
        out.reasons
    );
    // MRTD differs.
    let r = json!({"tdx_mr_td": ["ab".repeat(48)]});
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), r, true)).unwrap();
    assert_eq!(out.vector.executables, Some(96));
    assert!(mentions(&out, "(reference tdx_mr_td)"));
    // An RTMR differs, MRTD matches.
    for (i, name) in ["tdx_rtmr0", "tdx_rtmr1", "tdx_rtmr2", "tdx_rtmr3"]
        .iter()
        .enumerate()
    {
        let mut r = tdx_ref();
        r[*name] = json!(["ff".repeat(48)]);
        let out = appraise(&tdx(), &input("tdx", tdx_claims(), r, true)).unwrap();
        assert_eq!(out.vector.executables, Some(96), "{name}");
        assert!(mentions(&out, &format!("rtmr{i}: ")), "{:?}", out.reasons);
    }
    // MRCONFIGID.
    let mut r = tdx_ref();
    r["tdx_mr_config_id"] = json!(["11".repeat(48)]);
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), r, true)).unwrap();
    assert!(mentions(&out, "mr_config_id: "), "{:?}", out.reasons);
    // RTMRs alone are not enough to recognise the image.
    let r = json!({"tdx_rtmr1": ["02".repeat(48)]});
    let out = appraise(&tdx(), &input("tdx", tdx_claims(), r, true)).unwrap();
    assert_eq!(out.vector.executables, Some(33));
}

#[test]
fn sgx_executables_from_reference_values() {
    let out = appraise(&sgx(), &input("sgx", sgx_claims(), sgx_ref(), true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
    assert_eq!(out.vector.executables, Some(2));
    // MRSIGNER alone recognises the enclave.
    let r = json!({"sgx_mr_signer": ["bb".repeat(32)]});
    let out = appraise(&sgx(), &input("sgx", sgx_claims(), r, true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
    // None configured.
    let out = appraise(&sgx(), &input("sgx", sgx_claims(), json!({}), true)).unwrap();
    assert_eq!(out.vector.executables, Some(33));
    assert!(mentions(&out, "sgx_mr_enclave"));
    // Each mismatch is named.
    for (name, value, needle) in [
        ("sgx_mr_enclave", json!(["cc".repeat(32)]), "mr_enclave: "),
        ("sgx_mr_signer", json!(["cc".repeat(32)]), "mr_signer: "),
        ("sgx_isv_prod_id", json!([7]), "isv_prod_id: 1"),
    ] {
        let mut r = sgx_ref();
        r[name] = value;
        let out = appraise(&sgx(), &input("sgx", sgx_claims(), r, true)).unwrap();
        assert_eq!(out.vector.executables, Some(96), "{name}");
        assert!(mentions(&out, needle), "{:?}", out.reasons);
    }
    // ISVSVN below the minimum: a warning.
    let mut r = sgx_ref();
    r["sgx_min_isv_svn"] = json!([5]);
    let out = appraise(&sgx(), &input("sgx", sgx_claims(), r, true)).unwrap();
    assert_eq!(out.vector.executables, Some(32));
    assert!(
        mentions(&out, "isv_svn: 4 is below the minimum 5"),
        "{:?}",
        out.reasons
    );
}

#[test]
fn unbound_report_data_is_contraindicated() {
    for (policy, claims, reference, tee) in [
        (tdx(), tdx_claims(), tdx_ref(), "tdx"),
        (sgx(), sgx_claims(), sgx_ref(), "sgx"),
    ] {
        let out = appraise(&policy, &input(tee, claims, reference, false)).unwrap();
        assert_eq!(out.vector.instance_identity, Some(96));
        assert_eq!(out.status, TrustTier::Contraindicated);
        assert!(mentions(&out, "binding.report_data_bound"));
    }
}

#[test]
fn odd_inputs_never_fail_evaluation() {
    for (policy, tee) in [(tdx(), "tdx"), (sgx(), "sgx")] {
        for (claims, reference) in [
            (json!(null), json!(null)),
            (json!({}), json!({})),
            (
                json!({"debug": "yes", "tcb_status": 5, "mr_td": 1, "mr_enclave": []}),
                json!({"tdx_mr_td": "x", "sgx_mr_enclave": [1], "sgx_min_isv_svn": ["a"], "sgx_isv_prod_id": 3}),
            ),
        ] {
            let out = appraise(
                &policy,
                &input(tee, claims.clone(), reference.clone(), true),
            )
            .unwrap_or_else(|e| panic!("{tee} {claims} {reference}: {e}"));
            assert_ne!(out.status, TrustTier::Affirming, "{tee} {claims}");
        }
    }
}

#[test]
fn compiled_and_interpreted_forms_agree_on_good_and_malformed_input() {
    // As for the SEV-SNP policy (tests/snp.rs): the service runs regorus's
    // compiled form, which must answer every input, and must decide as the
    // interpreter does wherever the interpreter answers.
    let cases = [
        (
            tdx(),
            "tdx",
            tdx_claims(),
            ["tdx_mr_td", "tdx_rtmr1", "tdx_mr_config_id"],
        ),
        (
            sgx(),
            "sgx",
            sgx_claims(),
            ["sgx_mr_enclave", "sgx_isv_prod_id", "sgx_min_isv_svn"],
        ),
    ];
    for (policy, tee, good, reference_names) in cases {
        let mut claims_cases = vec![good.clone(), json!({}), json!(null), json!("x"), json!([1])];
        for field in good.as_object().unwrap().keys() {
            for value in [json!(null), json!(5), json!("AB")] {
                let mut c = good.clone();
                c[field.as_str()] = value;
                claims_cases.push(c);
            }
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(field);
            claims_cases.push(c);
        }
        let mut reference_cases = vec![json!({}), json!(null), json!("x")];
        for name in reference_names {
            for value in [json!(["AB", 3]), json!([9, 2]), json!(null), json!("ab")] {
                reference_cases.push(json!({ name: value }));
            }
        }
        let mut agreed = 0;
        for claims in &claims_cases {
            for reference in &reference_cases {
                for bound in [true, false] {
                    let input = input(tee, claims.clone(), reference.clone(), bound);
                    if compiled_answers_as_interpreted(&policy, &input) {
                        agreed += 1;
                    }
                }
            }
        }
        assert!(
            agreed > claims_cases.len() * reference_cases.len(),
            "{tee}: {agreed}"
        );
    }
}

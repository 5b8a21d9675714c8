//! The default SEV-SNP appraisal policy over good and bad guests.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod common;
use common::*;
use mamori_policy::*;
use serde_json::json;

#[test]
fn good_guest_is_affirming_everywhere() {
    let out = appraise(&snp(), &snp_input(snp_claims(), good_reference(), true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
    assert_eq!(out.vector.instance_identity, Some(2));
    assert_eq!(out.vector.configuration, Some(2));
    assert_eq!(out.vector.executables, Some(3));
    assert_eq!(out.vector.hardware, Some(2));
    assert_eq!(out.vector.runtime_opaque, Some(2));
    assert_eq!(out.vector.file_system, None);
    assert!(out.reasons.is_empty(), "{:?}", out.reasons);
}

#[test]
fn debug_guest_is_contraindicated_naming_policy_debug() {
    let mut claims = snp_claims();
    claims["policy"]["debug"] = json!(true);
    let out = appraise(&snp(), &snp_input(claims, good_reference(), true)).unwrap();
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert_eq!(out.vector.configuration, Some(96));
    assert_eq!(out.vector.runtime_opaque, Some(96));
    assert!(mentions(&out, "policy.debug"), "{:?}", out.reasons);
}

#[test]
fn migration_agent_is_contraindicated() {
    let mut claims = snp_claims();
    claims["policy"]["migrate_ma"] = json!(true);
    let out = appraise(&snp(), &snp_input(claims, good_reference(), true)).unwrap();
    assert_eq!(out.vector.configuration, Some(96));
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert!(mentions(&out, "policy.migrate_ma"));
}

#[test]
fn unknown_measurement_is_contraindicated_naming_measurement() {
    let reference = json!({"snp_launch_measurement": ["ab".repeat(48)]});
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.executables, Some(96));
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert!(mentions(&out, "measurement"), "{:?}", out.reasons);
    assert!(mentions(&out, "snp_launch_measurement"));
}

#[test]
fn measurement_matches_case_blind_and_among_several() {
    let reference =
        json!({"snp_launch_measurement": ["ab".repeat(48), MEASUREMENT.to_uppercase()]});
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.executables, Some(3));
    assert_eq!(out.status, TrustTier::Affirming);
}

#[test]
fn no_reference_values_is_a_warning_not_affirming() {
    let out = appraise(&snp(), &snp_input(snp_claims(), json!({}), true)).unwrap();
    assert_eq!(out.vector.executables, Some(33));
    assert_eq!(out.status, TrustTier::Warning);
    assert!(mentions(&out, "no reference launch measurements"));
}

#[test]
fn unbound_report_data_is_contraindicated() {
    let out = appraise(&snp(), &snp_input(snp_claims(), good_reference(), false)).unwrap();
    assert_eq!(out.vector.instance_identity, Some(96));
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert!(mentions(&out, "binding.report_data_bound"));
}

#[test]
fn tcb_below_minimum_is_a_hardware_warning() {
    let mut reference = good_reference();
    reference["snp_min_tcb_snp"] = json!([22, 24]);
    reference["snp_min_tcb_microcode"] = json!([200]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.hardware, Some(32));
    assert_eq!(out.status, TrustTier::Warning);
    assert!(
        mentions(&out, "reported_tcb.snp: 23 is below the minimum 24"),
        "{:?}",
        out.reasons
    );
    assert!(!mentions(&out, "reported_tcb.microcode"));

    let mut reference = good_reference();
    reference["snp_min_tcb_snp"] = json!([23]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.hardware, Some(2));
}

#[test]
fn a_minimum_on_a_missing_tcb_component_is_not_met() {
    let mut reference = good_reference();
    reference["snp_min_tcb_fmc"] = json!([1]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.hardware, Some(32));
    assert!(mentions(&out, "reported_tcb.fmc"));
}

#[test]
fn guest_svn_below_minimum_is_an_executables_warning() {
    let mut reference = good_reference();
    reference["snp_min_guest_svn"] = json!([3]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.executables, Some(32));
    assert!(mentions(&out, "guest_svn"));
}

#[test]
fn vmpl_other_than_zero_warns_unless_allowed() {
    let mut claims = snp_claims();
    claims["vmpl"] = json!(1);
    let out = appraise(&snp(), &snp_input(claims.clone(), good_reference(), true)).unwrap();
    assert_eq!(out.vector.configuration, Some(32));
    assert!(mentions(&out, "vmpl"));

    let mut reference = good_reference();
    reference["snp_vmpl"] = json!([1]);
    let out = appraise(&snp(), &snp_input(claims.clone(), reference, true)).unwrap();
    assert_eq!(out.vector.configuration, Some(2));

    let mut reference = good_reference();
    reference["snp_vmpl"] = json!([0]);
    let out = appraise(&snp(), &snp_input(claims, reference, true)).unwrap();
    assert_eq!(out.vector.configuration, Some(96));
}

#[test]
fn host_data_and_id_key_references() {
    let mut reference = good_reference();
    reference["snp_host_data"] = json!(["11".repeat(32)]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.vector.configuration, Some(96));
    assert!(mentions(&out, "host_data"));

    let mut reference = good_reference();
    reference["snp_host_data"] = json!(["00".repeat(32)]);
    reference["snp_id_key_digest"] = json!(["00".repeat(48)]);
    let out = appraise(&snp(), &snp_input(snp_claims(), reference, true)).unwrap();
    assert_eq!(out.status, TrustTier::Affirming);
}

#[test]
fn several_failures_are_all_reported() {
    let mut claims = snp_claims();
    claims["policy"]["debug"] = json!(true);
    claims["measurement"] = json!("ff".repeat(48));
    let out = appraise(&snp(), &snp_input(claims, good_reference(), false)).unwrap();
    assert!(mentions(&out, "policy.debug"));
    assert!(mentions(&out, "measurement"));
    assert!(mentions(&out, "binding.report_data_bound"));
    assert_eq!(out.status, TrustTier::Contraindicated);
}

#[test]
fn missing_or_malformed_claims_are_never_affirming() {
    for claims in [
        json!({}),
        json!(null),
        json!("text"),
        json!([1, 2]),
        json!({"policy": "x"}),
        json!({"policy": {"debug": "false", "migrate_ma": 0}, "measurement": 5}),
    ] {
        let out = appraise(&snp(), &snp_input(claims.clone(), good_reference(), true)).unwrap();
        assert_eq!(out.status, TrustTier::Contraindicated, "{claims}: {out:?}");
        assert_ne!(out.vector.configuration, Some(2), "{claims}");
        assert_ne!(out.vector.executables, Some(3), "{claims}");
    }
    // A whole input of the wrong shape still evaluates, to "not affirming".
    for input in [
        json!(null),
        json!({}),
        json!([]),
        json!({"reference": "x", "binding": 3}),
    ] {
        let out = appraise(&snp(), &input).unwrap();
        assert_ne!(out.status, TrustTier::Affirming, "{input}");
    }
}

#[test]
fn typed_input_matches_json_input() {
    let mut input = AppraisalInput {
        tee: "snp".into(),
        claims: snp_claims(),
        ..Default::default()
    };
    input
        .reference
        .insert("snp_launch_measurement".into(), vec![json!(MEASUREMENT)]);
    input.binding.report_data_bound = true;
    let typed = snp().evaluate(&input).unwrap();
    let json = appraise(&snp(), &serde_json::to_value(&input).unwrap()).unwrap();
    assert_eq!(typed, json);
    assert_eq!(typed.status, TrustTier::Affirming);
    assert_eq!(
        serde_json::to_value(&input).unwrap()["binding"],
        json!({"report_data_bound": true})
    );
}

#[test]
fn the_default_snp_policy_runs_compiled() {
    assert!(snp().is_compiled());
    assert!(defaults::resource_policy().unwrap().is_compiled());
}

#[test]
fn one_policy_alternating_inputs_on_one_thread() {
    // The VM a thread reuses carries nothing from one evaluation to the next.
    let p = snp();
    let mut debug = snp_claims();
    debug["policy"]["debug"] = json!(true);
    for i in 0..20 {
        let (claims, want) = if i % 2 == 0 {
            (snp_claims(), TrustTier::Affirming)
        } else {
            (debug.clone(), TrustTier::Contraindicated)
        };
        let out = appraise(&p, &snp_input(claims, good_reference(), true)).unwrap();
        assert_eq!(out.status, want, "{i}");
        assert_eq!(out.reasons.is_empty(), want == TrustTier::Affirming);
    }
}

#[test]
fn prepared_reference_values_give_the_same_outcomes() {
    use mamori_policy::{AppraisalInput, Binding, PreparedReference};
    use std::collections::BTreeMap;
    let policy = snp();
    let cases: [BTreeMap<String, Vec<serde_json::Value>>; 3] = [
        BTreeMap::new(),
        [(
            "snp_launch_measurement".to_owned(),
            vec![json!(MEASUREMENT)],
        )]
        .into(),
        [(
            "snp_launch_measurement".to_owned(),
            vec![json!("ab".repeat(48))],
        )]
        .into(),
    ];
    let mut tiers = Vec::new();
    for reference in cases {
        let input = AppraisalInput {
            tee: "snp".into(),
            claims: snp_claims(),
            reference: reference.clone(),
            binding: Binding {
                report_data_bound: true,
                ..Binding::default()
            },
            init_data: None,
        };
        let typed = policy.evaluate(&input).unwrap();
        let prepared = PreparedReference::new(&reference).unwrap();
        let without = AppraisalInput {
            reference: BTreeMap::new(),
            ..input
        };
        assert_eq!(
            policy.evaluate_prepared(&without, &prepared).unwrap(),
            typed
        );
        tiers.push(typed.status);
    }
    // The three reference sets lead to different results: the test would
    // notice prepared values being ignored.
    assert_ne!(tiers[0], tiers[1]);
    assert_ne!(tiers[1], tiers[2]);
}

#[test]
fn compiled_and_interpreted_forms_agree_on_good_and_malformed_input() {
    // regorus's compiled (VM) form and its interpreter do not agree on every
    // construct (a rule whose `else` value is null reads as undefined in the
    // VM, for one), so the shipped policy is checked on both, over inputs
    // that reach every rule: missing, mistyped and out-of-range claims and
    // reference values.
    let policy = snp();
    let mut claims_cases = vec![snp_claims(), json!({}), json!(null), json!("x"), json!([1])];
    for (field, value) in [
        ("measurement", json!(null)),
        ("measurement", json!(5)),
        ("vmpl", json!(null)),
        ("vmpl", json!(2)),
        ("guest_svn", json!(null)),
        ("host_data", json!("AB")),
        ("policy", json!(null)),
        ("policy", json!({"debug": "false"})),
        ("reported_tcb", json!([1])),
    ] {
        let mut c = snp_claims();
        c[field] = value;
        claims_cases.push(c);
        let mut c = snp_claims();
        c.as_object_mut().unwrap().remove(field);
        claims_cases.push(c);
    }
    let mut reference_cases = vec![good_reference(), json!({}), json!(null), json!("x")];
    for (name, value) in [
        ("snp_vmpl", json!(null)),
        ("snp_vmpl", json!([0])),
        ("snp_vmpl", json!("0")),
        ("snp_host_data", json!(["ab", 3])),
        ("snp_id_key_digest", json!("ab")),
        ("snp_min_guest_svn", json!([9, 1])),
        ("snp_min_tcb_snp", json!([200])),
        ("snp_min_tcb_fmc", json!([])),
    ] {
        let mut r = good_reference();
        r[name] = value;
        reference_cases.push(r);
    }
    let mut agreed = 0;
    for claims in &claims_cases {
        for reference in &reference_cases {
            for bound in [true, false] {
                let input = snp_input(claims.clone(), reference.clone(), bound);
                if compiled_answers_as_interpreted(&policy, &input) {
                    agreed += 1;
                }
            }
        }
    }
    // Most cases are well-formed enough for both forms to answer.
    assert!(
        agreed > claims_cases.len() * reference_cases.len(),
        "{agreed}"
    );
}

//! The sample, generic and resource default policies.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod common;
use common::*;
use mamori_policy::*;
use serde_json::json;

fn sample() -> AppraisalPolicy {
    defaults::appraisal_policy_for_tee("sample").unwrap()
}

#[test]
fn sample_tee_is_never_affirming() {
    let p = sample();
    for (claims, reference, bound) in [
        (
            json!({"launch_digest": "abc"}),
            json!({"sample_launch_digest": ["abc"]}),
            true,
        ),
        (json!({"launch_digest": "abc"}), json!({}), true),
        (json!({}), json!({}), false),
        (json!(null), json!({"sample_launch_digest": ["x"]}), true),
    ] {
        let input = json!({"tee": "sample", "claims": claims, "reference": reference, "binding": {"report_data_bound": bound}});
        let out = appraise(&p, &input).unwrap();
        assert_eq!(out.status, TrustTier::Contraindicated, "{input}");
        assert_eq!(
            TrustTier::from_claim(out.vector.hardware.unwrap()),
            TrustTier::Contraindicated
        );
        assert!(mentions(&out, "hardware"));
    }
    // The good case still appraises identity and the launch digest.
    let input = json!({"tee": "sample", "claims": {"launch_digest": "abc"},
                       "reference": {"sample_launch_digest": ["abc"]}, "binding": {"report_data_bound": true}});
    let out = appraise(&p, &input).unwrap();
    assert_eq!(out.vector.instance_identity, Some(2));
    assert_eq!(out.vector.executables, Some(3));
}

#[test]
fn other_tees_get_the_conservative_policy() {
    assert_eq!(
        defaults::appraisal_for_tee("cca").source,
        defaults::GENERIC_APPRAISAL
    );
    assert_eq!(defaults::appraisal_for_tee("snp").id, "default-snp");
    let p = defaults::appraisal_policy_for_tee("cca").unwrap();
    let input = json!({"tee": "cca", "claims": {"measurement": "aa"}, "reference": {}, "binding": {"report_data_bound": true}});
    let out = appraise(&p, &input).unwrap();
    assert_eq!(out.status, TrustTier::Warning);
    assert_eq!(out.vector.executables, Some(33));
    assert!(mentions(&out, "cca_measurement"));

    let input = json!({"tee": "cca", "claims": {"measurement": "aa"}, "reference": {"cca_measurement": ["aa"]}, "binding": {"report_data_bound": true}});
    let out = appraise(&p, &input).unwrap();
    assert_eq!(out.status, TrustTier::Affirming, "{out:?}");
    assert_eq!(out.vector.configuration, None);

    let input = json!({"tee": "cca", "claims": {"measurement": "aa", "td_attributes": {"debug": true}},
                       "reference": {"cca_measurement": ["aa"]}, "binding": {"report_data_bound": true}});
    let out = appraise(&p, &input).unwrap();
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert!(mentions(&out, "td_attributes.debug"));

    let input = json!({"tee": "cca", "claims": {"measurement": "bb"}, "reference": {"cca_measurement": ["aa"]}, "binding": {"report_data_bound": false}});
    let out = appraise(&p, &input).unwrap();
    assert_eq!(out.vector.executables, Some(96));
    assert_eq!(out.vector.instance_identity, Some(96));
}

fn token(statuses: &[(&str, &str)]) -> serde_json::Value {
    let submods: serde_json::Map<_, _> = statuses
        .iter()
        .map(|(k, s)| {
            (
                k.to_string(),
                json!({"ear.status": s, "ear.trustworthiness-vector": {"hardware": 2}}),
            )
        })
        .collect();
    json!({"eat_profile": "tag:github.com,2023:veraison/ear", "submods": submods})
}

#[test]
fn resource_default_allows_only_when_every_submod_affirms() {
    let p = defaults::resource_policy().unwrap();
    let ok = ResourceInput {
        token: token(&[("cpu0", "affirming"), ("gpu0", "affirming")]),
        resource: "default/disk-key/vm1".into(),
    };
    assert_eq!(
        p.evaluate(&ok).unwrap(),
        Decision {
            allow: true,
            reasons: vec![]
        }
    );
    assert!(decide(&p, &ok.to_json()).unwrap().allow);

    for status in ["warning", "contraindicated", "none", "AFFIRMING"] {
        let input = ResourceInput {
            token: token(&[("cpu0", "affirming"), ("gpu0", status)]),
            resource: "default/disk-key/vm1".into(),
        };
        let d = decide(&p, &input.to_json()).unwrap();
        assert!(!d.allow, "{status}");
        assert!(
            d.reasons
                .iter()
                .any(|r| r.contains("submods.gpu0") && r.contains(status)),
            "{:?}",
            d.reasons
        );
        assert_eq!(p.evaluate(&input).unwrap(), d);
    }
}

#[test]
fn resource_default_denies_empty_or_malformed_tokens() {
    let p = defaults::resource_policy().unwrap();
    for token in [
        json!({}),
        json!({"submods": {}}),
        json!({"submods": []}),
        json!(null),
        json!({"submods": {"cpu0": {}}}),
        json!({"submods": {"cpu0": {"ear.status": 2}}}),
        json!({"ear.status": "affirming"}),
    ] {
        let d = decide(&p, &json!({"token": token, "resource": {"path": "a/b/c"}})).unwrap();
        assert!(!d.allow, "{token}");
        assert!(!d.reasons.is_empty(), "{token}");
    }
    // Not even a token.
    assert!(!decide(&p, &json!(null)).unwrap().allow);
    assert!(!decide(&p, &json!("x")).unwrap().allow);
}

//! Custom policies, compile-time refusals and output shapes.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod common;
use common::*;
use mamori_policy::*;
use serde_json::json;

#[test]
fn custom_appraisal_policy_with_partial_vector() {
    let src = r#"
package mamori.appraisal
import rego.v1

default trust_vector := {"hardware": 2}
trust_vector := {"hardware": 2, "executables": 96} if input.claims.measurement != "good"
reasons contains "measurement: not good" if input.claims.measurement != "good"
"#;
    let p = AppraisalPolicy::compile(src).unwrap();
    let out = appraise(&p, &json!({"claims": {"measurement": "good"}})).unwrap();
    assert_eq!(
        out.vector,
        TrustVector {
            hardware: Some(2),
            ..Default::default()
        }
    );
    assert_eq!(out.status, TrustTier::Affirming);
    let out = appraise(&p, &json!({"claims": {"measurement": "bad"}})).unwrap();
    assert_eq!(out.status, TrustTier::Contraindicated);
    assert_eq!(out.reasons, vec!["measurement: not good".to_string()]);
    assert_eq!(
        evaluate_appraisal(&p, &json!({"claims": {"measurement": "bad"}})).unwrap(),
        out
    );
}

#[test]
fn negative_and_boundary_values_use_ar4si_tiers() {
    let src = r#"
package mamori.appraisal
trust_vector := {"hardware": -2, "configuration": 1, "executables": -33, "file-system": 31}
"#;
    let out = appraise(&AppraisalPolicy::compile(src).unwrap(), &json!({})).unwrap();
    assert_eq!(out.vector.hardware, Some(-2));
    assert_eq!(out.status, TrustTier::Warning);
}

#[test]
fn custom_resource_policy_sees_the_path() {
    let src = r#"
package mamori.resource
import rego.v1
default allow := false
allow if {
    input.resource.segments[0] == "default"
    startswith(input.resource.path, "default/disk-key/")
    input.token.submods.cpu0["ear.status"] in {"affirming", "warning"}
}
reasons := "only disk keys under default/" if not allow
"#;
    let p = ResourcePolicy::compile(src).unwrap();
    let token = json!({"submods": {"cpu0": {"ear.status": "warning"}}});
    let allowed = ResourceInput {
        token: token.clone(),
        resource: "default/disk-key/vm1".into(),
    };
    assert!(p.evaluate(&allowed).unwrap().allow);
    let denied = ResourceInput {
        token,
        resource: "other/disk-key/vm1".into(),
    };
    let d = p.evaluate(&denied).unwrap();
    assert!(!d.allow);
    assert_eq!(d.reasons, vec!["only disk keys under default/".to_string()]);
    assert_eq!(decide(&p, &denied.to_json()).unwrap(), d);
    assert_eq!(evaluate_resource(&p, &denied.to_json()).unwrap(), d);
}

/// Claims come partly from the attester (its JWK, init-data). An object
/// key that regorus's own JSON reader treats as a number written as text
/// must stay an ordinary object member: no type confusion, and no unbounded
/// big-number parse ("1e2000000000") before the decision.
#[test]
fn claims_with_serde_number_marker_keys_stay_objects() {
    let src = r#"
package mamori.resource
import rego.v1
default allow := false
allow if is_object(input.token.jwk.x)
"#;
    let p = ResourcePolicy::compile(src).unwrap();
    for marker in ["99", "1e2000000000", "abc"] {
        let input = ResourceInput {
            token: json!({"jwk": {"x": {"$serde_json::private::Number": marker}}}),
            resource: "default/key/1".into(),
        };
        let started = std::time::Instant::now();
        assert!(p.evaluate(&input).unwrap().allow, "{marker}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn undefined_allow_denies() {
    let p =
        ResourcePolicy::compile("package mamori.resource\nimport rego.v1\nallow if input.x == 1\n")
            .unwrap();
    assert!(!decide(&p, &json!({})).unwrap().allow);
    assert!(decide(&p, &json!({"x": 1})).unwrap().allow);
}

#[test]
fn rego_v0_policies_are_accepted() {
    let src = "package mamori.resource\ndefault allow = false\nallow { input.token.ok == true }\n";
    let p = ResourcePolicy::compile(src).unwrap();
    assert!(decide(&p, &json!({"token": {"ok": true}})).unwrap().allow);
}

#[test]
fn compile_errors_carry_the_line() {
    let src = "package mamori.appraisal\nimport rego.v1\n\ntrust_vector := {\"hardware\": 2\n";
    match AppraisalPolicy::compile(src) {
        Err(PolicyError::Compile { line, message }) => {
            assert!(line.is_some(), "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let src = "package mamori.appraisal\nimport rego.v1\ntrust_vector := {\"hardware\": 2,, }\n";
    match AppraisalPolicy::compile(src) {
        Err(PolicyError::Compile { line: Some(3), .. }) => {}
        other => panic!("{other:?}"),
    }
    // regorus resolves function names at evaluation: an unknown function is
    // an evaluation error then, never a panic.
    let src = "package mamori.appraisal\nimport rego.v1\ntrust_vector := {\"hardware\": no_such_function(1)}\n";
    if let Ok(p) = AppraisalPolicy::compile(src) {
        assert!(p.evaluate_json(&json!({})).is_err());
    }
    for src in ["", "   ", "not rego at all", "package"] {
        assert!(
            matches!(
                AppraisalPolicy::compile(src),
                Err(PolicyError::Compile { .. })
            ),
            "{src:?}"
        );
    }
}

#[test]
fn missing_rules_are_named() {
    let e = AppraisalPolicy::compile("package mamori.appraisal\nreasons := [\"x\"]\n").unwrap_err();
    assert_eq!(
        e,
        PolicyError::MissingRule {
            package: "mamori.appraisal",
            rule: "trust_vector"
        }
    );
    assert!(e.to_string().contains("trust_vector"));
    let e = ResourcePolicy::compile("package mamori.resource\ndeny := true\n").unwrap_err();
    assert_eq!(
        e,
        PolicyError::MissingRule {
            package: "mamori.resource",
            rule: "allow"
        }
    );
    assert!(e.to_string().contains("`allow`"));
    // An appraisal policy is not a resource policy and vice versa.
    assert!(matches!(
        ResourcePolicy::compile(defaults::SNP_APPRAISAL),
        Err(PolicyError::WrongPackage { .. })
    ));
    assert!(matches!(
        compile(PolicyKind::Appraisal, defaults::RESOURCE),
        Err(PolicyError::WrongPackage {
            expected: "mamori.appraisal",
            ..
        })
    ));
    let e = AppraisalPolicy::compile("package policy\ntrust_vector := {}\n").unwrap_err();
    assert_eq!(
        e,
        PolicyError::WrongPackage {
            expected: "mamori.appraisal",
            found: "policy".into()
        }
    );
}

#[test]
fn compile_gives_a_stable_digest() {
    let c = compile(PolicyKind::Resource, defaults::RESOURCE).unwrap();
    assert_eq!(c.kind(), PolicyKind::Resource);
    assert_eq!(c.digest(), digest(defaults::RESOURCE));
    assert_eq!(c.digest().len(), 64);
    assert_eq!(
        digest(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let p = defaults::resource_policy().unwrap();
    assert_eq!(p.digest(), c.digest());
    assert_eq!(p.source(), defaults::RESOURCE);
    assert_ne!(
        digest(defaults::RESOURCE),
        digest(&format!("{}\n", defaults::RESOURCE))
    );
}

fn shape_error(src: &str) -> PolicyError {
    let p = AppraisalPolicy::compile(src).unwrap();
    appraise(&p, &json!({"x": 1})).unwrap_err()
}

#[test]
fn wrong_output_shapes_name_the_field() {
    let cases = [
        ("trust_vector := [2]", "trust_vector"),
        (
            "trust_vector := {\"instance_identity\": 2}",
            "trust_vector.instance_identity",
        ),
        (
            "trust_vector := {\"hardware\": 200}",
            "trust_vector.hardware",
        ),
        (
            "trust_vector := {\"hardware\": -129}",
            "trust_vector.hardware",
        ),
        (
            "trust_vector := {\"hardware\": \"affirming\"}",
            "trust_vector.hardware",
        ),
        (
            "trust_vector := {\"hardware\": 2.5}",
            "trust_vector.hardware",
        ),
        ("trust_vector := {1: 2}", "trust_vector[1]"),
        (
            "trust_vector := {\"hardware\": 2} if input.y",
            "trust_vector",
        ),
        ("trust_vector := {}\nreasons := [\"ok\", 3]", "reasons[1]"),
        ("trust_vector := {}\nreasons := 3", "reasons"),
    ];
    for (body, field) in cases {
        let src = format!("package mamori.appraisal\nimport rego.v1\n{body}\n");
        match shape_error(&src) {
            PolicyError::OutputShape { field: f, .. } => assert_eq!(f, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    let p = ResourcePolicy::compile("package mamori.resource\nallow := \"yes\"\n").unwrap();
    assert_eq!(
        decide(&p, &json!({})).unwrap_err(),
        PolicyError::OutputShape {
            field: "allow".into(),
            expected: "a boolean".into()
        }
    );
}

#[test]
fn reasons_are_bounded() {
    let src = "package mamori.appraisal\nimport rego.v1\ntrust_vector := {}\nlong := concat(\"\", [\"x\" | some _ in numbers.range(1, 1100)])\nreasons contains sprintf(\"r%04d %s\", [i, long]) if some i in numbers.range(1, 100)\n";
    let p = AppraisalPolicy::compile(src).unwrap();
    let out = appraise(&p, &json!({})).unwrap();
    assert_eq!(out.reasons.len(), 65);
    assert!(out.reasons[0].len() <= 1024 + "…".len());
    assert!(out.reasons[64].contains("36 more"));
    // A single string is one reason.
    let p = AppraisalPolicy::compile(
        "package mamori.appraisal\ntrust_vector := {}\nreasons := \"one\"\n",
    )
    .unwrap();
    assert_eq!(
        appraise(&p, &json!({})).unwrap().reasons,
        vec!["one".to_string()]
    );
}

#[test]
fn a_runaway_policy_is_stopped_by_its_budget() {
    let src = r#"
package mamori.appraisal
import rego.v1
n := count([1 | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); some c in numbers.range(1, 2000)])
trust_vector := {"hardware": 2} if n > 0
"#;
    let p = AppraisalPolicy::compile(src).unwrap();
    assert!(matches!(
        p.evaluate_json(&json!({})),
        Err(PolicyError::LimitExceeded(_))
    ));
    // The interpreter form is bounded by the wall-clock limit instead.
    let limits = Limits {
        max_eval_time: std::time::Duration::from_millis(20),
        ..Limits::default()
    };
    let p = AppraisalPolicy::compile_with_limits(src, limits).unwrap();
    assert!(matches!(
        p.evaluate_json_interpreted(&json!({})),
        Err(PolicyError::LimitExceeded(_))
    ));
}

#[test]
fn evaluation_errors_are_errors_not_panics() {
    let src = "package mamori.appraisal\nimport rego.v1\ntrust_vector := {\"hardware\": 2} if input.a\ntrust_vector := {\"hardware\": 3} if input.b\n";
    let p = AppraisalPolicy::compile(src).unwrap();
    assert!(appraise(&p, &json!({"a": true})).is_ok());
    assert!(p.evaluate_json(&json!({"a": true, "b": true})).is_err());
}

#[test]
fn deep_inputs_are_refused_not_recursed() {
    let mut v = json!(1);
    for _ in 0..1000 {
        v = json!([v]);
    }
    let p = defaults::resource_policy().unwrap();
    assert!(matches!(p.evaluate_json(&v), Err(PolicyError::Input(_))));
}

#[test]
fn policies_are_shared_across_threads() {
    let p = snp();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut claims = snp_claims();
                claims["policy"]["debug"] = json!(i % 2 == 1);
                (0..50)
                    .map(|_| {
                        p.evaluate_json(&snp_input(claims.clone(), good_reference(), true))
                            .unwrap()
                            .status
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let want = if i % 2 == 1 {
            TrustTier::Contraindicated
        } else {
            TrustTier::Affirming
        };
        assert!(h.join().unwrap().iter().all(|s| *s == want));
    }
}

#[test]
fn a_policy_evaluates_normally_after_hitting_its_budget() {
    let src = r#"
package mamori.appraisal
import rego.v1
n := count([1 | some a in numbers.range(1, input.n); some b in numbers.range(1, input.n); some c in numbers.range(1, input.n)])
trust_vector := {"hardware": 2} if n > 0
"#;
    let p = AppraisalPolicy::compile(src).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            p.evaluate_json(&json!({"n": 2000})),
            Err(PolicyError::LimitExceeded(_))
        ));
        assert_eq!(
            p.evaluate_json(&json!({"n": 3})).unwrap().status,
            TrustTier::Affirming
        );
    }
}

//! AR4SI tiers and vectors.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
use mamori_policy::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn tiers_follow_the_ar4si_value_ranges() {
    for v in i8::MIN..=i8::MAX {
        let want = match v {
            -1..=1 => TrustTier::None,
            2..=31 | -32..=-2 => TrustTier::Affirming,
            32..=95 | -96..=-33 => TrustTier::Warning,
            96..=127 | -128..=-97 => TrustTier::Contraindicated,
        };
        assert_eq!(TrustTier::from_claim(v), want, "{v}");
    }
    assert_eq!(TrustTier::from_claim(97).as_str(), "contraindicated");
}

#[test]
fn status_is_the_worst_tier() {
    let mut v = TrustVector::default();
    assert_eq!(v.tier(), TrustTier::None);
    v.set(TrustClaim::Hardware, Some(0));
    assert_eq!(v.tier(), TrustTier::None);
    v.set(TrustClaim::Executables, Some(3));
    assert_eq!(v.tier(), TrustTier::Affirming);
    v.set(TrustClaim::Configuration, Some(-33));
    assert_eq!(v.tier(), TrustTier::Warning);
    v.set(TrustClaim::SourcedData, Some(-128));
    assert_eq!(v.tier(), TrustTier::Contraindicated);
    assert_eq!(v.iter().count(), 4);
}

#[test]
fn vectors_serialize_as_ear_does() {
    let v = TrustVector {
        instance_identity: Some(2),
        file_system: Some(-1),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(v).unwrap(),
        json!({"instance-identity": 2, "file-system": -1})
    );
    let back: TrustVector =
        serde_json::from_value(json!({"instance-identity": 2, "file-system": -1})).unwrap();
    assert_eq!(back, v);
    assert_eq!(
        serde_json::to_value(TrustTier::Contraindicated).unwrap(),
        json!("contraindicated")
    );
    for c in TrustClaim::ALL {
        assert_eq!(TrustClaim::from_name(c.as_str()), Some(c));
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[a-z0-9_.]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,8}".boxed(),
                    prop::sample::select(vec![
                        "policy",
                        "debug",
                        "migrate_ma",
                        "measurement",
                        "vmpl",
                        "reported_tcb",
                        "snp",
                        "claims",
                        "reference",
                        "binding",
                        "report_data_bound",
                        "snp_launch_measurement",
                        "snp_min_tcb_snp",
                        "token",
                        "submods",
                        "ear.status"
                    ])
                    .prop_map(String::from)
                    .boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    // Any input: no panic, and the default policies are never affirming
    // without a bound key and a recognized image.
    #[test]
    fn arbitrary_inputs_never_panic(input in arb_json(), claims in arb_json()) {
        let snp = defaults::appraisal_policy_for_tee("snp").unwrap();
        let resource = defaults::resource_policy().unwrap();
        if let Ok(out) = snp.evaluate_json(&input) {
            prop_assert_ne!(out.status, TrustTier::Affirming);
        }
        let wrapped = json!({"tee": "snp", "claims": claims, "reference": {}, "binding": {"report_data_bound": true}});
        let out = snp.evaluate_json(&wrapped).unwrap();
        prop_assert_ne!(out.status, TrustTier::Affirming);
        let _ = resource.evaluate_json(&input);
        let _ = resource.evaluate_json(&json!({"token": input}));
    }
}

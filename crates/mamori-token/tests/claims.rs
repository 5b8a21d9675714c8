//! AR4SI tiers and EAR claim types.
#![allow(clippy::unwrap_used)]

use mamori_token::{TrustClaim, TrustTier, TrustVector};

#[test]
fn tier_of_every_claim_value() {
    for v in i8::MIN..=i8::MAX {
        let expected = match v {
            -1..=1 => TrustTier::None,
            2..=31 | -32..=-2 => TrustTier::Affirming,
            32..=95 | -96..=-33 => TrustTier::Warning,
            _ => TrustTier::Contraindicated,
        };
        assert_eq!(TrustTier::from_claim(v), expected, "{v}");
    }
    // The boundaries named by draft-ietf-rats-ar4si.
    assert_eq!(TrustTier::from_claim(-32), TrustTier::Affirming);
    assert_eq!(TrustTier::from_claim(-33), TrustTier::Warning);
    assert_eq!(TrustTier::from_claim(-96), TrustTier::Warning);
    assert_eq!(TrustTier::from_claim(-97), TrustTier::Contraindicated);
    assert_eq!(TrustTier::from_claim(-128), TrustTier::Contraindicated);
    assert_eq!(TrustTier::from_claim(99), TrustTier::Contraindicated);
    for tier in [
        TrustTier::None,
        TrustTier::Affirming,
        TrustTier::Warning,
        TrustTier::Contraindicated,
    ] {
        assert_eq!(TrustTier::from_claim(tier.claim_value()), tier);
    }
}

#[test]
fn vector_status_is_the_worst_tier() {
    let mut tv = TrustVector::default();
    assert!(tv.is_empty());
    assert_eq!(tv.tier(), TrustTier::None);
    tv.set(TrustClaim::Hardware, Some(2));
    tv.set(TrustClaim::Configuration, Some(0));
    assert_eq!(
        tv.tier(),
        TrustTier::Affirming,
        "no-claim does not spoil affirming"
    );
    tv.set(TrustClaim::Executables, Some(-40));
    assert_eq!(tv.tier(), TrustTier::Warning);
    tv.set(TrustClaim::SourcedData, Some(99));
    assert_eq!(tv.tier(), TrustTier::Contraindicated);
    tv.set(TrustClaim::SourcedData, None);
    assert_eq!(tv.tier(), TrustTier::Warning);
    assert_eq!(tv.iter().count(), 3);
    let s = mamori_token::Submod::from_vector(tv);
    assert_eq!(s.status, TrustTier::Warning);
    assert!(s.is_consistent());
    let mut better = s.clone();
    better.status = TrustTier::Affirming;
    assert!(!better.is_consistent());
}

#[test]
fn vector_json_names() {
    let mut tv = TrustVector::default();
    for (i, claim) in TrustClaim::ALL.into_iter().enumerate() {
        tv.set(claim, Some(i8::try_from(i).unwrap() + 2));
        assert_eq!(TrustClaim::from_name(claim.as_str()), Some(claim));
    }
    let json = serde_json::to_string(&tv).unwrap();
    assert_eq!(
        json,
        r#"{"instance-identity":2,"configuration":3,"executables":4,"file-system":5,"hardware":6,"runtime-opaque":7,"storage-opaque":8,"sourced-data":9}"#
    );
    assert_eq!(serde_json::from_str::<TrustVector>(&json).unwrap(), tv);
    assert!(serde_json::from_str::<TrustVector>(r#"{"hardware":128}"#).is_err());
    assert!(serde_json::from_str::<TrustVector>(r#"{"hardware":-129}"#).is_err());
    assert!(serde_json::from_str::<TrustVector>(r#"{"hardware":"2"}"#).is_err());
    assert_eq!(
        serde_json::to_string(&TrustTier::Contraindicated).unwrap(),
        r#""contraindicated""#
    );
    assert!(serde_json::from_str::<TrustTier>(r#""Affirming""#).is_err());
    assert!(
        TrustTier::None < TrustTier::Affirming && TrustTier::Warning < TrustTier::Contraindicated
    );
}

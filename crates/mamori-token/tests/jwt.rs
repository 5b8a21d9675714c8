//! ES256 token signing and every verification check.
#![allow(clippy::unwrap_used)]

use mamori_token::b64;
use mamori_token::jwt::DEFAULT_LEEWAY_SECS;
use mamori_token::{
    ar4si, EarClaims, RawJson, Submod, TokenError, TokenPart, TokenSigner, TokenVerifier,
    TrustTier, TrustVector, VerifierId, EAR_PROFILE,
};
use serde_json::json;

const NOW: i64 = 1_750_000_000;

fn claims() -> EarClaims {
    let cpu = TrustVector {
        instance_identity: Some(ar4si::AFFIRMING),
        hardware: Some(ar4si::AFFIRMING),
        executables: Some(ar4si::AFFIRMING),
        configuration: Some(ar4si::AFFIRMING),
        runtime_opaque: Some(ar4si::AFFIRMING),
        ..TrustVector::default()
    };
    let mut submod = Submod::from_vector(cpu);
    submod.policy_id = Some("default-snp@1".into());
    submod.annotated_evidence = Some(
        RawJson::new(&json!({"snp": {"measurement": "abcd", "policy": {"debug": false}}})).unwrap(),
    );
    EarClaims {
        profile: EAR_PROFILE.into(),
        iat: NOW,
        exp: NOW + 300,
        nbf: None,
        iss: None,
        jti: "0f8c2b5e".into(),
        verifier_id: VerifierId {
            developer: "https://mamori.invalid".into(),
            build: "mamori 0.1.0".into(),
        },
        nonce: Some("bm9uY2U".into()),
        submods: [("cpu0".to_string(), submod)].into(),
    }
}

fn setup() -> (TokenSigner, TokenVerifier) {
    let (signer, _) = TokenSigner::generate().unwrap();
    let mut verifier = TokenVerifier::new();
    verifier.add_jwk(signer.public_jwk()).unwrap();
    (signer, verifier)
}

/// A token with an arbitrary header, signed by `signer` (to reach checks after the signature).
fn forge(signer_pkcs8: &[u8], header: &serde_json::Value, payload: &serde_json::Value) -> String {
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, signer_pkcs8).unwrap();
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(payload.to_string().as_bytes())
    );
    let sig = key
        .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64::encode(sig.as_ref()))
}

#[test]
fn sign_and_verify() {
    let (signer, verifier) = setup();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verifier.verify(&token, NOW + 1).unwrap(), claims());
    let header: serde_json::Value =
        serde_json::from_slice(&b64::decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "ES256", "typ": "JWT", "kid": signer.kid()})
    );
}

#[test]
fn reloaded_key_has_same_identity() {
    let (signer, pkcs8) = TokenSigner::generate().unwrap();
    let again = TokenSigner::new(signer.kid(), &pkcs8).unwrap();
    assert_eq!(signer.public_jwk(), again.public_jwk());
    assert_eq!(
        signer.kid(),
        signer.public_jwk().thumbprint_sha256().unwrap()
    );
    let mut verifier = TokenVerifier::new();
    verifier.add_jwk(signer.public_jwk()).unwrap();
    verifier
        .verify(&again.sign(&claims()).unwrap(), NOW)
        .unwrap();
    assert!(matches!(
        TokenSigner::new("k", b"not a key"),
        Err(TokenError::KeyRejected(_))
    ));
}

#[test]
fn expiry_not_before_issued_at() {
    let (signer, verifier) = setup();
    let token = signer.sign(&claims()).unwrap();
    let exp = NOW + 300;
    assert!(verifier
        .verify(&token, exp + DEFAULT_LEEWAY_SECS - 1)
        .is_ok());
    assert_eq!(
        verifier.verify(&token, exp + DEFAULT_LEEWAY_SECS),
        Err(TokenError::Expired {
            exp,
            now: exp + DEFAULT_LEEWAY_SECS
        })
    );
    assert_eq!(
        verifier.verify(&token, NOW - DEFAULT_LEEWAY_SECS - 1),
        Err(TokenError::IssuedInFuture {
            iat: NOW,
            now: NOW - DEFAULT_LEEWAY_SECS - 1
        })
    );
    let strict = {
        let mut v = TokenVerifier::new().with_leeway(0);
        v.add_jwk(signer.public_jwk()).unwrap();
        v
    };
    assert!(matches!(
        strict.verify(&token, exp),
        Err(TokenError::Expired { .. })
    ));
    assert!(strict.verify(&token, exp - 1).is_ok());

    let mut c = claims();
    c.nbf = Some(NOW + 100);
    let token = signer.sign(&c).unwrap();
    assert!(
        matches!(strict.verify(&token, NOW + 99), Err(TokenError::NotYetValid { nbf, .. }) if nbf == NOW + 100)
    );
    assert!(strict.verify(&token, NOW + 100).is_ok());

    let no_exp = signer.sign_json(&json!({"iat": NOW})).unwrap();
    assert_eq!(
        verifier.verify(&no_exp, NOW),
        Err(TokenError::MissingExpiry)
    );
}

#[test]
fn unknown_kid_and_other_key() {
    let (signer, verifier) = setup();
    let (other, _) = TokenSigner::generate().unwrap();
    let token = other.sign(&claims()).unwrap();
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(TokenError::UnknownKid(other.kid().to_string()))
    );
    // Same kid, different key: the signature check fails.
    let (_, other_pkcs8) = TokenSigner::generate().unwrap();
    let impostor = TokenSigner::new(signer.kid(), &other_pkcs8).unwrap();
    assert_eq!(
        verifier.verify(&impostor.sign(&claims()).unwrap(), NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn refused_algorithms_and_headers() {
    let (signer, pkcs8) = TokenSigner::generate().unwrap();
    let mut verifier = TokenVerifier::new();
    verifier.add_jwk(signer.public_jwk()).unwrap();
    let payload = serde_json::to_value(claims()).unwrap();
    let kid = signer.kid();
    for alg in [
        "none", "None", "HS256", "HS384", "RS256", "ES384", "PS256", "EdDSA", "es256",
    ] {
        let token = forge(&pkcs8, &json!({"alg": alg, "kid": kid}), &payload);
        assert_eq!(
            verifier.verify(&token, NOW),
            Err(TokenError::UnsupportedAlgorithm(alg.into())),
            "{alg}"
        );
    }
    // Unsigned token "header.payload." with alg none.
    let unsigned = format!(
        "{}.{}.",
        b64::encode(json!({"alg": "none"}).to_string().as_bytes()),
        b64::encode(payload.to_string().as_bytes())
    );
    assert!(matches!(
        verifier.verify(&unsigned, NOW),
        Err(TokenError::UnsupportedAlgorithm(_))
    ));

    let jwk = serde_json::to_value(signer.public_jwk()).unwrap();
    for (member, value) in [
        ("jwk", jwk),
        ("jku", json!("https://attacker.example/jwks")),
        ("x5c", json!(["MIIB"])),
        ("x5u", json!("https://attacker.example/cert")),
        ("x5t", json!("abc")),
        ("x5t#S256", json!("abc")),
    ] {
        let mut header = json!({"alg": "ES256", "kid": kid});
        header[member] = value;
        let token = forge(&pkcs8, &header, &payload);
        assert!(
            matches!(verifier.verify(&token, NOW), Err(TokenError::EmbeddedKey(m)) if m == member),
            "{member}"
        );
    }
    let token = forge(
        &pkcs8,
        &json!({"alg": "ES256", "kid": kid, "crit": ["exp"], "exp": 1}),
        &payload,
    );
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(TokenError::CriticalHeader)
    );
    let token = forge(
        &pkcs8,
        &json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"}),
        &payload,
    );
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(TokenError::UnsupportedType("at+jwt".into()))
    );
    let token = forge(&pkcs8, &json!({"alg": "ES256"}), &payload);
    assert_eq!(verifier.verify(&token, NOW), Err(TokenError::MissingKid));
    // Duplicate "alg" must not let a second value slip through.
    let dup = format!(
        "{}.{}.{}",
        b64::encode(format!(r#"{{"alg":"ES256","alg":"none","kid":"{kid}"}}"#).as_bytes()),
        b64::encode(payload.to_string().as_bytes()),
        "AA"
    );
    assert!(matches!(
        verifier.verify(&dup, NOW),
        Err(TokenError::HeaderJson(_))
    ));
    // A well-signed token with a header that is not an object.
    let token = forge(&pkcs8, &json!(["ES256"]), &payload);
    assert!(matches!(
        verifier.verify(&token, NOW),
        Err(TokenError::HeaderJson(_))
    ));
    // A forged token with the right header is accepted: the checks above are the only difference.
    let token = forge(
        &pkcs8,
        &json!({"alg": "ES256", "kid": kid, "typ": "JWT", "x-extra": 1}),
        &payload,
    );
    assert_eq!(verifier.verify(&token, NOW).unwrap(), claims());
}

#[test]
fn malformed_encodings() {
    let (signer, verifier) = setup();
    let token = signer.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    assert_eq!(
        verifier.verify(&format!("{h}.{p}"), NOW),
        Err(TokenError::NotCompact)
    );
    assert_eq!(
        verifier.verify(&format!("{h}.{p}.{s}.x"), NOW),
        Err(TokenError::NotCompact)
    );
    assert_eq!(verifier.verify("", NOW), Err(TokenError::NotCompact));
    assert_eq!(
        verifier.verify(&format!("{h}=.{p}.{s}"), NOW),
        Err(TokenError::Base64(TokenPart::Header))
    );
    assert_eq!(
        verifier.verify(&format!("{h}.{p}.{s}="), NOW),
        Err(TokenError::Base64(TokenPart::Signature))
    );
    assert_eq!(
        verifier.verify(&format!(" {h}.{p}.{s}"), NOW),
        Err(TokenError::Base64(TokenPart::Header))
    );
    assert_eq!(
        verifier.verify(&format!("{h}.{p}.{s}\n"), NOW),
        Err(TokenError::Base64(TokenPart::Signature))
    );
    // Payload bytes are signed, so a changed payload fails the signature before decoding.
    assert_eq!(
        verifier.verify(&format!("{h}.{p}+.{s}"), NOW),
        Err(TokenError::BadSignature)
    );
    let short_sig = b64::encode(&[0u8; 63]);
    assert_eq!(
        verifier.verify(&format!("{h}.{p}.{short_sig}"), NOW),
        Err(TokenError::BadSignature)
    );
    let small = {
        let mut v = TokenVerifier::new().with_max_len(100);
        v.add_jwk(signer.public_jwk()).unwrap();
        v
    };
    assert!(matches!(
        small.verify(&token, NOW),
        Err(TokenError::TooLarge { max: 100, .. })
    ));
}

#[test]
fn every_flipped_character_is_rejected() {
    let (signer, verifier) = setup();
    let token = signer.sign(&claims()).unwrap();
    let bytes = token.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b'A', b'-', b'.', b'='] {
            if bytes[i] == replacement {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                verifier.verify(&changed, NOW).is_err(),
                "position {i} -> {}",
                replacement as char
            );
        }
    }
}

#[test]
fn claims_json_shape() {
    let value = serde_json::to_value(claims()).unwrap();
    assert_eq!(
        value,
        json!({
            "eat_profile": "tag:github.com,2023:veraison/ear",
            "iat": NOW,
            "exp": NOW + 300,
            "jti": "0f8c2b5e",
            "ear.verifier-id": {"developer": "https://mamori.invalid", "build": "mamori 0.1.0"},
            "eat_nonce": "bm9uY2U",
            "submods": {
                "cpu0": {
                    "ear.status": "affirming",
                    "ear.trustworthiness-vector": {
                        "instance-identity": 2, "configuration": 2, "executables": 2,
                        "hardware": 2, "runtime-opaque": 2
                    },
                    "ear.appraisal-policy-id": "default-snp@1",
                    "ear.veraison.annotated-evidence": {"snp": {"measurement": "abcd", "policy": {"debug": false}}}
                }
            }
        })
    );
    let mut with_key = claims();
    let jwk = mamori_token::Jwk::from_ec_point(
        mamori_token::EcCurve::P256,
        TokenSigner::generate()
            .unwrap()
            .0
            .public_jwk()
            .ec_point()
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    with_key.submods.get_mut("cpu0").unwrap().tee_pubkey = Some(jwk.clone());
    let value = serde_json::to_value(&with_key).unwrap();
    assert_eq!(
        value["submods"]["cpu0"]["ear.mamori.tee-pubkey"]["kty"],
        "EC"
    );
    assert_eq!(with_key.tee_pubkey(), Some(&jwk));
    assert!(with_key.all_affirming());
    assert_eq!(with_key.overall_status(), TrustTier::Affirming);
}

#[test]
fn claims_reject_bad_shapes() {
    let (signer, verifier) = setup();
    let mut value = serde_json::to_value(claims()).unwrap();
    value["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"] = json!(200);
    let token = signer.sign_json(&value).unwrap();
    assert!(matches!(
        verifier.verify(&token, NOW),
        Err(TokenError::ClaimsJson(_))
    ));
    let mut value = serde_json::to_value(claims()).unwrap();
    value["submods"]["cpu0"]["ear.status"] = json!("great");
    let token = signer.sign_json(&value).unwrap();
    assert!(matches!(
        verifier.verify(&token, NOW),
        Err(TokenError::ClaimsJson(_))
    ));
    let token = signer.sign_json(&json!({"exp": "soon"})).unwrap();
    assert!(matches!(
        verifier.verify(&token, NOW),
        Err(TokenError::ClaimsJson(_))
    ));
}

#[test]
fn key_rotation() {
    let (old, _) = TokenSigner::generate().unwrap();
    let (new, _) = TokenSigner::generate().unwrap();
    let mut verifier = TokenVerifier::new();
    verifier.add_jwk(old.public_jwk()).unwrap();
    verifier.add_jwk(new.public_jwk()).unwrap();
    let old_token = old.sign(&claims()).unwrap();
    let new_token = new.sign(&claims()).unwrap();
    assert!(verifier.verify(&old_token, NOW).is_ok());
    assert!(verifier.verify(&new_token, NOW).is_ok());
    assert!(verifier.remove_key(old.kid()));
    assert!(matches!(
        verifier.verify(&old_token, NOW),
        Err(TokenError::UnknownKid(_))
    ));
    assert_eq!(verifier.kids().collect::<Vec<_>>(), vec![new.kid()]);
    let jwks = mamori_token::jwks(&[old.public_jwk().clone(), new.public_jwk().clone()]);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(jwks["keys"][0]["use"], "sig");
}

#[test]
fn verifier_refuses_unsuitable_keys() {
    let (signer, _) = TokenSigner::generate().unwrap();
    let mut verifier = TokenVerifier::new();
    let mut no_kid = signer.public_jwk().clone();
    no_kid.kid = None;
    assert_eq!(verifier.add_jwk(&no_kid), Err(TokenError::MissingKid));
    let other_alg = signer.public_jwk().clone().with_alg("ES384");
    assert!(matches!(
        verifier.add_jwk(&other_alg),
        Err(TokenError::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        verifier.add_p256_point("k", &[4u8; 65]),
        Err(TokenError::KeyRejected(_))
    ));
}

#[test]
fn claims_must_be_an_object() {
    let (signer, verifier) = setup();
    let c = claims();
    let positional = json!([
        c.profile,
        c.iat,
        c.exp,
        null,
        null,
        c.jti,
        c.verifier_id,
        c.nonce,
        c.submods
    ]);
    let token = signer.sign_json(&positional).unwrap();
    assert!(matches!(
        verifier.verify(&token, NOW),
        Err(TokenError::ClaimsJson(_))
    ));
}

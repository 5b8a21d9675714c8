//! JWK conversions and validation.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::agreement;
use mamori_token::b64;
use mamori_token::{EcCurve, Jwk, JwkError, PublicKeyMaterial};

fn point(curve: EcCurve) -> Vec<u8> {
    let key = agreement::PrivateKey::generate(curve.agreement_algorithm()).unwrap();
    key.compute_public_key().unwrap().as_ref().to_vec()
}

#[test]
fn ec_round_trip_every_curve() {
    for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
        let p = point(curve);
        assert_eq!(p.len(), curve.point_len());
        let jwk = Jwk::from_ec_point(curve, &p).unwrap();
        assert_eq!(jwk.crv.as_deref(), Some(curve.name()));
        assert_eq!(jwk.ec_point().unwrap(), (curve, p.clone()));
        let text = serde_json::to_string(&jwk).unwrap();
        let back: Jwk = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.key_material().unwrap(),
            PublicKeyMaterial::Ec { curve, point: p }
        );
        assert_eq!(back.thumbprint_sha256().unwrap().len(), 43);
    }
}

#[test]
fn ec_validation() {
    let p = point(EcCurve::P256);
    // Off-curve: change y.
    let mut off = p.clone();
    off[64] ^= 1;
    assert_eq!(
        Jwk::from_ec_point(EcCurve::P256, &off),
        Err(JwkError::InvalidPoint("P-256"))
    );
    // Compressed form and wrong curve length are refused.
    assert!(Jwk::from_ec_point(EcCurve::P256, &p[..33]).is_err());
    assert!(Jwk::from_ec_point(EcCurve::P384, &p).is_err());
    let good = Jwk::from_ec_point(EcCurve::P256, &p).unwrap();
    let mut bad = good.clone();
    bad.y = Some(b64::encode(&off[33..]));
    assert_eq!(bad.ec_point(), Err(JwkError::InvalidPoint("P-256")));
    let mut short = good.clone();
    short.x = Some(b64::encode(&p[2..33]));
    assert_eq!(
        short.ec_point(),
        Err(JwkError::BadLength {
            member: "x",
            expected: 32,
            found: 31
        })
    );
    let mut padded = good.clone();
    padded.x = Some(format!("{}=", good.x.clone().unwrap()));
    assert_eq!(padded.ec_point(), Err(JwkError::Base64("x")));
    let mut missing = good.clone();
    missing.y = None;
    assert_eq!(missing.ec_point(), Err(JwkError::MissingMember("y")));
    let mut curve = good.clone();
    curve.crv = Some("secp256k1".into());
    assert_eq!(
        curve.ec_point(),
        Err(JwkError::UnsupportedCurve(Some("secp256k1".into())))
    );
    let mut okp = good.clone();
    okp.kty = "OKP".into();
    assert_eq!(
        okp.key_material(),
        Err(JwkError::UnsupportedKeyType("OKP".into()))
    );
    assert!(matches!(okp.ec_point(), Err(JwkError::WrongKeyType { .. })));
    // The identity / all-zero point.
    let mut zero = vec![4u8];
    zero.extend_from_slice(&[0u8; 64]);
    assert!(Jwk::from_ec_point(EcCurve::P256, &zero).is_err());
}

#[test]
fn rsa_components() {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    let public = key.public_key();
    let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(public);
    let jwk = Jwk::from_rsa_components(&components.n, &components.e).unwrap();
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    let parsed = jwk.rsa_components().unwrap();
    assert_eq!(parsed.n, components.n);
    assert_eq!(parsed.modulus_bits(), 2048);
    // A leading zero octet is tolerated on input and removed.
    let mut with_zero = vec![0u8];
    with_zero.extend_from_slice(&components.n);
    let mut lenient = jwk.clone();
    lenient.n = Some(b64::encode(&with_zero));
    assert_eq!(lenient.rsa_components().unwrap().n, components.n);
    // One key, one thumbprint: the zero octet is not hashed.
    assert_eq!(
        lenient.thumbprint_sha256().unwrap(),
        jwk.thumbprint_sha256().unwrap()
    );
    // Too small, even modulus, bad exponents.
    assert_eq!(
        Jwk::from_rsa_components(&components.n[..128], &[1, 0, 1]),
        Err(JwkError::RsaModulusSize(1024))
    );
    let mut even = components.n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(Jwk::from_rsa_components(&even, &[1, 0, 1]).is_err());
    assert_eq!(
        Jwk::from_rsa_components(&components.n, &[1]),
        Err(JwkError::RsaExponent)
    );
    assert_eq!(
        Jwk::from_rsa_components(&components.n, &[2]),
        Err(JwkError::RsaExponent)
    );
    assert_eq!(
        Jwk::from_rsa_components(&components.n, &[]),
        Err(JwkError::RsaExponent)
    );
    // RFC 7638 §3.1 example thumbprint.
    let rfc7638: Jwk = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
    assert_eq!(
        rfc7638.thumbprint_sha256().unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn wire_names() {
    let jwk = Jwk::from_ec_point(EcCurve::P256, &point(EcCurve::P256))
        .unwrap()
        .with_kid("k1")
        .with_alg("ES256")
        .with_use("sig");
    let v = serde_json::to_value(&jwk).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
}

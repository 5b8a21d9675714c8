//! Round trips, tampering, wrong keys and refused algorithms.
#![allow(clippy::unwrap_used)]

use mamori_jwe::{
    decrypt, decrypt_with, encrypt, DecryptOptions, EncryptOptions, FlattenedJwe, JweError,
    PrivateKey, Recipient, RsaKeySize,
};
use mamori_token::jwk::EcCurve;

fn keys() -> Vec<PrivateKey> {
    vec![
        PrivateKey::generate_ec(EcCurve::P256).unwrap(),
        PrivateKey::generate_ec(EcCurve::P384).unwrap(),
        PrivateKey::generate_ec(EcCurve::P521).unwrap(),
        PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap(),
    ]
}

#[test]
fn round_trip_every_key_kind() {
    for key in keys() {
        for plaintext in [&b""[..], b"x", b"disk key 0123456789abcdef0123456789abcdef"] {
            let jwe = encrypt(key.public_jwk(), plaintext).unwrap();
            let json = jwe.to_json();
            assert_eq!(decrypt(&json, &key).unwrap(), plaintext, "{key:?}");
        }
    }
}

fn flip_each_byte(jwe: &FlattenedJwe, key: &PrivateKey) {
    type Get = fn(&mut FlattenedJwe) -> &mut String;
    let members: [(&str, Get); 5] = [
        ("protected", |j| &mut j.protected),
        ("encrypted_key", |j| &mut j.encrypted_key),
        ("iv", |j| &mut j.iv),
        ("ciphertext", |j| &mut j.ciphertext),
        ("tag", |j| &mut j.tag),
    ];
    for (name, get) in members {
        let mut copy = jwe.clone();
        let bytes = mamori_token::b64::decode(get(&mut copy)).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            let mut tampered = jwe.clone();
            *get(&mut tampered) = mamori_token::b64::encode(&changed);
            let result = decrypt(&tampered.to_json(), key);
            assert!(result.is_err(), "{key:?}: {name}[{i}] flipped was accepted");
        }
        // Truncated and extended members too.
        if !bytes.is_empty() {
            let mut tampered = jwe.clone();
            *get(&mut tampered) = mamori_token::b64::encode(&bytes[..bytes.len() - 1]);
            assert!(
                decrypt(&tampered.to_json(), key).is_err(),
                "{name} truncated"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let mut tampered = jwe.clone();
        *get(&mut tampered) = mamori_token::b64::encode(&longer);
        assert!(
            decrypt(&tampered.to_json(), key).is_err(),
            "{name} extended"
        );
    }
}

#[test]
fn every_flipped_byte_is_rejected() {
    for key in keys() {
        let jwe = encrypt(key.public_jwk(), b"a 32-byte disk encryption key!!").unwrap();
        flip_each_byte(&jwe, &key);
    }
}

#[test]
fn wrong_key_is_rejected() {
    let p256 = PrivateKey::generate_ec(EcCurve::P256).unwrap();
    let other_p256 = PrivateKey::generate_ec(EcCurve::P256).unwrap();
    let p384 = PrivateKey::generate_ec(EcCurve::P384).unwrap();
    let rsa = PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap();
    let other_rsa = PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap();
    let jwe = encrypt(p256.public_jwk(), b"secret").unwrap().to_json();
    assert_eq!(decrypt(&jwe, &other_p256), Err(JweError::DecryptionFailed));
    assert!(matches!(
        decrypt(&jwe, &p384),
        Err(JweError::EpkCurveMismatch {
            expected: EcCurve::P384,
            ..
        })
    ));
    assert!(matches!(
        decrypt(&jwe, &rsa),
        Err(JweError::KeyMismatch { key: "RSA", .. })
    ));
    let jwe = encrypt(rsa.public_jwk(), b"secret").unwrap().to_json();
    assert_eq!(decrypt(&jwe, &other_rsa), Err(JweError::DecryptionFailed));
    assert!(matches!(
        decrypt(&jwe, &p256),
        Err(JweError::KeyMismatch { key: "EC", .. })
    ));
}

#[test]
fn output_shape() {
    let key = PrivateKey::generate_ec(EcCurve::P256).unwrap();
    let jwe = encrypt(key.public_jwk(), b"secret").unwrap();
    let value: serde_json::Value = serde_json::from_str(&jwe.to_json()).unwrap();
    let mut members: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        ["ciphertext", "encrypted_key", "iv", "protected", "tag"]
    );
    let header: serde_json::Value =
        serde_json::from_slice(&mamori_token::b64::decode(&jwe.protected).unwrap()).unwrap();
    assert_eq!(header["alg"], "ECDH-ES+A256KW");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["epk"]["kty"], "EC");
    assert_eq!(header["epk"]["crv"], "P-256");
    assert!(header["epk"].get("d").is_none());
    assert_eq!(mamori_token::b64::decode(&jwe.iv).unwrap().len(), 12);
    assert_eq!(mamori_token::b64::decode(&jwe.tag).unwrap().len(), 16);
    assert_eq!(
        mamori_token::b64::decode(&jwe.encrypted_key).unwrap().len(),
        40
    );
    // Fresh randomness every time.
    let again = encrypt(key.public_jwk(), b"secret").unwrap();
    assert_ne!(jwe.protected, again.protected);
    assert_ne!(jwe.iv, again.iv);

    let rsa = PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap();
    let jwe = encrypt(rsa.public_jwk(), b"secret").unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&mamori_token::b64::decode(&jwe.protected).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"})
    );
    assert_eq!(
        mamori_token::b64::decode(&jwe.encrypted_key).unwrap().len(),
        256
    );
}

#[test]
fn apu_apv_round_trip() {
    let key = PrivateKey::generate_ec(EcCurve::P521).unwrap();
    let recipient = Recipient::from_jwk(key.public_jwk()).unwrap();
    let options = EncryptOptions {
        apu: Some(b"Alice"),
        apv: Some(b"Bob"),
    };
    let jwe = recipient.encrypt_with(b"hello", &options).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&mamori_token::b64::decode(&jwe.protected).unwrap()).unwrap();
    assert_eq!(header["apu"], "QWxpY2U");
    assert_eq!(header["apv"], "Qm9i");
    assert_eq!(decrypt(&jwe.to_json(), &key).unwrap(), b"hello");
}

#[test]
fn refused_recipient_keys() {
    let rsa = PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap();
    let ec = PrivateKey::generate_ec(EcCurve::P256).unwrap();
    let rsa1_5 = rsa.public_jwk().clone().with_alg("RSA1_5");
    assert_eq!(encrypt(&rsa1_5, b"x"), Err(JweError::Rsa1_5Refused));
    let rsa_oaep_sha1 = rsa.public_jwk().clone().with_alg("RSA-OAEP");
    assert_eq!(
        encrypt(&rsa_oaep_sha1, b"x"),
        Err(JweError::UnsupportedAlgorithm("RSA-OAEP".into()))
    );
    let ec_direct = ec.public_jwk().clone().with_alg("ECDH-ES");
    assert_eq!(
        encrypt(&ec_direct, b"x"),
        Err(JweError::UnsupportedAlgorithm("ECDH-ES".into()))
    );
    let ec_as_rsa = ec.public_jwk().clone().with_alg("RSA-OAEP-256");
    assert!(matches!(
        encrypt(&ec_as_rsa, b"x"),
        Err(JweError::KeyMismatch { key: "EC", .. })
    ));
    let sig = ec.public_jwk().clone().with_use("sig");
    assert_eq!(
        encrypt(&sig, b"x"),
        Err(JweError::WrongKeyUse("sig".into()))
    );
    // Without alg the key type decides.
    let mut no_alg = ec.public_jwk().clone();
    no_alg.alg = None;
    assert_eq!(
        Recipient::from_jwk(&no_alg).unwrap().algorithm(),
        mamori_jwe::KeyManagement::EcdhEsA256Kw
    );
    // A 1024-bit RSA key is refused.
    let mut small = rsa.public_jwk().clone();
    let n = mamori_token::b64::decode(small.n.as_deref().unwrap()).unwrap();
    small.n = Some(mamori_token::b64::encode(&n[..128]));
    assert!(matches!(encrypt(&small, b"x"), Err(JweError::Jwk(_))));
}

/// Re-encodes the protected header with `edit` applied and re-encrypts nothing:
/// header checks run before any cryptography, so the error is the header's.
fn with_header(jwe: &FlattenedJwe, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut header: serde_json::Value =
        serde_json::from_slice(&mamori_token::b64::decode(&jwe.protected).unwrap()).unwrap();
    edit(&mut header);
    let mut changed = jwe.clone();
    changed.protected = mamori_token::b64::encode(header.to_string().as_bytes());
    changed.to_json()
}

#[test]
fn header_validation() {
    let key = PrivateKey::generate_ec(EcCurve::P256).unwrap();
    let jwe = encrypt(key.public_jwk(), b"secret").unwrap();
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(Edit, JweError)> = vec![
        (
            Box::new(|h| h["alg"] = "RSA1_5".into()),
            JweError::Rsa1_5Refused,
        ),
        (
            Box::new(|h| h["alg"] = "dir".into()),
            JweError::UnsupportedAlgorithm("dir".into()),
        ),
        (
            Box::new(|h| h["enc"] = "A128CBC-HS256".into()),
            JweError::UnsupportedEncryption("A128CBC-HS256".into()),
        ),
        (
            Box::new(|h| h["enc"] = "A128GCM".into()),
            JweError::UnsupportedEncryption("A128GCM".into()),
        ),
        (Box::new(|h| h["zip"] = "DEF".into()), JweError::Compression),
        (
            Box::new(|h| h["crit"] = serde_json::json!(["exp"])),
            JweError::CriticalHeader,
        ),
        (
            Box::new(|h| {
                h.as_object_mut().unwrap().remove("epk");
            }),
            JweError::MissingEpk,
        ),
        (
            Box::new(|h| h["epk"]["crv"] = "P-384".into()),
            JweError::EpkCurveMismatch {
                expected: EcCurve::P256,
                found: "P-384".into(),
            },
        ),
        (
            Box::new(|h| h["epk"]["x"] = "AAAA".into()),
            JweError::Jwk(mamori_token::JwkError::BadLength {
                member: "x",
                expected: 32,
                found: 3,
            }),
        ),
        (
            Box::new(|h| h["apu"] = "QWxpY2U=".into()),
            JweError::Base64("apu"),
        ),
        // A changed but valid header: the AAD no longer matches.
        (
            Box::new(|h| h["kid"] = "k".into()),
            JweError::DecryptionFailed,
        ),
    ];
    for (edit, expected) in cases {
        assert_eq!(decrypt(&with_header(&jwe, edit), &key), Err(expected));
    }
    // Off-curve epk.
    let mut header: serde_json::Value =
        serde_json::from_slice(&mamori_token::b64::decode(&jwe.protected).unwrap()).unwrap();
    let mut y = mamori_token::b64::decode(header["epk"]["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    header["epk"]["y"] = mamori_token::b64::encode(&y).into();
    let mut changed = jwe.clone();
    changed.protected = mamori_token::b64::encode(header.to_string().as_bytes());
    assert_eq!(
        decrypt(&changed.to_json(), &key),
        Err(JweError::Jwk(mamori_token::JwkError::InvalidPoint("P-256")))
    );
    // Header that is not an object, members that are refused, JSON that is not a JWE.
    let mut array = jwe.clone();
    array.protected = mamori_token::b64::encode(br#"["ECDH-ES+A256KW","A256GCM"]"#);
    assert!(matches!(
        decrypt(&array.to_json(), &key),
        Err(JweError::Header(_))
    ));
    for member in ["aad", "header", "unprotected", "recipients"] {
        let mut value: serde_json::Value = serde_json::from_str(&jwe.to_json()).unwrap();
        value[member] = serde_json::json!({});
        assert_eq!(
            decrypt(&value.to_string(), &key),
            Err(JweError::UnsupportedMember(member))
        );
    }
    assert!(matches!(decrypt("[]", &key), Err(JweError::Json(_))));
    assert!(matches!(
        decrypt(r#"{"protected":"e30"}"#, &key),
        Err(JweError::Json(_))
    ));
    assert!(matches!(decrypt("", &key), Err(JweError::Json(_))));
    let mut padded = jwe.clone();
    padded.iv.push('=');
    assert_eq!(
        decrypt(&padded.to_json(), &key),
        Err(JweError::Base64("iv"))
    );
}

#[test]
fn private_keys_persist() {
    for key in keys() {
        let der = key.to_pkcs8_der().unwrap();
        let back = match key.public_jwk().kty.as_str() {
            "EC" => PrivateKey::from_ec_pkcs8(key.public_jwk().ec_curve().unwrap(), &der).unwrap(),
            _ => PrivateKey::from_rsa_pkcs8(&der).unwrap(),
        };
        assert_eq!(back.public_jwk(), key.public_jwk());
        let jwe = encrypt(key.public_jwk(), b"k").unwrap();
        assert_eq!(
            decrypt_with(&jwe, &back, &DecryptOptions::default()).unwrap(),
            b"k"
        );
    }
}

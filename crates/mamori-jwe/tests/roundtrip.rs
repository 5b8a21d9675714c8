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

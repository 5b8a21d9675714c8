//! Keys and envelopes as clients send them: a TEE's public key (the
//! `tee-pubkey` JWK) imported and encrypted to, and JWE text decrypted with
//! a fixed key. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::agreement;
use libfuzzer_sys::fuzz_target;
use mamori_jwe::{PrivateKey, Recipient};
use mamori_token::{EcCurve, Jwk};

fn private_key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| PrivateKey::generate_ec(EcCurve::P256).expect("a key"))
}

/// A JWE encrypted to [`private_key`], for the fuzzer to alter.
fn valid_jwe() -> &'static str {
    static J: OnceLock<String> = OnceLock::new();
    J.get_or_init(|| {
        mamori_jwe::encrypt(private_key().public_jwk(), b"a disk key")
            .expect("a JWE")
            .to_json()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = serde_json::from_slice::<Jwk>(data) {
        let _ = jwk.key_material();
        let _ = jwk.thumbprint_sha256();
        if let Ok(recipient) = Recipient::from_jwk(&jwk) {
            let _ = recipient.encrypt(b"a disk key");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mamori_jwe::decrypt(text, private_key());
    }
    // A valid JWE with bytes replaced where the input says (pairs of
    // position and value): header, key unwrap and AES-GCM see nearly
    // valid input. Decryption succeeds only when the ciphertext, tag and
    // wrapped key survived; it then yields the plaintext.
    let mut altered = valid_jwe().as_bytes().to_vec();
    for pair in data.chunks_exact(2) {
        let at = usize::from(pair[0]) * altered.len() / 256;
        altered[at] = pair[1];
    }
    if let Ok(text) = std::str::from_utf8(&altered) {
        if let Ok(plain) = mamori_jwe::decrypt(text, private_key()) {
            assert_eq!(plain, b"a disk key");
        }
    }
    // The bytes as key material, past JSON: an EC point of each curve
    // (prefixed and sized as one: almost never on the curve), the public
    // point of the bytes taken as a private scalar (always on it), and an
    // RSA modulus and exponent of any value, imported and encrypted to.
    let mut keys = Vec::new();
    for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
        let mut point = vec![0x04];
        point.extend(data.iter().copied().cycle().take(curve.point_len() - 1));
        keys.push(Jwk::from_ec_point(curve, &point));
        let scalar: Vec<u8> = data
            .iter()
            .copied()
            .cycle()
            .take(curve.coordinate_len())
            .collect();
        if let Ok(private) =
            agreement::PrivateKey::from_private_key(curve.agreement_algorithm(), &scalar)
        {
            if let Ok(public) = private.compute_public_key() {
                keys.push(Jwk::from_ec_point(curve, public.as_ref()));
            }
        }
    }
    if let Some((split, rest)) = data.split_first() {
        let at = usize::from(*split).min(rest.len());
        let (e, n) = rest.split_at(at);
        keys.push(Jwk::from_rsa_components(n, e));
    }
    for jwk in keys.into_iter().flatten() {
        if let Ok(recipient) = Recipient::from_jwk(&jwk) {
            let _ = recipient.encrypt(b"a disk key");
        }
    }
});

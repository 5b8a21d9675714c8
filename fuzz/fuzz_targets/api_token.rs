//! Bearer tokens as clients send them: any text through the verifier the
//! server uses (size, parts, base64url, header, signature, times, claims),
//! and any JSON object signed and verified back. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mamori_token::{TokenSigner, TokenVerifier};

fn keys() -> &'static (TokenSigner, TokenVerifier) {
    static K: OnceLock<(TokenSigner, TokenVerifier)> = OnceLock::new();
    K.get_or_init(|| {
        let (signer, _) = TokenSigner::generate().expect("a signing key");
        let mut verifier = TokenVerifier::new();
        verifier
            .add_jwk(signer.public_jwk())
            .expect("its public key");
        (signer, verifier)
    })
}

// 2026-11-30T00:00:00Z.
const NOW: i64 = 1_795_910_400;

fuzz_target!(|data: &[u8]| {
    let (signer, verifier) = keys();
    let text = String::from_utf8_lossy(data);
    let _ = verifier.verify(&text, NOW);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(token) = signer.sign_json(&value) {
            let _ = verifier.verify(&token, NOW);
            // A token whose payload was altered never verifies.
            let mut altered = token.into_bytes();
            let first = altered
                .iter()
                .position(|b| *b == b'.')
                .expect("three parts")
                + 1;
            altered[first] = if altered[first] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).expect("ASCII");
            assert!(verifier.verify(&altered, NOW).is_err());
        }
    }
});

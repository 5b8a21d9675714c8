//! Bearer tokens as clients send them: any text through the verifier the
//! server uses (size, parts, base64url, header, kid, signature, times,
//! claims), and any JSON object signed and verified back. Nothing may
//! panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mamori_token::{TokenError, TokenSigner, TokenVerifier};

/// A signer whose kid is "k", so that fuzzed headers can name it and
/// reach the signature check.
fn keys() -> &'static (TokenSigner, TokenVerifier) {
    static K: OnceLock<(TokenSigner, TokenVerifier)> = OnceLock::new();
    K.get_or_init(|| {
        let (_, pkcs8) = TokenSigner::generate().expect("a signing key");
        let signer = TokenSigner::new("k", &pkcs8).expect("the key");
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
            // What we signed always gets past the signature; only the
            // claims themselves (times, shape) may be refused.
            if let Err(e) = verifier.verify(&token, NOW) {
                assert!(
                    !matches!(
                        e,
                        TokenError::TooLarge { .. }
                            | TokenError::NotCompact
                            | TokenError::Base64(_)
                            | TokenError::HeaderJson(_)
                            | TokenError::UnknownKid(_)
                            | TokenError::BadSignature
                    ),
                    "{e}"
                );
            }
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

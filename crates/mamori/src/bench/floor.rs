//! The reference a run's server CPU time is compared with: the raw
//! cryptography one complete flow cannot do without, timed on this machine
//! in the same run. Shared, noisy machines make absolute CPU times drift
//! between runs; the ratio to this floor drifts far less.
//!
//! Per flow the server must at least: verify the evidence signature (SNP:
//! one P-384 ECDSA verification; the `sample` TEE has none), sign the EAR
//! token (one ES256 signature) and wrap the secret to the TEE's key (one
//! P-256 ECDH-ES: an ephemeral key pair and one key agreement).

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use std::time::{Duration, Instant};

/// Rounds of the timed loop; the fastest round is kept (the least
/// disturbed by other work on the machine).
const ROUNDS: usize = 5;
const PER_ROUND: u32 = 200;

pub(crate) struct CryptoFloor {
    pub(crate) per_flow: Duration,
    pub(crate) what: &'static str,
}

pub(crate) fn measure(snp: bool) -> Result<CryptoFloor, String> {
    let rng = SystemRandom::new();
    let err = |what: &'static str| move |_| format!("crypto reference: {what}");
    let es256 = key_pair(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
    let p384 = key_pair(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)?;
    // An SNP report's signed part is 672 bytes; a token's signing input
    // about one kilobyte.
    let report = [0x5au8; 672];
    let report_sig = p384.sign(&rng, &report).map_err(err("P-384 sign"))?;
    let p384_public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P384_SHA384_FIXED,
        p384.public_key().as_ref().to_vec(),
    );
    let tee = EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(err("TEE key"))?;
    let tee_public = tee.compute_public_key().map_err(err("TEE key"))?;
    let token_input = [0x41u8; 1024];

    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            if snp {
                p384_public
                    .verify(&report, report_sig.as_ref())
                    .map_err(err("P-384 verify"))?;
            }
            let sig = es256.sign(&rng, &token_input).map_err(err("ES256 sign"))?;
            std::hint::black_box(sig);
            let eph = EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
                .map_err(err("ephemeral key"))?;
            let epk = eph.compute_public_key().map_err(err("ephemeral key"))?;
            std::hint::black_box(epk);
            let peer = UnparsedPublicKey::new(&agreement::ECDH_P256, tee_public.as_ref());
            agreement::agree_ephemeral(eph, peer, "ECDH", |z| {
                std::hint::black_box(z);
                Ok(())
            })
            .map_err(|e| format!("crypto reference: {e}"))?;
        }
        best = best.min(t.elapsed() / PER_ROUND);
    }
    Ok(CryptoFloor {
        per_flow: best,
        what: if snp {
            "P-384 verify + ES256 sign + P-256 ECDH"
        } else {
            "ES256 sign + P-256 ECDH"
        },
    })
}

fn key_pair(
    alg: &'static signature::EcdsaSigningAlgorithm,
    rng: &SystemRandom,
) -> Result<EcdsaKeyPair, String> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng)
        .map_err(|_| "crypto reference: key generation".to_owned())?;
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref())
        .map_err(|_| "crypto reference: key generation".to_owned())
}

//! ES256 EAR token signing/verification against the raw ECDSA P-256
//! primitive over the same number of bytes, in one run.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mamori_token::{
    ar4si, EarClaims, RawJson, Submod, TokenSigner, TokenVerifier, TrustVector, VerifierId,
    EAR_PROFILE,
};
use serde_json::json;

const NOW: i64 = 1_750_000_000;

/// A realistic SNP result: full vector, policy id, ~0.6 KiB of annotated claims, a bound key.
fn claims(signer: &TokenSigner) -> EarClaims {
    let tv = TrustVector {
        instance_identity: Some(ar4si::AFFIRMING),
        configuration: Some(ar4si::AFFIRMING),
        executables: Some(ar4si::AFFIRMING),
        hardware: Some(ar4si::AFFIRMING),
        runtime_opaque: Some(ar4si::AFFIRMING),
        ..TrustVector::default()
    };
    let mut cpu = Submod::from_vector(tv);
    cpu.policy_id = Some("default-snp@3".into());
    cpu.annotated_evidence = Some(RawJson::new(&json!({
        "snp": {
            "version": 3, "guest_svn": 0, "vmpl": 0, "policy": {"debug": false, "smt": true, "abi_major": 0, "abi_minor": 31},
            "measurement": "d0b2f4b1d1b5e7c6a1f0a4b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
            "host_data": "0000000000000000000000000000000000000000000000000000000000000000",
            "report_data": "5f1e0b9c7d3a2e4f6b8c0d1e2f3a4b5c6d7e8f9011223344556677889900aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabb",
            "chip_id": "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00",
            "reported_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115},
            "platform_info": {"smt_enabled": true, "tsme_enabled": false}
        }
    }))
    .unwrap());
    cpu.tee_pubkey = Some(signer.public_jwk().clone());
    EarClaims {
        profile: EAR_PROFILE.into(),
        iat: NOW,
        exp: NOW + 300,
        nbf: None,
        iss: None,
        jti: "6f1c9a4e-8d2b-4c7e-9a10-3b5d7e9f1a2c".into(),
        verifier_id: VerifierId {
            developer: "https://mamori.invalid".into(),
            build: "mamori 0.1.0".into(),
        },
        nonce: Some("q83vEjRWeJCrze8SNFZ4kA".into()),
        submods: [("cpu0".to_string(), cpu)].into(),
    }
}

fn bench(c: &mut Criterion) {
    let (signer, pkcs8) = TokenSigner::generate().unwrap();
    let claims = claims(&signer);
    let token = signer.sign(&claims).unwrap();
    let mut verifier = TokenVerifier::new();
    verifier.add_jwk(signer.public_jwk()).unwrap();

    // The raw primitive over the same signing input.
    let signing_input_len = token.rfind('.').unwrap();
    let message = token.as_bytes()[..signing_input_len].to_vec();
    let raw_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
    let rng = SystemRandom::new();
    let raw_sig = raw_key.sign(&rng, &message).unwrap();
    let raw_public = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        raw_key.public_key().as_ref().to_vec(),
    );
    let parsed_public = raw_public.parse().unwrap();

    let mut g = c.benchmark_group(format!("es256 ({} byte token)", token.len()));
    g.bench_function("sign EAR token", |b| {
        b.iter(|| signer.sign(black_box(&claims)).unwrap())
    });
    g.bench_function("raw ECDSA P-256 sign", |b| {
        b.iter(|| raw_key.sign(&rng, black_box(&message)).unwrap())
    });
    g.bench_function("verify EAR token", |b| {
        b.iter(|| verifier.verify(black_box(&token), NOW).unwrap())
    });
    g.bench_function("raw ECDSA P-256 verify (parsed key)", |b| {
        b.iter(|| {
            parsed_public
                .verify_sig(black_box(&message), raw_sig.as_ref())
                .unwrap()
        })
    });
    g.finish();

    let runtime = json!({"nonce": "q83vEjRWeJCrze8SNFZ4kA", "tee-pubkey": signer.public_jwk()});
    c.bench_function("jcs report-data input", |b| {
        b.iter(|| mamori_token::jcs::canonicalize(black_box(&runtime)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! JWE encryption to each recipient kind (DESIGN references: ≈ 62 µs P-256,
//! ≈ 20 µs RSA-2048), including parsing the recipient JWK as the service does
//! per request.
#![allow(clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mamori_jwe::{decrypt, encrypt, PrivateKey, Recipient, RsaKeySize};
use mamori_token::jwk::EcCurve;

fn bench(c: &mut Criterion) {
    let secret = [0x42u8; 32];
    let mut g = c.benchmark_group("jwe encrypt 32-byte secret");
    let keys = [
        ("P-256", PrivateKey::generate_ec(EcCurve::P256).unwrap()),
        ("P-384", PrivateKey::generate_ec(EcCurve::P384).unwrap()),
        ("P-521", PrivateKey::generate_ec(EcCurve::P521).unwrap()),
        (
            "RSA-2048",
            PrivateKey::generate_rsa(RsaKeySize::Rsa2048).unwrap(),
        ),
    ];
    for (name, key) in &keys {
        let jwk = key.public_jwk().clone();
        g.bench_function(format!("{name} (from JWK)"), |b| {
            b.iter(|| encrypt(black_box(&jwk), &secret).unwrap().to_json())
        });
        let recipient = Recipient::from_jwk(&jwk).unwrap();
        g.bench_function(format!("{name} (parsed recipient)"), |b| {
            b.iter(|| recipient.encrypt(black_box(&secret)).unwrap())
        });
    }
    // The primitives alone, for the overhead ratio in the same run.
    let peer =
        aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let peer_public = peer.compute_public_key().unwrap().as_ref().to_vec();
    g.bench_function("raw P-256 ephemeral keygen + ECDH", |b| {
        b.iter(|| {
            let eph = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
                .unwrap();
            let _ = eph.compute_public_key().unwrap();
            let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
                &aws_lc_rs::agreement::ECDH_P256,
                &peer_public,
            );
            aws_lc_rs::agreement::agree(&eph, peer, (), |z| Ok(z[0])).unwrap()
        })
    });
    let rsa =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let oaep = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(rsa.public_key()).unwrap();
    g.bench_function("raw RSA-OAEP-256 2048 encrypt", |b| {
        let mut out = vec![0u8; oaep.ciphertext_size()];
        b.iter(|| {
            oaep.encrypt(
                &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
                black_box(&secret),
                &mut out,
                None,
            )
            .unwrap()
            .len()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("jwe decrypt");
    for (name, key) in &keys {
        let json = encrypt(key.public_jwk(), &secret).unwrap().to_json();
        g.bench_function(*name, |b| {
            b.iter(|| decrypt(black_box(&json), key).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

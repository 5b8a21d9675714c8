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

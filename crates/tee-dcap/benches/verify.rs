//! Raw P-256 verification vs full TDX quote verification with collateral already
//! validated and cached, in one run. Goal: quote rate ≥ 0.8 × (raw rate / 2).

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tee_dcap::{Collateral, Quote, Verifier};

const QUOTE: &str = "tdx-quote-v4/tdx-v4-b0c06f-dcapqvl.bin";
const BAG: &str = "dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json";
const NOW: i64 = 1_750_377_600; // 2025-06-20T00:00:00Z

fn bench(c: &mut Criterion) {
    let (Some(q), Some(bag)) = (
        mamori_testvectors::read(QUOTE),
        mamori_testvectors::read(BAG),
    ) else {
        return;
    };
    let parsed = Quote::parse(&q).expect("quote");
    let mut point = [4u8; 65];
    point[1..].copy_from_slice(parsed.signature.attestation_key);
    let signed = parsed.signed.to_vec();
    let sig = parsed.signature.signature.to_vec();

    let mut g = c.benchmark_group("dcap");
    g.bench_function("raw_p256_verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&point))
                .verify(black_box(&signed), black_box(&sig))
                .expect("verifies")
        })
    });

    let verifier = Verifier::new(Collateral::from_inputs([bag.clone()]).expect("bag"));
    verifier.verify(&q, NOW).expect("warm-up verify");
    g.bench_function("tdx_quote_verify_cached_collateral", |b| {
        b.iter(|| verifier.verify(black_box(&q), NOW).expect("verifies"))
    });

    let bag = Collateral::from_inputs([bag]).expect("bag");
    g.bench_function("tdx_quote_verify_cold", |b| {
        b.iter(|| tee_dcap::verify(black_box(&q), &bag, NOW).expect("verifies"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

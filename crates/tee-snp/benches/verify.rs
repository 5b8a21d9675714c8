//! SEV-SNP verification cost against its floor, in one run:
//!
//! - `raw_ecdsa_p384`: one aws-lc-rs P-384/SHA-384 verification of the
//!   report's signed bytes with a pre-parsed VCEK key (the floor);
//! - `cached_signer_verify_claims`: what a server does per report with a
//!   validated, cached chain: `VerifiedSigner::verify` + `.claims()`;
//! - `cached_signer_verify`: the same without building the claims;
//! - `claims_only`: `SnpClaims` from an already verified report;
//! - `uncached_verify_report`: `verify_report` with the VCEK (chain
//!   validation, RSA-PSS ×2, every time);
//! - `parse_only`: `Report::parse`.
//!
//! After criterion's own output the bench prints the rates and the ratios to
//! the raw signature check (goal: cached verification ≥ 0.8× raw): from the
//! mean time per iteration over every sample criterion took (sequential, so
//! sensitive to load that changes between benchmarks), and from a run that
//! interleaves (a), (b) and (c) round by round (robust to such drift; the
//! verdict uses it).
//!
//! Needs the shared vectors (`MAMORI_VECTORS` or `../shared/vectors`); without
//! them it prints a note and measures nothing.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P384_SHA384_FIXED};
use criterion::Criterion;
use mamori_x509::{Blob, Certificate, UnixTime};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tee_snp::{verify_report, Report, TrustStore, VerifiedSigner};

const REPORT: &str = "snp-report/snp-milan-v2-trustee.bin";
const VCEK: &str = "snp-vcek/vcek-milan-trustee.der";
/// Inside the VCEK/ASK/ARK window (MANIFEST "Suggested as-of").
const AS_OF: i64 = 1_748_736_000; // 2025-06-01T00:00:00Z

/// Total time and iterations per benchmark, over every sample.
static TOTALS: Mutex<BTreeMap<&'static str, (Duration, u64)>> = Mutex::new(BTreeMap::new());
/// (b)/(a) and (c)/(a) from the interleaved run (total-time ratios).
static INTERLEAVED: Mutex<Option<(f64, f64)>> = Mutex::new(None);

fn record(name: &'static str, d: Duration, iters: u64) {
    if let Ok(mut t) = TOTALS.lock() {
        let e = t.entry(name).or_insert((Duration::ZERO, 0));
        e.0 += d;
        e.1 += iters;
    }
}

/// Runs `f` under criterion and also records its own totals.
fn bench<O>(c: &mut Criterion, name: &'static str, mut f: impl FnMut() -> O) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            let d = start.elapsed();
            record(name, d, iters);
            d
        })
    });
}

fn load() -> Option<(Vec<u8>, Certificate)> {
    let report = mamori_testvectors::read(REPORT)?;
    let der = mamori_testvectors::read(VCEK)?;
    let vcek = match mamori_x509::split_blobs(&der) {
        Ok(Some(mut b)) => match b.pop() {
            Some(Blob::Certificate(c)) => *c,
            _ => panic!("{VCEK}: not a certificate"),
        },
        _ => panic!("{VCEK}: unreadable"),
    };
    Some((report, vcek))
}

fn benches(c: &mut Criterion, report: &[u8], vcek: &Certificate) {
    let now = UnixTime(AS_OF);
    let trust = TrustStore::amd();
    let certs = vec![vcek.clone()];

    // (a) the floor: one P-384 verification, key parsed once.
    let key = ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &vcek.public_key().bytes)
        .expect("P-384 key");
    let parsed = Report::parse(report).expect("report parses");
    let signed = parsed.signed_bytes();
    let sig = parsed.signature_fixed();
    key.verify_sig(signed, &sig)
        .expect("the real signature verifies");
    bench(c, "raw_ecdsa_p384", || key.verify_sig(signed, &sig).is_ok());

    // (b) cached chain: what a server does per report.
    let signer = VerifiedSigner::validate(vcek, &[], &[], &trust, now).expect("the VCEK validates");
    signer.verify(report, now).expect("the report verifies");
    bench(c, "cached_signer_verify_claims", || {
        signer.verify(report, now).map(|v| v.claims())
    });
    bench(c, "cached_signer_verify", || {
        signer.verify(report, now).is_ok()
    });
    let verified = signer.verify(report, now).expect("verifies");
    bench(c, "claims_only", || verified.claims());

    // (c) uncached: chain validation every time.
    verify_report(report, &certs, &[], &trust, now).expect("verifies uncached");
    bench(c, "uncached_verify_report", || {
        verify_report(report, &certs, &[], &trust, now).is_ok()
    });

    // (d) parse only.
    bench(c, "parse_only", || Report::parse(report).is_ok());

    // The same (a), (b), (c) interleaved round by round, so that load from
    // other processes on a shared machine hits all three alike.
    let mut paths: Vec<Path<'_>> = vec![
        ("(a) raw", Box::new(|| key.verify_sig(signed, &sig).is_ok())),
        (
            "(b) cached+claims",
            Box::new(|| signer.verify(report, now).map(|v| v.claims()).is_ok()),
        ),
        (
            "(c) uncached",
            Box::new(|| verify_report(report, &certs, &[], &trust, now).is_ok()),
        ),
    ];
    interleaved(&mut paths);
}

/// A named code path to time.
type Path<'a> = (&'static str, Box<dyn FnMut() -> bool + 'a>);

/// Runs each path for ~20 ms per round, alternating, for 40 rounds; prints
/// each path's rate relative to the first path (total-time ratio and the
/// median of the per-round ratios).
fn interleaved(paths: &mut [Path<'_>]) {
    const ROUNDS: usize = 40;
    const ITERS: u32 = 80;
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    for _ in 0..ROUNDS {
        for (k, (_, f)) in paths.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..ITERS {
                black_box(f());
            }
            per_round[k].push(start.elapsed().as_secs_f64() / f64::from(ITERS));
        }
    }
    println!();
    println!("Interleaved ({ROUNDS} rounds × {ITERS} iterations each, alternating):");
    let base_total: f64 = per_round[0].iter().sum();
    let ratio = |k: usize| base_total / per_round[k].iter().sum::<f64>();
    if paths.len() == 3 {
        if let Ok(mut r) = INTERLEAVED.lock() {
            *r = Some((ratio(1), ratio(2)));
        }
    }
    for (k, (name, _)) in paths.iter().enumerate() {
        let total: f64 = per_round[k].iter().sum();
        let mut ratios: Vec<f64> = per_round[0]
            .iter()
            .zip(&per_round[k])
            .map(|(a, b)| a / b)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!(
            "  {name:<20} {:>9.2} µs/iter  rate ÷ (a) = {:.3} (median per round {:.3})",
            total / ROUNDS as f64 * 1e6,
            base_total / total,
            median
        );
    }
}

fn summary() {
    let Ok(t) = TOTALS.lock() else { return };
    let mean = |n: &str| {
        t.get(n)
            .filter(|(_, i)| *i > 0)
            .map(|(d, i)| d.as_secs_f64() / *i as f64)
    };
    let Some(raw) = mean("raw_ecdsa_p384") else {
        return;
    };
    println!();
    println!("SNP verification vs. the raw P-384 signature check (mean over all samples):");
    println!(
        "  {:<30} {:>12} {:>12} {:>14}",
        "benchmark", "time/iter", "per second", "rate ÷ raw"
    );
    for (name, _) in t.iter() {
        if let Some(m) = mean(name) {
            println!(
                "  {:<30} {:>9.2} µs {:>12.0} {:>13.3}×",
                name,
                m * 1e6,
                1.0 / m,
                raw / m
            );
        }
    }
    if let (Some(b), Some(cu)) = (
        mean("cached_signer_verify_claims"),
        mean("uncached_verify_report"),
    ) {
        println!(
            "  sequential: (b)/(a) = {:.3}, (c)/(a) = {:.3} (drifts with other load on the machine)",
            raw / b,
            raw / cu
        );
    }
    if let Ok(r) = INTERLEAVED.lock() {
        if let Some((b, cu)) = *r {
            println!(
                "  interleaved: (b)/(a) = {b:.3} (goal ≥ 0.8: {}), (c)/(a) = {cu:.3}",
                if b >= 0.8 { "met" } else { "NOT met" }
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    match load() {
        Some((report, vcek)) => benches(&mut c, &report, &vcek),
        None => println!(
            "note: SNP vectors not found (set MAMORI_VECTORS); the vector-based benches are skipped"
        ),
    }
    c.final_summary();
    summary();
}

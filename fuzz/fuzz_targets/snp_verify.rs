//! Verification of arbitrary bytes as SNP evidence, against the real VCEK /
//! VLEK certificates of the shared vectors (loaded once at start; without
//! the vectors the certificate list is empty and only the early checks run).
//! Two paths: uncached `verify_report` (certificate path validation included)
//! and cached `VerifiedSigner`s. Nothing may panic; nothing but the genuine
//! signed contents may verify (a mutated report that still verifies would be a
//! signature bypass: the target aborts on it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_x509::{Blob, Certificate, UnixTime};
use std::sync::OnceLock;
use tee_snp::{extract, verify_report, TrustStore, VerifiedSigner};

/// Endorsement keys (and one VCEK+ASK+ARK bundle) from the vectors.
const CERT_FILES: [&str; 7] = [
    "snp-vcek/vcek-milan-virtee.der",
    "snp-vcek/vcek-milan-trustee.der",
    "snp-vcek/vcek-milan-dstack.pem",
    "snp-vcek/vlek-milan-aws-use2-trustee.der",
    "snp-vcek/vcek-genoa-azure-trustee.pem",
    "snp-vcek/vcek-turin-virtee.der",
    "snp-vcek/az-snp-milan-hcl-2023-vcek-chain-trustee.pem",
];

/// Folders whose evidence files hold the genuine reports: the only signed
/// contents allowed to verify.
const EVIDENCE_DIRS: [&str; 3] = ["snp-report", "az-snp-vtpm", "derived/snp-report"];

/// Instants inside the vectors' windows (MANIFEST "Suggested as-of").
const TIMES: [i64; 3] = [
    1_748_736_000, // 2025-06-01: every bundle but dstack's
    1_782_864_000, // 2026-07-01: dstack
    1_683_148_939, // 2023-05-03T21:22:19Z: the 2023 Azure HCL report
];

struct State {
    certs: Vec<Certificate>,
    signers: Vec<VerifiedSigner>,
    /// Signed regions [0, 0x2A0) of the genuine reports. (ECDSA signatures
    /// are malleable: (r, n-s) verifies too, so whole-report bytes are not
    /// unique; the signed contents are what must not change.)
    genuine: Vec<Vec<u8>>,
    trust: TrustStore,
}

fn read(rel: &str) -> Option<Vec<u8>> {
    std::fs::read(mamori_testvectors::dir()?.join(rel)).ok()
}

fn state() -> &'static State {
    static S: OnceLock<State> = OnceLock::new();
    S.get_or_init(|| {
        let trust = TrustStore::amd();
        let mut certs = Vec::new();
        for f in CERT_FILES {
            if let Some(Ok(Some(blobs))) = read(f).map(|b| mamori_x509::split_blobs(&b)) {
                certs.extend(blobs.into_iter().filter_map(|b| match b {
                    Blob::Certificate(c) => Some(*c),
                    Blob::Crl(_) => None,
                }));
            }
        }
        let mut signers = Vec::new();
        for c in certs
            .iter()
            .filter(|c| tee_snp::EndorsementInfo::is_endorsement_key(c))
        {
            if let Some(s) = TIMES
                .iter()
                .find_map(|t| VerifiedSigner::validate(c, &certs, &[], &trust, UnixTime(*t)).ok())
            {
                signers.push(s);
            }
        }
        let mut genuine = Vec::new();
        for d in EVIDENCE_DIRS {
            let Some(dir) = mamori_testvectors::dir().map(|v| v.join(d)) else {
                continue;
            };
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if let Some(ev) = std::fs::read(entry.path())
                    .ok()
                    .and_then(|b| extract(&b).ok())
                {
                    genuine.push(ev.report[..tee_snp::SIGNED_LEN].to_vec());
                }
            }
        }
        if certs.is_empty() {
            eprintln!("snp_verify: vectors not found (MAMORI_VECTORS); no certificates");
        }
        State {
            certs,
            signers,
            genuine,
            trust,
        }
    })
}

fn is_genuine(st: &State, report: &[u8]) -> bool {
    let signed = report.get(..tee_snp::SIGNED_LEN);
    st.genuine.iter().any(|g| Some(g.as_slice()) == signed)
}

fn check(st: &State, report: &[u8], extra: &[Certificate]) {
    let mut certs = st.certs.clone();
    certs.extend(extra.iter().cloned());
    for t in TIMES {
        let now = UnixTime(t);
        if let Ok(v) = verify_report(report, &certs, &[], &st.trust, now) {
            let _ = v.claims().to_json();
            assert!(
                is_genuine(st, report),
                "a non-genuine report verified (uncached)"
            );
        }
        for s in &st.signers {
            if let Ok(v) = s.verify(report, now) {
                let _ = v.claims();
                assert!(
                    is_genuine(st, report),
                    "a non-genuine report verified (cached signer)"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let st = state();
    if let Ok(ev) = extract(data) {
        check(st, &ev.report, &ev.certificates);
    }
    if data.len() == tee_snp::REPORT_LEN {
        check(st, data, &[]);
    }
});

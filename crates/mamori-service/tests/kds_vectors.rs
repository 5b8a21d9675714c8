//! Real SEV-SNP reports sent without certificates: the verifier names the
//! VCEK to fetch from AMD's KDS, verifies the report to AMD's pinned roots
//! with the real VCEK as KDS would serve it (DER), refuses another chip's,
//! and afterwards knows the chip. Vectors are read in place from
//! `MAMORI_VECTORS` (or `../shared/vectors`); without them the test skips.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use mamori_service::evidence::{SnpFailure, SnpVerifier};
use mamori_verifier::UnixTime;
use serde_json::json;

fn at(rfc3339: &str) -> UnixTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    UnixTime(t.unix_timestamp())
}

/// The certificate as DER, whichever way the vector stores it.
fn der(rel: &str) -> Option<Vec<u8>> {
    let bytes = mamori_testvectors::read(rel)?;
    if bytes.starts_with(b"-----BEGIN") {
        let pem = x509_parser::pem::Pem::iter_from_buffer(&bytes)
            .next()
            .unwrap()
            .unwrap();
        return Some(pem.contents);
    }
    Some(bytes)
}

#[test]
fn real_reports_without_certificates_verify_with_the_vcek_kds_serves() {
    // (report, its VCEK, as-of inside every validity window, MANIFEST.md)
    let cases = [
        (
            "snp-report/snp-milan-v2-trustee.bin",
            "snp-vcek/vcek-milan-trustee.der",
            "2023-01-25T17:58:26Z",
        ),
        (
            "snp-report/snp-milan-v2-virtee.hex",
            "snp-vcek/vcek-milan-virtee.der",
            "2023-04-04T19:23:43Z",
        ),
        (
            "snp-report/snp-milan-v3-dstack-wrapped.bin",
            "snp-vcek/vcek-milan-dstack.pem",
            "2026-06-18T01:05:04Z",
        ),
    ];
    let mut vceks = Vec::new();
    for (_, vcek, _) in cases {
        let Some(d) = der(vcek) else {
            eprintln!("skipped: the shared vectors are not here (set MAMORI_VECTORS)");
            return;
        };
        vceks.push(d);
    }
    for (i, (report, _, as_of)) in cases.iter().enumerate() {
        let now = at(as_of);
        let bytes = mamori_testvectors::read(report).unwrap();
        // Sent as it is stored: hex text as it is, bytes as base64.
        let text = match std::str::from_utf8(&bytes) {
            Ok(hex) => hex.trim().to_owned(),
            Err(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
        };
        let ev = json!({ "report": text });
        let v = SnpVerifier::new(tee_snp::TrustStore::amd());
        let Err(SnpFailure::NoEndorsementKey { vcek, .. }) = v.verify(&ev, &[], now) else {
            panic!("{report}: expected the VCEK to be named");
        };
        let ids = vcek.unwrap();
        // The path asked for is the one of the certificate that verifies.
        let cert = mamori_x509::Certificate::from_der(&vceks[i]).unwrap();
        let info = tee_snp::EndorsementInfo::from_certificate(&cert).unwrap();
        let own = tee_snp::kds::VcekId::of_certificate(&info).unwrap();
        assert!(
            ids.iter().any(|id| id.path() == own.path()),
            "{report}: {ids:?} does not name {}",
            own.path()
        );
        // Another chip's VCEK (what a wrong KDS answer would be) fails
        // verification, rather than being taken for a missing key.
        let other = &vceks[(i + 1) % vceks.len()];
        assert!(
            matches!(
                v.verify(&ev, std::slice::from_ref(other), now),
                Err(SnpFailure::Rejected(
                    mamori_service::ServiceError::EvidenceRejected { .. }
                ))
            ),
            "{report}"
        );
        // The right one alone (AMD's ASK and ARK are pinned) verifies.
        let verified = v
            .verify(&ev, std::slice::from_ref(&vceks[i]), now)
            .unwrap_or_else(|e| panic!("{report}: {:?}", mamori_service::ServiceError::from(e)));
        assert_eq!(verified.tee, "snp");
        // Known now: the same report with nothing fetched.
        v.verify(&ev, &[], now).unwrap();
    }
}

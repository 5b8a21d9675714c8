//! Flipped bytes in quote, QE report, certificates and collateral are rejected;
//! stale collateral and expired certificates by moving `now`.

mod common;

use common::*;
use tee_dcap::{Collateral, DcapError, Item, QuoteError};

const QUOTE: &str = "tdx-quote-v4/tdx-v4-b0c06f-dcapqvl.bin";
const BAG: &str = "dcap-collateral/collateral-tdx-b0c06f-2025-06-dcapqvl.json";
const AS_OF: &str = "2025-06-20T00:00:00Z";

fn setup() -> Option<(Vec<u8>, Collateral)> {
    Some((quote_bytes(QUOTE)?, bag(&[BAG])?))
}

fn flip(q: &[u8], off: usize) -> Vec<u8> {
    let mut v = q.to_vec();
    v[off] ^= 0x01;
    v
}

#[test]
fn baseline_verifies() {
    let Some((q, bag)) = setup() else { return };
    let v = tee_dcap::verify(&q, &bag, at(AS_OF)).expect("verifies");
    assert!(v.claims.collateral.pck_crl_checked && v.claims.collateral.root_ca_crl_checked);
    let j = v.claims_json();
    assert_eq!(j["tee"], "tdx");
    assert_eq!(j["tcb_status"], "UpToDate");
    assert_eq!(j["fmspc"], "b0c06f000000");
    assert_eq!(
        j["mr_td"],
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    for k in [
        "mr_td",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "mr_seam",
        "mr_signer_seam",
        "seam_attributes",
        "td_attributes",
        "xfam",
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "tee_tcb_svn",
        "report_data",
        "fmspc",
        "tcb_status",
        "advisory_ids",
        "tcb_date",
        "qe_tcb_status",
        "debug",
    ] {
        assert!(j.get(k).is_some(), "claim {k} missing");
    }
    assert!(v.describe().contains("MRTD"));
}

#[test]
fn flipped_header_and_body_bytes_break_the_quote_signature() {
    let Some((q, bag)) = setup() else { return };
    // user data (header), MRTD, REPORTDATA (last byte of the TD10 body).
    for off in [30usize, 48 + 136, 48 + 583] {
        let r = tee_dcap::verify(&flip(&q, off), &bag, at(AS_OF));
        assert!(
            matches!(r, Err(DcapError::QuoteSignature)),
            "offset {off}: {r:?}"
        );
    }
}

#[test]
fn flipped_signature_and_key_are_rejected() {
    let Some((q, bag)) = setup() else { return };
    let sig = 48 + 584 + 4;
    for off in [sig, sig + 63, sig + 64, sig + 127] {
        let r = tee_dcap::verify(&flip(&q, off), &bag, at(AS_OF));
        assert!(
            matches!(r, Err(DcapError::QuoteSignature)),
            "offset {off}: {r:?}"
        );
    }
}

#[test]
fn flipped_qe_report_is_rejected() {
    let Some((q, bag)) = setup() else { return };
    let qe = 48 + 584 + 4 + 128 + 6;
    for off in [qe, qe + 64, qe + 320, qe + 383] {
        let r = tee_dcap::verify(&flip(&q, off), &bag, at(AS_OF));
        assert!(
            matches!(r, Err(DcapError::QeReportSignature)),
            "offset {off}: {r:?}"
        );
    }
    // QE report signature itself.
    let r = tee_dcap::verify(&flip(&q, qe + 384 + 10), &bag, at(AS_OF));
    assert!(matches!(r, Err(DcapError::QeReportSignature)), "{r:?}");
    // QE authentication data (after its u16 size) breaks the binding.
    let auth = qe + 384 + 64 + 2;
    let r = tee_dcap::verify(&flip(&q, auth), &bag, at(AS_OF));
    assert!(matches!(r, Err(DcapError::QeReportBinding)), "{r:?}");
}

#[test]
fn flipped_pck_certificate_is_rejected() {
    let Some((q, bag)) = setup() else { return };
    let p = tee_dcap::Quote::parse(&q).expect("parses");
    let pem_off = p.signature.qe.pck_chain_offset;
    let pem = p.signature.qe.pck_chain_pem;
    let text = std::str::from_utf8(pem).expect("pem");
    let end = text.find("-----END CERTIFICATE-----").expect("end");
    // A base64 character in the leaf's signature (just before the END line).
    let mut off = pem_off + end - 8;
    while !q[off].is_ascii_alphanumeric() || q[off] == b'A' {
        off -= 1;
    }
    let mut m = q.clone();
    m[off] = if m[off] == b'B' { b'C' } else { b'B' };
    let r = tee_dcap::verify(&m, &bag, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::Chain {
                item: Item::PckChain,
                ..
            }) | Err(DcapError::Quote(QuoteError::BadPckChain { .. }))
        ),
        "{r:?}"
    );
}

fn edit_collateral(
    f: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) -> Option<Collateral> {
    let raw = read(BAG)?;
    let mut v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    f(v.as_object_mut().expect("object"));
    Some(Collateral::from_inputs([serde_json::to_vec(&v).expect("json")]).expect("bag"))
}

#[test]
fn flipped_collateral_is_rejected() {
    let Some((q, _)) = setup() else { return };
    // One character of the signed tcbInfo text (a tcbDate year digit).
    let Some(bag) = edit_collateral(|o| {
        let s = o["tcb_info"].as_str().expect("str").replacen(
            "\"tcbDate\":\"2024",
            "\"tcbDate\":\"2023",
            1,
        );
        o.insert("tcb_info".into(), s.into());
    }) else {
        return;
    };
    let r = tee_dcap::verify(&q, &bag, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::CollateralSignature {
                item: Item::TcbInfo
            })
        ),
        "{r:?}"
    );

    // Insignificant whitespace is still a change of the served bytes.
    let Some(bag) = edit_collateral(|o| {
        let s = o["qe_identity"]
            .as_str()
            .expect("str")
            .replacen(",", ", ", 1);
        o.insert("qe_identity".into(), s.into());
    }) else {
        return;
    };
    let r = tee_dcap::verify(&q, &bag, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::CollateralSignature {
                item: Item::QeIdentity
            })
        ),
        "{r:?}"
    );

    // The signature itself.
    let Some(bag) = edit_collateral(|o| {
        let mut s = o["tcb_info_signature"].as_str().expect("str").to_string();
        let c = if s.ends_with('0') { "1" } else { "0" };
        s.replace_range(s.len() - 1.., c);
        o.insert("tcb_info_signature".into(), s.into());
    }) else {
        return;
    };
    let r = tee_dcap::verify(&q, &bag, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::CollateralSignature {
                item: Item::TcbInfo
            })
        ),
        "{r:?}"
    );

    // A flipped byte in the PCK CRL's signed part.
    let Some(bag) = edit_collateral(|o| {
        let mut der = hex::decode(o["pck_crl"].as_str().expect("str")).expect("hex");
        // A byte inside a revoked serial number (DER structure intact).
        der[200] ^= 0x01;
        o.insert("pck_crl".into(), hex::encode(der).into());
    }) else {
        return;
    };
    let r = tee_dcap::verify(&q, &bag, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::CrlSignature {
                item: Item::PckCrl,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn stale_collateral_names_the_item() {
    let Some((q, bag)) = setup() else { return };
    // QE identity ends 2025-07-19T10:32:27Z, TCB info 10:16:03Z, PCK CRL 10:00:35Z.
    let r = tee_dcap::verify(&q, &bag, at("2025-07-19T10:05:00Z"));
    assert!(
        matches!(
            r,
            Err(DcapError::Stale {
                item: Item::PckCrl,
                ..
            })
        ),
        "{r:?}"
    );
    let r = tee_dcap::verify(&q, &bag, at("2025-06-01T00:00:00Z"));
    assert!(
        matches!(
            r,
            Err(DcapError::Stale {
                item: Item::PckCrl,
                ..
            })
        ),
        "{r:?}"
    );
    // Without CRLs, the TCB info is the first stale item.
    let Some(bag) = edit_collateral(|o| {
        o.remove("pck_crl");
        o.remove("root_ca_crl");
    }) else {
        return;
    };
    let r = tee_dcap::verify(&q, &bag, at("2025-07-19T10:20:00Z"));
    assert!(
        matches!(
            r,
            Err(DcapError::Stale {
                item: Item::TcbInfo,
                ..
            })
        ),
        "{r:?}"
    );
    let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("TCB info") && msg.contains("stale"), "{msg}");
    // …and CRLs are required on request.
    let v = tee_dcap::Verifier::with_options(bag, tee_dcap::VerifyOptions { require_crls: true });
    assert!(matches!(
        v.verify(&q, at(AS_OF)),
        Err(DcapError::MissingCollateral(_))
    ));
}

#[test]
fn expired_certificates_are_rejected() {
    let Some((q, bag)) = setup() else { return };
    // PCK chain valid until 2032-02-06; move now past it.
    let r = tee_dcap::verify(&q, &bag, at("2033-01-01T00:00:00Z"));
    assert!(
        matches!(
            r,
            Err(DcapError::Chain {
                item: Item::PckChain,
                ..
            })
        ),
        "{r:?}"
    );
    let r = tee_dcap::verify(&q, &bag, at("2017-01-01T00:00:00Z"));
    assert!(
        matches!(
            r,
            Err(DcapError::Chain {
                item: Item::PckChain,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn missing_and_mismatched_collateral() {
    let Some((q, _)) = setup() else { return };
    let r = tee_dcap::verify(&q, &Collateral::new(), at(AS_OF));
    assert!(matches!(r, Err(DcapError::MissingCollateral(_))), "{r:?}");
    // SGX collateral for a TDX quote: no TDX TCB info for this FMSPC.
    let Some(sgx) = bag(&["dcap-collateral/collateral-sgx-00a067-2025-06-dcapqvl.json"]) else {
        return;
    };
    let r = tee_dcap::verify(&q, &sgx, at(AS_OF));
    assert!(
        matches!(
            r,
            Err(DcapError::CollateralMismatch {
                item: Item::TcbInfo,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn truncations_never_panic_and_fail() {
    let Some((q, bag)) = setup() else { return };
    let v = tee_dcap::Verifier::new(bag);
    let len = tee_dcap::Quote::parse(&q).expect("parses").raw.len();
    for n in (0..len).step_by(7) {
        assert!(v.verify(&q[..n], at(AS_OF)).is_err(), "truncated at {n}");
    }
}

#[test]
fn version_and_type_checks() {
    let Some((q, _)) = setup() else { return };
    let mut m = q.clone();
    m[0] = 6;
    assert_eq!(
        tee_dcap::Quote::parse(&m).err(),
        Some(QuoteError::UnsupportedVersion(6))
    );
    let mut m = q.clone();
    m[2] = 3;
    assert_eq!(
        tee_dcap::Quote::parse(&m).err(),
        Some(QuoteError::UnsupportedAttestationKeyType(3))
    );
    let mut m = q.clone();
    m[4] = 0x82;
    assert!(matches!(
        tee_dcap::Quote::parse(&m),
        Err(QuoteError::UnsupportedTeeType { .. })
    ));
    // Trailing non-zero byte after zero padding.
    let mut m = q.clone();
    m.extend_from_slice(&[0, 0, 1]);
    assert!(matches!(
        tee_dcap::Quote::parse(&m),
        Err(QuoteError::TrailingBytes { .. })
    ));
}

#[test]
fn open_enclave_header_is_unwrapped() {
    let Some(q) = quote_bytes("sgx-quote-v3/sgx-v3-azure-oesdk-release.json") else {
        return;
    };
    let (inner, c) = tee_dcap::unwrap_container(&q);
    assert_eq!(c, tee_dcap::Container::OpenEnclave);
    assert_eq!(inner.len(), 4584);
    assert!(tee_dcap::detect(&q));
    let i = tee_dcap::inspect(&q).expect("inspects");
    assert_eq!(i.claims.tee, "sgx");
    assert_eq!(
        i.info.pck.as_ref().map(|p| p.fmspc.hex()),
        Some("00906ed50000".to_string())
    );
}

#[test]
fn sgx_samples_parse_and_inspect() {
    for f in [
        "sgx-quote-v3/sgx-v3-azure-intelsdk-debug.json",
        "sgx-quote-v3/sgx-v3-azure-intelsdk-release.json",
        "sgx-quote-v3/sgx-v3-azure-intelsdk-prodid.json",
        "sgx-quote-v3/sgx-v3-azure-intelsdk-svn.json",
        "sgx-quote-v3/sgx-v3-azure-oesdk-debug.json",
    ] {
        let Some(q) = quote_bytes(f) else { return };
        let i = tee_dcap::inspect(&q).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(i.claims.quote_version, 3);
        assert_eq!(i.claims.debug, f.contains("debug"), "{f}");
        assert!(i.describe().contains("MRENCLAVE"));
    }
}

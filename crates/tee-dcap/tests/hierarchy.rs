//! A generated PKI that mirrors Intel's (root CA → PCK Platform CA → PCK leaf with SGX
//! extensions; root → TCB Signing), signed TDX v4 quotes and signed PCS collateral:
//! the TCB status matrix, TDX module and QE identity convergence, the bytes-0-1 rule,
//! revocation by both CRLs, and binding mismatches.

#![allow(clippy::field_reassign_with_default)]

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use rcgen::date_time_ymd;
use tee_dcap::{Collateral, DcapError, Item, TcbStatus, Verifier, VerifyOptions};
use tee_dcap_sim::pki::{
    crl, isv_tcb_level, qe_identity, raw_signer, sign, signed_body, tcb_info, tcb_level, Hierarchy,
};
use tee_dcap_sim::{FMSPC, QE_MRSIGNER};

const NOW: &str = "2025-01-15T00:00:00Z";
const ISSUE: &str = "2025-01-01T00:00:00Z";
const NEXT: &str = "2025-02-01T00:00:00Z";

fn now() -> i64 {
    tee_dcap::pcs::parse_time(NOW).expect("time")
}

/// What to vary in one scenario.
#[derive(Clone)]
struct Scenario {
    pck_comps: [u8; 16],
    pck_fmspc: [u8; 6],
    tee_tcb_svn: [u8; 16],
    mr_signer_seam: [u8; 48],
    qe_isv_svn: u16,
    qe_mrsigner: [u8; 32],
    revoke_pck: bool,
    revoke_ca: bool,
    pck_crl_next: (i32, u8, u8),
    tcb_levels: String,
}

impl Default for Scenario {
    fn default() -> Self {
        let mut tee = [0u8; 16];
        tee[0] = 3; // TDX module minor SVN
        tee[1] = 1; // TDX module major (TDX_01)
        tee[2] = 2;
        Scenario {
            pck_comps: [7; 16],
            pck_fmspc: FMSPC,
            tee_tcb_svn: tee,
            mr_signer_seam: [0; 48],
            qe_isv_svn: 8,
            qe_mrsigner: QE_MRSIGNER,
            revoke_pck: false,
            revoke_ca: false,
            pck_crl_next: (2025, 2, 1),
            tcb_levels: matrix_levels(),
        }
    }
}

fn level(comp0: u8, tdx: [u8; 16], status: &str, adv: &[&str]) -> String {
    let mut sgx = [1u8; 16];
    sgx[0] = comp0;
    let date = format!("2024-0{}-01T00:00:00Z", comp0.clamp(1, 9));
    tcb_level(sgx, 11, Some(tdx), &date, status, adv)
}

/// Levels keyed by SGX component 0: 7 UpToDate … 1 Revoked.
fn matrix_levels() -> String {
    let mut tdx = [0u8; 16];
    tdx[0] = 9; // above TEE_TCB_SVN[0]: only passes thanks to the bytes-0-1 rule
    tdx[2] = 2;
    let statuses = [
        (7, "UpToDate"),
        (6, "SWHardeningNeeded"),
        (5, "ConfigurationNeeded"),
        (4, "ConfigurationAndSWHardeningNeeded"),
        (3, "OutOfDate"),
        (2, "OutOfDateConfigurationNeeded"),
        (1, "Revoked"),
    ];
    let v: Vec<String> = statuses
        .iter()
        .map(|(c, s)| {
            let adv = format!("INTEL-SA-0000{c}");
            let advs = [adv.as_str()];
            level(*c, tdx, s, if *c == 7 { &[] } else { &advs })
        })
        .collect();
    v.join(",")
}

struct Built {
    quote: Vec<u8>,
    collateral: Vec<Vec<u8>>,
    root_der: Vec<u8>,
}

fn build(s: &Scenario) -> Built {
    let h = Hierarchy::generate(s.pck_comps, 11, s.pck_fmspc).expect("hierarchy");

    // Collateral.
    let tcb_signer = raw_signer(&h.tcb_key).expect("pkcs8");
    let module_levels = [
        isv_tcb_level(3, "2024-03-01T00:00:00Z", "UpToDate", &[]),
        isv_tcb_level(0, "2023-01-01T00:00:00Z", "OutOfDate", &["INTEL-SA-MODULE"]),
    ]
    .join(",");
    let tcb_info = tcb_info(FMSPC, ISSUE, NEXT, Some(&module_levels), &s.tcb_levels);
    let tcb_body = signed_body(&tcb_signer, "tcbInfo", &tcb_info).expect("sign");
    let qe_levels = [
        isv_tcb_level(8, "2024-03-13T00:00:00Z", "UpToDate", &[]),
        isv_tcb_level(4, "2023-01-01T00:00:00Z", "OutOfDate", &["INTEL-SA-QE"]),
    ]
    .join(",");
    let qe_id = qe_identity("TD_QE", 2, QE_MRSIGNER, ISSUE, NEXT, &qe_levels);
    let qe_body = signed_body(&tcb_signer, "enclaveIdentity", &qe_id).expect("sign");
    let (y, m, d) = s.pck_crl_next;
    let pck_crl = crl(
        &h.ca,
        &h.ca_key,
        date_time_ymd(2025, 1, 1),
        date_time_ymd(y, m, d),
        if s.revoke_pck { &[4] } else { &[99] },
    )
    .expect("crl");
    let root_crl = crl(
        &h.root,
        &h.root_key,
        date_time_ymd(2025, 1, 1),
        date_time_ymd(2026, 1, 1),
        if s.revoke_ca { &[2] } else { &[] },
    )
    .expect("crl");

    // Quote (TDX v4).
    let mut header = Vec::new();
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&0x81u32.to_le_bytes());
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(&tee_dcap::quote::INTEL_QE_VENDOR_ID);
    header.extend_from_slice(&[0; 20]);
    let mut body = vec![0u8; 584];
    body[0..16].copy_from_slice(&s.tee_tcb_svn);
    body[64..112].copy_from_slice(&s.mr_signer_seam);
    body[136..184].copy_from_slice(&[0x5a; 48]); // MRTD
    body[520..584].copy_from_slice(&[0x42; 64]); // REPORTDATA
    let att = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("att key");
    let att_pub = att.public_key().as_ref()[1..].to_vec();
    let mut signed = header.clone();
    signed.extend_from_slice(&body);
    let quote_sig = sign(&att, &signed).expect("sign");

    let auth = [0x17u8; 32];
    let mut qe = vec![0u8; 384];
    qe[48] = 0x11; // ATTRIBUTES (INIT | PROVISIONKEY)
    qe[128..160].copy_from_slice(&s.qe_mrsigner);
    qe[256..258].copy_from_slice(&2u16.to_le_bytes());
    qe[258..260].copy_from_slice(&s.qe_isv_svn.to_le_bytes());
    let mut bind = att_pub.clone();
    bind.extend_from_slice(&auth);
    qe[320..352].copy_from_slice(&tee_dcap::certs::sha256(&bind));
    let qe_sig = sign(&raw_signer(&h.pck_key).expect("pkcs8"), &qe).expect("sign");
    let pem = h.pck_chain_pem();
    let mut inner = qe.clone();
    inner.extend_from_slice(&qe_sig);
    inner.extend_from_slice(&(auth.len() as u16).to_le_bytes());
    inner.extend_from_slice(&auth);
    inner.extend_from_slice(&5u16.to_le_bytes());
    inner.extend_from_slice(&(pem.len() as u32 + 1).to_le_bytes());
    inner.extend_from_slice(pem.as_bytes());
    inner.push(0);
    let mut sig_data = quote_sig;
    sig_data.extend_from_slice(&att_pub);
    sig_data.extend_from_slice(&6u16.to_le_bytes());
    sig_data.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    sig_data.extend_from_slice(&inner);
    let mut quote = signed;
    quote.extend_from_slice(&(sig_data.len() as u32).to_le_bytes());
    quote.extend_from_slice(&sig_data);

    Built {
        quote,
        collateral: vec![
            tcb_body,
            qe_body,
            h.tcb.pem().into_bytes(),
            h.ca.der().to_vec(),
            pck_crl,
            root_crl,
        ],
        root_der: h.root.der().to_vec(),
    }
}

fn run(s: &Scenario) -> Result<tee_dcap::VerifiedQuote, DcapError> {
    let b = build(s);
    let bag = Collateral::from_inputs(&b.collateral).expect("bag");
    let v = Verifier::with_trust_anchor(bag, &b.root_der, VerifyOptions { require_crls: true })
        .expect("anchor");
    v.verify(&b.quote, now())
}

#[test]
fn status_matrix() {
    let expected = [
        (7, TcbStatus::UpToDate),
        (6, TcbStatus::SWHardeningNeeded),
        (5, TcbStatus::ConfigurationNeeded),
        (4, TcbStatus::ConfigurationAndSWHardeningNeeded),
        (3, TcbStatus::OutOfDate),
        (2, TcbStatus::OutOfDateConfigurationNeeded),
        (1, TcbStatus::Revoked),
    ];
    for (comp, status) in expected {
        let mut s = Scenario::default();
        s.pck_comps[0] = comp;
        let v = run(&s).unwrap_or_else(|e| panic!("comp {comp}: {e}"));
        assert_eq!(v.claims.tcb.tcb_status, status, "comp {comp}");
        assert_eq!(v.claims.tcb.platform_tcb_status, status);
        assert_eq!(v.claims.tcb.qe_tcb_status, TcbStatus::UpToDate);
        assert_eq!(
            v.claims.tcb.tdx_module_tcb_status,
            Some(TcbStatus::UpToDate)
        );
        assert_eq!(v.claims.tcb.tdx_module_identity.as_deref(), Some("TDX_01"));
        if comp < 7 {
            assert_eq!(
                v.claims.tcb.advisory_ids,
                vec![format!("INTEL-SA-0000{comp}")]
            );
        }
        let j = v.claims_json();
        assert_eq!(j["tcb_status"], status.as_str());
        assert_eq!(j["fmspc"], hex::encode(FMSPC));
    }
    // Higher components than any level still match the first (highest) level.
    let mut s = Scenario::default();
    s.pck_comps = [200; 16];
    assert_eq!(
        run(&s).expect("verifies").claims.tcb.tcb_status,
        TcbStatus::UpToDate
    );
    // Below every level: rejected as such.
    let mut s = Scenario::default();
    s.pck_comps[0] = 0;
    assert!(matches!(
        run(&s),
        Err(DcapError::NoMatchingTcbLevel {
            what: "platform TCB info"
        })
    ));
    // One other component below: falls through to no level.
    let mut s = Scenario::default();
    s.pck_comps[9] = 0;
    assert!(matches!(run(&s), Err(DcapError::NoMatchingTcbLevel { .. })));
}

#[test]
fn tdx_module_identity_converges_and_bytes_0_1_rule() {
    // Module minor SVN 2 < 3: module level OutOfDate makes UpToDate → OutOfDate and
    // ConfigurationNeeded → OutOfDateConfigurationNeeded.
    let mut s = Scenario::default();
    s.tee_tcb_svn[0] = 2;
    let v = run(&s).expect("verifies");
    assert_eq!(
        v.claims.tcb.tdx_module_tcb_status,
        Some(TcbStatus::OutOfDate)
    );
    assert_eq!(v.claims.tcb.tcb_status, TcbStatus::OutOfDate);
    assert!(v
        .claims
        .tcb
        .advisory_ids
        .contains(&"INTEL-SA-MODULE".to_string()));
    s.pck_comps[0] = 5;
    assert_eq!(
        run(&s).expect("verifies").claims.tcb.tcb_status,
        TcbStatus::OutOfDateConfigurationNeeded
    );

    // TDX_02 is not listed.
    let mut s = Scenario::default();
    s.tee_tcb_svn[1] = 2;
    assert!(
        matches!(run(&s), Err(DcapError::TdxModuleMismatch { .. })),
        "{:?}",
        run(&s).err()
    );
    // MRSIGNER_SEAM differs from the identity.
    let mut s = Scenario::default();
    s.mr_signer_seam = [1; 48];
    assert!(matches!(
        run(&s),
        Err(DcapError::TdxModuleMismatch {
            field: "MRSIGNER_SEAM",
            ..
        })
    ));
    // Major version 0: bytes 0-1 are compared, and TEE_TCB_SVN[0] = 3 < 9.
    let mut s = Scenario::default();
    s.tee_tcb_svn[1] = 0;
    assert!(matches!(run(&s), Err(DcapError::NoMatchingTcbLevel { .. })));
    // Byte 2 is always compared.
    let mut s = Scenario::default();
    s.tee_tcb_svn[2] = 1;
    assert!(matches!(run(&s), Err(DcapError::NoMatchingTcbLevel { .. })));
}

#[test]
fn qe_identity_status_and_mismatch() {
    let mut s = Scenario::default();
    s.qe_isv_svn = 5;
    let v = run(&s).expect("verifies");
    assert_eq!(v.claims.tcb.qe_tcb_status, TcbStatus::OutOfDate);
    assert_eq!(v.claims.tcb.tcb_status, TcbStatus::OutOfDate);
    s.qe_isv_svn = 3;
    assert!(matches!(
        run(&s),
        Err(DcapError::NoMatchingTcbLevel {
            what: "QE identity"
        })
    ));
    let mut s = Scenario::default();
    s.qe_mrsigner = [0xee; 32];
    assert!(matches!(
        run(&s),
        Err(DcapError::QeIdentityMismatch {
            field: "MRSIGNER",
            ..
        })
    ));
}

#[test]
fn revocation_by_both_crls() {
    let mut s = Scenario::default();
    s.revoke_pck = true;
    match run(&s) {
        Err(DcapError::Revoked {
            crl: Item::PckCrl,
            serial,
            ..
        }) => assert_eq!(serial, "04"),
        other => panic!("expected PCK revoked, got {other:?}"),
    }
    let mut s = Scenario::default();
    s.revoke_ca = true;
    assert!(matches!(
        run(&s),
        Err(DcapError::Revoked {
            crl: Item::RootCaCrl,
            ..
        })
    ));
    // A stale PCK CRL is rejected, naming it.
    let mut s = Scenario::default();
    s.pck_crl_next = (2025, 1, 10);
    assert!(matches!(
        run(&s),
        Err(DcapError::Stale {
            item: Item::PckCrl,
            ..
        })
    ));
}

#[test]
fn bindings_and_anchor() {
    // FMSPC of the PCK differs from the TCB info's.
    let mut s = Scenario::default();
    s.pck_fmspc = [9; 6];
    assert!(matches!(
        run(&s),
        Err(DcapError::CollateralMismatch {
            item: Item::TcbInfo,
            ..
        })
    ));
    // The generated root is not Intel's: the default verifier rejects the chain.
    let b = build(&Scenario::default());
    let bag = Collateral::from_inputs(&b.collateral).expect("bag");
    let r = tee_dcap::verify(&b.quote, &bag, now());
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
    // Moving now past the collateral's nextUpdate.
    let v =
        Verifier::with_trust_anchor(bag, &b.root_der, VerifyOptions::default()).expect("anchor");
    let late = tee_dcap::pcs::parse_time("2025-03-01T00:00:00Z").expect("time");
    assert!(matches!(
        v.verify(&b.quote, late),
        Err(DcapError::Stale { .. })
    ));
    assert!(v.verify(&b.quote, now()).is_ok());
}

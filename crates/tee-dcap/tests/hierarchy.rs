//! A generated PKI that mirrors Intel's (root CA → PCK Platform CA → PCK leaf with SGX
//! extensions; root → TCB Signing), signed TDX v4 quotes and signed PCS collateral:
//! the TCB status matrix, TDX module and QE identity convergence, the bytes-0-1 rule,
//! revocation by both CRLs, and binding mismatches.

#![allow(clippy::field_reassign_with_default)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CustomExtension, DistinguishedName, DnType, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use tee_dcap::{Collateral, DcapError, Item, TcbStatus, Verifier, VerifyOptions};

const NOW: &str = "2025-01-15T00:00:00Z";
const FMSPC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const QE_MRSIGNER: [u8; 32] = [0xdc; 32];

fn now() -> i64 {
    tee_dcap::pcs::parse_time(NOW).expect("time")
}

// ---------- tiny DER writer for the SGX extension ----------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

const SGX_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];

fn oid(sub: &[u8]) -> Vec<u8> {
    let mut o = SGX_OID.to_vec();
    o.extend_from_slice(sub);
    tlv(0x06, &o)
}

fn int(v: u32) -> Vec<u8> {
    let mut b = v.to_be_bytes().to_vec();
    while b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
        b.remove(0);
    }
    if b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

fn entry(sub: &[u8], value: Vec<u8>) -> Vec<u8> {
    let mut c = oid(sub);
    c.extend(value);
    tlv(0x30, &c)
}

fn sgx_extension(comps: [u8; 16], pcesvn: u16, fmspc: [u8; 6]) -> Vec<u8> {
    let mut tcb = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        tcb.extend(entry(&[2, i as u8 + 1], int(u32::from(*c))));
    }
    tcb.extend(entry(&[2, 17], int(u32::from(pcesvn))));
    tcb.extend(entry(&[2, 18], tlv(0x04, &comps)));
    let mut all = Vec::new();
    all.extend(entry(&[1], tlv(0x04, &[0xab; 16])));
    all.extend(entry(&[2], tlv(0x30, &tcb)));
    all.extend(entry(&[3], tlv(0x04, &[0, 0])));
    all.extend(entry(&[4], tlv(0x04, &fmspc)));
    all.extend(entry(&[5], tlv(0x0a, &[0])));
    tlv(0x30, &all)
}

// ---------- PKI ----------

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, "Test Corporation");
    d
}

fn params(cn: &str, ca: bool, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2035, 1, 1);
    p.serial_number = Some(SerialNumber::from(serial));
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    p
}

fn raw_signer(k: &KeyPair) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &k.serialize_der()).expect("pkcs8")
}

fn sign(k: &EcdsaKeyPair, msg: &[u8]) -> Vec<u8> {
    k.sign(&SystemRandom::new(), msg)
        .expect("sign")
        .as_ref()
        .to_vec()
}

fn crl(
    issuer: &rcgen::Certificate,
    key: &KeyPair,
    revoked: &[u64],
    next_update: (i32, u8, u8),
) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update: date_time_ymd(2025, 1, 1),
        next_update: date_time_ymd(next_update.0, next_update.1, next_update.2),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: date_time_ymd(2024, 6, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer, key)
    .expect("crl")
    .der()
    .to_vec()
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
    let sgx: Vec<String> = (0..16)
        .map(|i| format!("{{\"svn\":{}}}", if i == 0 { comp0 } else { 1 }))
        .collect();
    let tdxc: Vec<String> = tdx.iter().map(|s| format!("{{\"svn\":{s}}}")).collect();
    let adv: Vec<String> = adv.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "{{\"tcb\":{{\"sgxtcbcomponents\":[{}],\"pcesvn\":11,\"tdxtcbcomponents\":[{}]}},\"tcbDate\":\"2024-0{}-01T00:00:00Z\",\"tcbStatus\":\"{status}\",\"advisoryIDs\":[{}]}}",
        sgx.join(","),
        tdxc.join(","),
        comp0.clamp(1, 9),
        adv.join(",")
    )
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
    let alg = &PKCS_ECDSA_P256_SHA256;
    let root_key = KeyPair::generate_for(alg).expect("key");
    let root = params("Intel SGX Root CA", true, 1)
        .self_signed(&root_key)
        .expect("root");
    let ca_key = KeyPair::generate_for(alg).expect("key");
    let ca = params("Intel SGX PCK Platform CA", true, 2)
        .signed_by(&ca_key, &root, &root_key)
        .expect("ca");
    let tcb_key = KeyPair::generate_for(alg).expect("key");
    let tcb = params("Intel SGX TCB Signing", false, 3)
        .signed_by(&tcb_key, &root, &root_key)
        .expect("tcb");
    let pck_key = KeyPair::generate_for(alg).expect("key");
    let mut pp = params("Intel SGX PCK Certificate", false, 4);
    pp.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 2, 840, 113741, 1, 13, 1],
        sgx_extension(s.pck_comps, 11, s.pck_fmspc),
    )];
    let pck = pp.signed_by(&pck_key, &ca, &ca_key).expect("pck");

    // Collateral.
    let tcb_signer = raw_signer(&tcb_key);
    let tcb_info = format!(
        "{{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\",\"fmspc\":\"{}\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,\"tdxModule\":{{\"mrsigner\":\"{}\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"}},\"tdxModuleIdentities\":[{{\"id\":\"TDX_01\",\"mrsigner\":\"{}\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[{{\"tcb\":{{\"isvsvn\":3}},\"tcbDate\":\"2024-03-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}},{{\"tcb\":{{\"isvsvn\":0}},\"tcbDate\":\"2023-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-MODULE\"]}}]}}],\"tcbLevels\":[{}]}}",
        hex::encode_upper(FMSPC),
        "0".repeat(96),
        "0".repeat(96),
        s.tcb_levels
    );
    let tcb_body = format!(
        "{{\"tcbInfo\":{tcb_info},\"signature\":\"{}\"}}",
        hex::encode(sign(&tcb_signer, tcb_info.as_bytes()))
    );
    let qe_id = format!(
        "{{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\",\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"{}\",\"isvprodid\":2,\"tcbLevels\":[{{\"tcb\":{{\"isvsvn\":8}},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"}},{{\"tcb\":{{\"isvsvn\":4}},\"tcbDate\":\"2023-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-QE\"]}}]}}",
        hex::encode_upper(QE_MRSIGNER)
    );
    let qe_body = format!(
        "{{\"enclaveIdentity\":{qe_id},\"signature\":\"{}\"}}",
        hex::encode(sign(&tcb_signer, qe_id.as_bytes()))
    );
    let pck_crl = crl(
        &ca,
        &ca_key,
        if s.revoke_pck { &[4] } else { &[99] },
        s.pck_crl_next,
    );
    let root_crl = crl(
        &root,
        &root_key,
        if s.revoke_ca { &[2] } else { &[] },
        (2026, 1, 1),
    );

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
    let quote_sig = sign(&att, &signed);

    let auth = [0x17u8; 32];
    let mut qe = vec![0u8; 384];
    qe[48] = 0x11; // ATTRIBUTES (INIT | PROVISIONKEY)
    qe[128..160].copy_from_slice(&s.qe_mrsigner);
    qe[256..258].copy_from_slice(&2u16.to_le_bytes());
    qe[258..260].copy_from_slice(&s.qe_isv_svn.to_le_bytes());
    let mut bind = att_pub.clone();
    bind.extend_from_slice(&auth);
    qe[320..352].copy_from_slice(&tee_dcap::certs::sha256(&bind));
    let qe_sig = sign(&raw_signer(&pck_key), &qe);
    let mut pem = pck.pem();
    pem.push_str(&ca.pem());
    pem.push_str(&root.pem());
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
            tcb_body.into_bytes(),
            qe_body.into_bytes(),
            tcb.pem().into_bytes(),
            ca.der().to_vec(),
            pck_crl,
            root_crl,
        ],
        root_der: root.der().to_vec(),
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

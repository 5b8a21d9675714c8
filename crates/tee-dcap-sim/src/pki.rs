//! Building blocks of the simulated hierarchy and its collateral, shared by
//! [`crate::DcapSim`] and tests that need finer control (revoked serials,
//! several TCB levels, chosen QE or TDX module identities).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams,
    CertificateRevocationListParams, CustomExtension, DistinguishedName, DnType, IsCa, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use time::OffsetDateTime;

use crate::{err, SimError};

// ---------- a tiny DER writer for the SGX extension ----------

/// Encodes one DER TLV (definite length, contents up to 64 KiB).
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
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

/// DER body of the SGX extension's OID, 1.2.840.113741.1.13.1.
pub const SGX_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];

/// The SGX extension's OID as arcs, for [`CustomExtension::from_oid_content`].
pub const SGX_EXTENSION_ARCS: [u64; 7] = [1, 2, 840, 113741, 1, 13, 1];

/// Encodes the OID `SGX_OID.sub` (each `sub` arc below 128).
pub fn oid(sub: &[u8]) -> Vec<u8> {
    let mut o = SGX_OID.to_vec();
    o.extend_from_slice(sub);
    tlv(0x06, &o)
}

/// Encodes a non-negative DER INTEGER.
pub fn int(v: u32) -> Vec<u8> {
    let mut b = v.to_be_bytes().to_vec();
    while b.len() > 1 && b.first() == Some(&0) && b.get(1).is_some_and(|x| x & 0x80 == 0) {
        b.remove(0);
    }
    if b.first().is_some_and(|x| x & 0x80 != 0) {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

/// Encodes an SGX extension entry: SEQUENCE { OID `SGX_OID.sub`, `value` }.
pub fn entry(sub: &[u8], value: Vec<u8>) -> Vec<u8> {
    let mut c = oid(sub);
    c.extend(value);
    tlv(0x30, &c)
}

/// The SGX extension (1.2.840.113741.1.13.1): PPID, TCB (16 components,
/// PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type.
pub fn sgx_extension(comps: [u8; 16], pcesvn: u16, fmspc: [u8; 6]) -> Vec<u8> {
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

/// A distinguished name: the given CN, O = "Mamori DCAP Simulation".
pub fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, "Mamori DCAP Simulation");
    d
}

/// Certificate parameters valid 2020–2045: a CA (cert and CRL signing) or an end entity.
pub fn params(cn: &str, ca: bool, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2045, 1, 1);
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

/// The same P-256 key as a signer of raw (r ‖ s) ECDSA signatures.
pub fn raw_signer(k: &KeyPair) -> Result<EcdsaKeyPair, SimError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &k.serialize_der()).map_err(err)
}

/// Signs `msg` with ECDSA P-256/SHA-256: 64 bytes, r ‖ s.
pub fn sign(k: &EcdsaKeyPair, msg: &[u8]) -> Result<Vec<u8>, SimError> {
    Ok(k.sign(&SystemRandom::new(), msg)
        .map_err(err)?
        .as_ref()
        .to_vec())
}

/// A CRL by `issuer` for `this_update`..`next_update` revoking `revoked` serials (as of `this_update`).
pub fn crl(
    issuer: &Certificate,
    key: &KeyPair,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: &[u64],
) -> Result<Vec<u8>, SimError> {
    Ok(CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer, key)
    .map_err(err)?
    .der()
    .to_vec())
}

/// The generated hierarchy: root (serial 1) → PCK Platform CA (2) → PCK (4), root → TCB Signing (3).
pub struct Hierarchy {
    pub root: Certificate,
    pub root_key: KeyPair,
    pub ca: Certificate,
    pub ca_key: KeyPair,
    pub tcb: Certificate,
    pub tcb_key: KeyPair,
    pub pck: Certificate,
    pub pck_key: KeyPair,
}

impl Hierarchy {
    /// Generates fresh keys and certificates; the PCK's SGX extension carries the given TCB and FMSPC.
    pub fn generate(comps: [u8; 16], pcesvn: u16, fmspc: [u8; 6]) -> Result<Self, SimError> {
        let alg = &PKCS_ECDSA_P256_SHA256;
        let root_key = KeyPair::generate_for(alg).map_err(err)?;
        let root = params("Intel SGX Root CA", true, 1)
            .self_signed(&root_key)
            .map_err(err)?;
        let ca_key = KeyPair::generate_for(alg).map_err(err)?;
        let ca = params("Intel SGX PCK Platform CA", true, 2)
            .signed_by(&ca_key, &root, &root_key)
            .map_err(err)?;
        let tcb_key = KeyPair::generate_for(alg).map_err(err)?;
        let tcb = params("Intel SGX TCB Signing", false, 3)
            .signed_by(&tcb_key, &root, &root_key)
            .map_err(err)?;
        let pck_key = KeyPair::generate_for(alg).map_err(err)?;
        let mut pp = params("Intel SGX PCK Certificate", false, 4);
        pp.custom_extensions = vec![CustomExtension::from_oid_content(
            &SGX_EXTENSION_ARCS,
            sgx_extension(comps, pcesvn, fmspc),
        )];
        let pck = pp.signed_by(&pck_key, &ca, &ca_key).map_err(err)?;
        Ok(Hierarchy {
            root,
            root_key,
            ca,
            ca_key,
            tcb,
            tcb_key,
            pck,
            pck_key,
        })
    }

    /// The PCK certificate chain as PEM: PCK, PCK Platform CA, root.
    pub fn pck_chain_pem(&self) -> String {
        let mut pem = self.pck.pem();
        pem.push_str(&self.ca.pem());
        pem.push_str(&self.root.pem());
        pem
    }
}

// ---------- PCS collateral JSON ----------

/// A signed PCS body: `{"<name>":<inner>,"signature":"<hex r ‖ s over inner>"}`.
pub fn signed_body(key: &EcdsaKeyPair, name: &str, inner: &str) -> Result<Vec<u8>, SimError> {
    let sig = hex::encode(sign(key, inner.as_bytes())?);
    Ok(format!("{{\"{name}\":{inner},\"signature\":\"{sig}\"}}").into_bytes())
}

/// A platform TCB level; `tdx` adds `tdxtcbcomponents`; `advisoryIDs` is always present.
pub fn tcb_level(
    sgx: [u8; 16],
    pcesvn: u16,
    tdx: Option<[u8; 16]>,
    date: &str,
    status: &str,
    adv: &[&str],
) -> String {
    let svns = |c: &[u8; 16]| {
        let v: Vec<String> = c.iter().map(|s| format!("{{\"svn\":{s}}}")).collect();
        v.join(",")
    };
    let tdx_part = tdx
        .map(|t| format!(",\"tdxtcbcomponents\":[{}]", svns(&t)))
        .unwrap_or_default();
    let adv: Vec<String> = adv.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "{{\"tcb\":{{\"sgxtcbcomponents\":[{}],\"pcesvn\":{pcesvn}{tdx_part}}},\"tcbDate\":\"{date}\",\"tcbStatus\":\"{status}\",\"advisoryIDs\":[{}]}}",
        svns(&sgx),
        adv.join(",")
    )
}

/// An ISVSVN TCB level (QE identity, TDX module identity); `advisoryIDs` only when not empty.
pub fn isv_tcb_level(isvsvn: u16, date: &str, status: &str, adv: &[&str]) -> String {
    let adv_part = if adv.is_empty() {
        String::new()
    } else {
        let a: Vec<String> = adv.iter().map(|a| format!("\"{a}\"")).collect();
        format!(",\"advisoryIDs\":[{}]", a.join(","))
    };
    format!(
        "{{\"tcb\":{{\"isvsvn\":{isvsvn}}},\"tcbDate\":\"{date}\",\"tcbStatus\":\"{status}\"{adv_part}}}"
    )
}

/// TCB info v3: `TDX` (module TDX_01, zero MRSIGNER, with `module_levels`) when given them, else `SGX`; levels comma-joined.
pub fn tcb_info(
    fmspc: [u8; 6],
    issue: &str,
    next: &str,
    module_levels: Option<&str>,
    levels: &str,
) -> String {
    let fmspc = hex::encode_upper(fmspc);
    let (id, module) = match module_levels {
        Some(m) => {
            let zeros = "0".repeat(96);
            let attrs =
                "\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"";
            (
                "TDX",
                format!(",\"tdxModule\":{{\"mrsigner\":\"{zeros}\",{attrs}}},\"tdxModuleIdentities\":[{{\"id\":\"TDX_01\",\"mrsigner\":\"{zeros}\",{attrs},\"tcbLevels\":[{m}]}}]"),
            )
        }
        None => ("SGX", String::new()),
    };
    format!(
        "{{\"id\":\"{id}\",\"version\":3,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",\"fmspc\":\"{fmspc}\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17{module},\"tcbLevels\":[{levels}]}}"
    )
}

/// A QE identity v2 (`TD_QE` or `QE`) for the given product and MRSIGNER; levels comma-joined.
pub fn qe_identity(
    id: &str,
    prod_id: u16,
    mrsigner: [u8; 32],
    issue: &str,
    next: &str,
    levels: &str,
) -> String {
    format!(
        "{{\"id\":\"{id}\",\"version\":2,\"issueDate\":\"{issue}\",\"nextUpdate\":\"{next}\",\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"{}\",\"isvprodid\":{prod_id},\"tcbLevels\":[{levels}]}}",
        hex::encode_upper(mrsigner)
    )
}

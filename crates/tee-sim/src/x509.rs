//! Certificates and CRLs of the development chain, signed with aws-lc-rs.

use crate::der::*;
use crate::SimError;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RSA_PSS_SHA384};

const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_MGF1: &str = "1.2.840.113549.1.1.8";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_CN: &str = "2.5.4.3";
const OID_C: &str = "2.5.4.6";
const OID_L: &str = "2.5.4.7";
const OID_ST: &str = "2.5.4.8";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_KEY_USAGE: &str = "2.5.29.15";

/// The organisation of every simulated certificate: never mistaken for AMD.
pub const SIM_ORGANIZATION: &str = "Mamori development chain (simulated, not AMD)";

/// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48: AMD's parameters.
pub fn rsa_pss_sha384_alg() -> Vec<u8> {
    let sha384 = seq(&[oid(OID_SHA384), null()]);
    seq(&[
        oid(OID_RSASSA_PSS),
        seq(&[
            explicit(0, &sha384),
            explicit(1, &seq(&[oid(OID_MGF1), sha384.clone()])),
            explicit(2, &uint64(48)),
        ]),
    ])
}

/// AMD's distinguished-name layout with our organisation and `cn`.
pub fn amd_style_name(cn: &str) -> Vec<u8> {
    let rdn = |o: &str, v: Vec<u8>| set(&[seq(&[oid(o), v])]);
    seq(&[
        rdn(OID_OU, utf8("Engineering")),
        rdn(OID_C, printable("US")),
        rdn(OID_L, utf8("Santa Clara")),
        rdn(OID_ST, utf8("CA")),
        rdn(OID_O, utf8(SIM_ORGANIZATION)),
        rdn(OID_CN, utf8(cn)),
    ])
}

/// One extension: (OID, critical, extnValue contents).
pub type Ext = (String, bool, Vec<u8>);

pub fn ca_extensions() -> Vec<Ext> {
    vec![
        (OID_BASIC_CONSTRAINTS.into(), true, seq(&[boolean(true)])),
        // keyCertSign (5) and cRLSign (6): bits 0x06 with 1 unused bit.
        (OID_KEY_USAGE.into(), true, tlv(0x03, &[0x01, 0x06])),
    ]
}

/// The signer of a certificate or CRL.
pub enum Signer<'a> {
    Rsa(&'a RsaKeyPair),
}

impl Signer<'_> {
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SimError> {
        match self {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PSS_SHA384, &SystemRandom::new(), tbs, &mut sig)
                    .map_err(|_| SimError::Crypto("RSA-PSS signing"))?;
                Ok(sig)
            }
        }
    }
}

/// The SubjectPublicKeyInfo of an RSA key.
pub fn rsa_spki(k: &RsaKeyPair) -> Result<Vec<u8>, SimError> {
    let der: PublicKeyX509Der<'_> = k
        .public_key()
        .as_der()
        .map_err(|_| SimError::Crypto("RSA public key encoding"))?;
    Ok(der.as_ref().to_vec())
}

/// The SubjectPublicKeyInfo of a P-384 key.
pub fn ec_spki(k: &EcdsaKeyPair) -> Result<Vec<u8>, SimError> {
    let der: PublicKeyX509Der<'_> = k
        .public_key()
        .as_der()
        .map_err(|_| SimError::Crypto("EC public key encoding"))?;
    Ok(der.as_ref().to_vec())
}

/// What goes into one certificate.
pub struct CertSpec<'a> {
    pub serial: u64,
    pub issuer_cn: &'a str,
    pub subject_cn: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    pub spki: Vec<u8>,
    pub extensions: Vec<Ext>,
}

pub fn certificate(spec: &CertSpec<'_>, signer: &Signer<'_>) -> Result<Vec<u8>, SimError> {
    let alg = rsa_pss_sha384_alg();
    let exts: Vec<Vec<u8>> = spec
        .extensions
        .iter()
        .map(|(o, critical, value)| {
            let mut parts = vec![oid(o)];
            if *critical {
                parts.push(boolean(true));
            }
            parts.push(octet_string(value));
            seq(&parts)
        })
        .collect();
    let mut tbs_parts = vec![
        explicit(0, &uint64(2)),
        uint64(spec.serial),
        alg.clone(),
        amd_style_name(spec.issuer_cn),
        seq(&[time(spec.not_before), time(spec.not_after)]),
        amd_style_name(spec.subject_cn),
        spec.spki.clone(),
    ];
    if !exts.is_empty() {
        tbs_parts.push(explicit(3, &seq(&exts)));
    }
    let tbs = seq(&tbs_parts);
    let sig = signer.sign(&tbs)?;
    Ok(seq(&[tbs, alg, bit_string(&sig)]))
}

/// A v2 CRL issued by `issuer_cn` revoking `serials`.
pub fn crl(
    issuer_cn: &str,
    this_update: i64,
    next_update: Option<i64>,
    serials: &[u64],
    signer: &Signer<'_>,
) -> Result<Vec<u8>, SimError> {
    let alg = rsa_pss_sha384_alg();
    let mut parts = vec![
        uint64(1),
        alg.clone(),
        amd_style_name(issuer_cn),
        time(this_update),
    ];
    if let Some(next) = next_update {
        parts.push(time(next));
    }
    if !serials.is_empty() {
        let entries: Vec<Vec<u8>> = serials
            .iter()
            .map(|s| seq(&[uint64(*s), time(this_update)]))
            .collect();
        parts.push(seq(&entries));
    }
    let tbs = seq(&parts);
    let sig = signer.sign(&tbs)?;
    Ok(seq(&[tbs, alg, bit_string(&sig)]))
}

/// PEM armour for a DER object.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

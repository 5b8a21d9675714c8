//! Certificates and CRLs of the Intel SGX PKI: parsing once into owned, cached form,
//! ECDSA P-256 path validation to the pinned Intel SGX Root CA at a given time, and
//! CRL revocation checks. Every Intel SGX certificate and CRL is ECDSA P-256/SHA-256.

use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
use base64::Engine as _;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{DcapError, Item};

/// DER of the Intel SGX Root CA (CN=Intel SGX Root CA, O=Intel Corporation, valid
/// 2018-05-21..2049-12-31, SHA-256 fingerprint
/// 44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3).
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = &[
    0x30, 0x82, 0x02, 0x8f, 0x30, 0x82, 0x02, 0x34, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x14, 0x22,
    0x65, 0x0c, 0xd6, 0x5a, 0x9d, 0x34, 0x89, 0xf3, 0x83, 0xb4, 0x95, 0x52, 0xbf, 0x50, 0x1b, 0x39,
    0x27, 0x06, 0xac, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30,
    0x68, 0x31, 0x1a, 0x30, 0x18, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x11, 0x49, 0x6e, 0x74, 0x65,
    0x6c, 0x20, 0x53, 0x47, 0x58, 0x20, 0x52, 0x6f, 0x6f, 0x74, 0x20, 0x43, 0x41, 0x31, 0x1a, 0x30,
    0x18, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x11, 0x49, 0x6e, 0x74, 0x65, 0x6c, 0x20, 0x43, 0x6f,
    0x72, 0x70, 0x6f, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x31, 0x14, 0x30, 0x12, 0x06, 0x03, 0x55,
    0x04, 0x07, 0x0c, 0x0b, 0x53, 0x61, 0x6e, 0x74, 0x61, 0x20, 0x43, 0x6c, 0x61, 0x72, 0x61, 0x31,
    0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x08, 0x0c, 0x02, 0x43, 0x41, 0x31, 0x0b, 0x30, 0x09,
    0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55, 0x53, 0x30, 0x1e, 0x17, 0x0d, 0x31, 0x38, 0x30,
    0x35, 0x32, 0x31, 0x31, 0x30, 0x34, 0x35, 0x31, 0x30, 0x5a, 0x17, 0x0d, 0x34, 0x39, 0x31, 0x32,
    0x33, 0x31, 0x32, 0x33, 0x35, 0x39, 0x35, 0x39, 0x5a, 0x30, 0x68, 0x31, 0x1a, 0x30, 0x18, 0x06,
    0x03, 0x55, 0x04, 0x03, 0x0c, 0x11, 0x49, 0x6e, 0x74, 0x65, 0x6c, 0x20, 0x53, 0x47, 0x58, 0x20,
    0x52, 0x6f, 0x6f, 0x74, 0x20, 0x43, 0x41, 0x31, 0x1a, 0x30, 0x18, 0x06, 0x03, 0x55, 0x04, 0x0a,
    0x0c, 0x11, 0x49, 0x6e, 0x74, 0x65, 0x6c, 0x20, 0x43, 0x6f, 0x72, 0x70, 0x6f, 0x72, 0x61, 0x74,
    0x69, 0x6f, 0x6e, 0x31, 0x14, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04, 0x07, 0x0c, 0x0b, 0x53, 0x61,
    0x6e, 0x74, 0x61, 0x20, 0x43, 0x6c, 0x61, 0x72, 0x61, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55,
    0x04, 0x08, 0x0c, 0x02, 0x43, 0x41, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13,
    0x02, 0x55, 0x53, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x0b, 0xa9,
    0xc4, 0xc0, 0xc0, 0xc8, 0x61, 0x93, 0xa3, 0xfe, 0x23, 0xd6, 0xb0, 0x2c, 0xda, 0x10, 0xa8, 0xbb,
    0xd4, 0xe8, 0x8e, 0x48, 0xb4, 0x45, 0x85, 0x61, 0xa3, 0x6e, 0x70, 0x55, 0x25, 0xf5, 0x67, 0x91,
    0x8e, 0x2e, 0xdc, 0x88, 0xe4, 0x0d, 0x86, 0x0b, 0xd0, 0xcc, 0x4e, 0xe2, 0x6a, 0xac, 0xc9, 0x88,
    0xe5, 0x05, 0xa9, 0x53, 0x55, 0x8c, 0x45, 0x3f, 0x6b, 0x09, 0x04, 0xae, 0x73, 0x94, 0xa3, 0x81,
    0xbb, 0x30, 0x81, 0xb8, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23, 0x04, 0x18, 0x30, 0x16, 0x80,
    0x14, 0x22, 0x65, 0x0c, 0xd6, 0x5a, 0x9d, 0x34, 0x89, 0xf3, 0x83, 0xb4, 0x95, 0x52, 0xbf, 0x50,
    0x1b, 0x39, 0x27, 0x06, 0xac, 0x30, 0x52, 0x06, 0x03, 0x55, 0x1d, 0x1f, 0x04, 0x4b, 0x30, 0x49,
    0x30, 0x47, 0xa0, 0x45, 0xa0, 0x43, 0x86, 0x41, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a, 0x2f, 0x2f,
    0x63, 0x65, 0x72, 0x74, 0x69, 0x66, 0x69, 0x63, 0x61, 0x74, 0x65, 0x73, 0x2e, 0x74, 0x72, 0x75,
    0x73, 0x74, 0x65, 0x64, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x73, 0x2e, 0x69, 0x6e, 0x74,
    0x65, 0x6c, 0x2e, 0x63, 0x6f, 0x6d, 0x2f, 0x49, 0x6e, 0x74, 0x65, 0x6c, 0x53, 0x47, 0x58, 0x52,
    0x6f, 0x6f, 0x74, 0x43, 0x41, 0x2e, 0x64, 0x65, 0x72, 0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e,
    0x04, 0x16, 0x04, 0x14, 0x22, 0x65, 0x0c, 0xd6, 0x5a, 0x9d, 0x34, 0x89, 0xf3, 0x83, 0xb4, 0x95,
    0x52, 0xbf, 0x50, 0x1b, 0x39, 0x27, 0x06, 0xac, 0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01,
    0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x01, 0x06, 0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01,
    0x01, 0xff, 0x04, 0x08, 0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x01, 0x30, 0x0a, 0x06, 0x08,
    0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03, 0x49, 0x00, 0x30, 0x46, 0x02, 0x21, 0x00,
    0xe5, 0xbf, 0xe5, 0x09, 0x11, 0xf9, 0x2f, 0x42, 0x89, 0x20, 0xdc, 0x36, 0x8a, 0x30, 0x2e, 0xe3,
    0xd1, 0x2e, 0xc5, 0x86, 0x7f, 0xf6, 0x22, 0xec, 0x64, 0x97, 0xf7, 0x80, 0x60, 0xc1, 0x3c, 0x20,
    0x02, 0x21, 0x00, 0xe0, 0x9d, 0x25, 0xac, 0x7a, 0x0c, 0xb3, 0xe5, 0xe8, 0xe6, 0x8f, 0xec, 0x5f,
    0xa3, 0xbd, 0x41, 0x6c, 0x47, 0x44, 0x0b, 0xd9, 0x50, 0x63, 0x9d, 0x45, 0x0e, 0xdc, 0xbe, 0xa4,
    0x57, 0x6a, 0xa2,
];

/// SHA-256 fingerprint of [`INTEL_SGX_ROOT_CA_DER`].
pub const INTEL_SGX_ROOT_CA_SHA256: [u8; 32] = [
    0x44, 0xa0, 0x19, 0x6b, 0x2b, 0x99, 0xf8, 0x89, 0xb8, 0xe1, 0x49, 0xe9, 0x5b, 0x80, 0x7a, 0x35,
    0x0e, 0x74, 0x24, 0x96, 0x43, 0x99, 0xe8, 0x85, 0xa7, 0xcb, 0xb8, 0xcc, 0xfa, 0xb6, 0x74, 0xd3,
];

const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_SGX_EXTENSIONS: &str = "1.2.840.113741.1.13.1";

/// An X.509 certificate parsed once; keeps what verification needs, owned.
pub struct Cert {
    /// DER bytes as received.
    pub der: Vec<u8>,
    /// Subject (RFC 4514-like string).
    pub subject: String,
    /// Subject common name.
    pub subject_cn: String,
    /// Issuer (RFC 4514-like string).
    pub issuer: String,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    /// Serial number, big-endian, without leading zero bytes.
    pub serial: Vec<u8>,
    /// notBefore (unix seconds).
    pub not_before: i64,
    /// notAfter (unix seconds).
    pub not_after: i64,
    tbs: Vec<u8>,
    sig: Vec<u8>,
    sig_alg_ecdsa_sha256: bool,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint: how many intermediate CAs may
    /// follow this one.
    pub path_len: Option<u32>,
    /// keyUsage allows this key to sign certificates (so does an absent
    /// keyUsage, RFC 5280 4.2.1.3).
    pub may_sign_certs: bool,
    /// keyUsage allows this key to sign CRLs (or is absent).
    pub may_sign_crls: bool,
    /// DER value of the SGX extensions extension, when present (PCK certificates).
    pub sgx_extension: Option<Vec<u8>>,
    /// Public key for certificate / CRL signatures (ASN.1 ECDSA).
    key_asn1: Option<ParsedPublicKey>,
    /// Public key for raw r||s signatures (QE report, PCS collateral).
    key_fixed: Option<ParsedPublicKey>,
    /// SHA-256 of the DER.
    pub fp: [u8; 32],
}

impl core::fmt::Debug for Cert {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cert")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &hex::encode(&self.serial))
            .finish()
    }
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let n = b.iter().take_while(|x| **x == 0).count();
    let s = b.get(n..).unwrap_or(&[]);
    if s.is_empty() {
        vec![0]
    } else {
        s.to_vec()
    }
}

impl Cert {
    /// Parses one DER certificate; the whole input must be the certificate.
    pub fn from_der(der: &[u8]) -> Result<Arc<Cert>, String> {
        let (rest, c) =
            X509Certificate::from_der(der).map_err(|e| format!("bad certificate DER: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after certificate", rest.len()));
        }
        // The outer algorithm is not signed: any other encoding of it would
        // make one signed certificate into many distinct ones.
        if !mamori_x509::signature_algorithms_match(der, false) {
            return Err(
                "the certificate's outer signature algorithm differs from the signed one".into(),
            );
        }
        let spki = c.public_key();
        let point = spki.subject_public_key.data.as_ref();
        let key_asn1 = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point).ok();
        let key_fixed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok();
        let sgx_extension = c
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == OID_SGX_EXTENSIONS)
            .map(|e| e.value.to_vec());
        let constraints = c
            .basic_constraints()
            .map_err(|e| format!("{}: basicConstraints: {e}", c.subject()))?;
        let is_ca = constraints.as_ref().is_some_and(|b| b.value.ca);
        let path_len = constraints.and_then(|b| b.value.path_len_constraint);
        let usage = c
            .key_usage()
            .map_err(|e| format!("{}: keyUsage: {e}", c.subject()))?;
        let may_sign_certs = usage.as_ref().is_none_or(|u| u.value.key_cert_sign());
        let may_sign_crls = usage.as_ref().is_none_or(|u| u.value.crl_sign());
        let subject_cn = c
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or("")
            .to_string();
        Ok(Arc::new(Cert {
            der: der.to_vec(),
            subject: c.subject().to_string(),
            subject_cn,
            issuer: c.issuer().to_string(),
            subject_raw: c.subject().as_raw().to_vec(),
            issuer_raw: c.issuer().as_raw().to_vec(),
            serial: strip_zeros(c.raw_serial()),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            tbs: c.tbs_certificate.as_ref().to_vec(),
            sig: c.signature_value.data.to_vec(),
            sig_alg_ecdsa_sha256: c.signature_algorithm.algorithm.to_id_string()
                == OID_ECDSA_SHA256,
            is_ca,
            path_len,
            may_sign_certs,
            may_sign_crls,
            sgx_extension,
            key_asn1,
            key_fixed,
            fp: sha256(der),
        }))
    }

    /// Verifies a raw r||s ECDSA P-256/SHA-256 signature with this certificate's key.
    pub fn verify_fixed(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key_fixed
            .as_ref()
            .is_some_and(|k| k.verify_sig(msg, sig).is_ok())
    }

    fn verify_asn1(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key_asn1
            .as_ref()
            .is_some_and(|k| k.verify_sig(msg, sig).is_ok())
    }

    /// `true` when `self` names `issuer` as issuer and its signature verifies with `issuer`'s key.
    pub fn is_signed_by(&self, issuer: &Cert) -> bool {
        self.issuer_raw == issuer.subject_raw
            && self.sig_alg_ecdsa_sha256
            && issuer.verify_asn1(&self.tbs, &self.sig)
    }

    /// Uncompressed public key point.
    pub fn public_key_point(&self) -> &[u8] {
        self.key_fixed.as_ref().map_or(&[], |k| k.as_ref())
    }
}

/// SHA-256 helper.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The pinned Intel SGX Root CA, parsed.
pub fn intel_root() -> Arc<Cert> {
    static ROOT: std::sync::OnceLock<Option<Arc<Cert>>> = std::sync::OnceLock::new();
    let r = ROOT.get_or_init(|| Cert::from_der(INTEL_SGX_ROOT_CA_DER).ok());
    match r {
        Some(c) => c.clone(),
        // Unreachable in practice: the constant is a valid certificate (unit-tested).
        None => Arc::new(Cert {
            der: Vec::new(),
            subject: String::new(),
            subject_cn: String::new(),
            issuer: String::new(),
            subject_raw: vec![0xff],
            issuer_raw: vec![0xff],
            serial: Vec::new(),
            not_before: i64::MAX,
            not_after: i64::MIN,
            tbs: Vec::new(),
            sig: Vec::new(),
            sig_alg_ecdsa_sha256: false,
            is_ca: false,
            path_len: None,
            may_sign_certs: false,
            may_sign_crls: false,
            sgx_extension: None,
            key_asn1: None,
            key_fixed: None,
            fp: [0; 32],
        }),
    }
}

/// A CRL parsed once.
#[derive(Debug)]
pub struct Crl {
    /// DER as received.
    pub der: Vec<u8>,
    /// Issuer name.
    pub issuer: String,
    issuer_raw: Vec<u8>,
    /// thisUpdate (unix seconds).
    pub this_update: i64,
    /// nextUpdate (unix seconds).
    pub next_update: Option<i64>,
    /// Revoked serials (big-endian, no leading zeros).
    pub revoked: Vec<Vec<u8>>,
    tbs: Vec<u8>,
    sig: Vec<u8>,
    sig_alg_ecdsa_sha256: bool,
    /// SHA-256 of the DER.
    pub fp: [u8; 32],
}

impl Crl {
    /// Parses one DER CRL; the whole input must be the CRL.
    pub fn from_der(der: &[u8]) -> Result<Crl, String> {
        let (rest, c) =
            CertificateRevocationList::from_der(der).map_err(|e| format!("bad CRL DER: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after CRL", rest.len()));
        }
        if !mamori_x509::signature_algorithms_match(der, true) {
            return Err("the CRL's outer signature algorithm differs from the signed one".into());
        }
        Ok(Crl {
            der: der.to_vec(),
            issuer: c.issuer().to_string(),
            issuer_raw: c.issuer().as_raw().to_vec(),
            this_update: c.last_update().timestamp(),
            next_update: c.next_update().map(|t| t.timestamp()),
            revoked: c
                .iter_revoked_certificates()
                .map(|r| strip_zeros(r.raw_serial()))
                .collect(),
            tbs: c.tbs_cert_list.as_ref().to_vec(),
            sig: c.signature_value.data.to_vec(),
            sig_alg_ecdsa_sha256: c.signature_algorithm.algorithm.to_id_string()
                == OID_ECDSA_SHA256,
            fp: sha256(der),
        })
    }

    /// `true` when the CRL is issued by `cert` (name match).
    pub fn issued_by_name(&self, cert: &Cert) -> bool {
        self.issuer_raw == cert.subject_raw
    }

    /// Checks issuer, signature and time window.
    pub fn validate(
        &self,
        issuer: &Cert,
        item: Item,
        now: i64,
        sigs: &dyn SigMemo,
    ) -> Result<(), DcapError> {
        if !issuer.may_sign_crls {
            return Err(DcapError::Chain {
                item,
                reason: format!(
                    "{} may not sign CRLs (its keyUsage lacks cRLSign)",
                    issuer.subject
                ),
            });
        }
        if !self.issued_by_name(issuer)
            || !sigs.check(self.fp, issuer.fp, &|| {
                self.sig_alg_ecdsa_sha256 && issuer.verify_asn1(&self.tbs, &self.sig)
            })
        {
            return Err(DcapError::CrlSignature {
                item,
                issuer: issuer.subject.clone(),
            });
        }
        let next = self.next_update.unwrap_or(i64::MIN);
        if now < self.this_update || now > next {
            return Err(DcapError::Stale {
                item,
                now: fmt_time(now),
                not_before: fmt_time(self.this_update),
                not_after: self
                    .next_update
                    .map_or_else(|| "(no nextUpdate)".into(), fmt_time),
            });
        }
        Ok(())
    }

    /// `true` when `cert`'s serial is listed.
    pub fn revokes(&self, cert: &Cert) -> bool {
        self.revoked.contains(&cert.serial)
    }
}

/// Memo of signature checks: `(object fingerprint, signer fingerprint) -> verified`.
/// Only successes need remembering; a failing check is recomputed (and fails again).
pub trait SigMemo {
    /// Returns the memoised result or runs `verify` and remembers a success.
    fn check(&self, object: [u8; 32], signer: [u8; 32], verify: &dyn Fn() -> bool) -> bool;
}

/// No memo: every check runs.
pub struct NoMemo;

impl SigMemo for NoMemo {
    fn check(&self, _: [u8; 32], _: [u8; 32], verify: &dyn Fn() -> bool) -> bool {
        verify()
    }
}

/// Formats unix seconds as RFC 3339 (UTC).
pub fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{t}"))
}

/// Validates `chain` (leaf first; the root may be included, in which case it must be
/// the pinned root byte for byte) up to `root` at time `now`.
pub fn validate_chain(
    chain: &[Arc<Cert>],
    root: &Cert,
    item: Item,
    now: i64,
    sigs: &dyn SigMemo,
) -> Result<(), DcapError> {
    let err = |reason: String| DcapError::Chain { item, reason };
    let mut certs: Vec<&Arc<Cert>> = chain.iter().collect();
    if let Some(last) = certs.last() {
        if last.subject_raw == root.subject_raw && last.issuer_raw == root.subject_raw {
            if last.der != root.der {
                return Err(err(format!(
                    "root certificate in the chain ({}) is not the pinned Intel SGX Root CA",
                    last.subject
                )));
            }
            certs.pop();
        }
    }
    if certs.is_empty() {
        return Err(err("no certificate below the root".into()));
    }
    if certs.len() > 3 {
        return Err(err(format!(
            "chain too long ({} certificates)",
            certs.len()
        )));
    }
    for c in certs
        .iter()
        .map(|c| c.as_ref())
        .chain(core::iter::once(root))
    {
        if now < c.not_before || now > c.not_after {
            return Err(err(format!(
                "certificate {} not valid at {} (valid {}..{})",
                c.subject,
                fmt_time(now),
                fmt_time(c.not_before),
                fmt_time(c.not_after)
            )));
        }
    }
    for (i, c) in certs.iter().enumerate() {
        let issuer: &Cert = match certs.get(i.saturating_add(1)) {
            Some(n) => n,
            None => root,
        };
        if !issuer.is_ca {
            return Err(err(format!("issuer {} is not a CA", issuer.subject)));
        }
        if !issuer.may_sign_certs {
            return Err(err(format!(
                "issuer {} may not sign certificates (its keyUsage lacks keyCertSign)",
                issuer.subject
            )));
        }
        // The intermediate CAs below this issuer: every certificate before
        // it but the leaf.
        if let Some(max) = issuer.path_len {
            if i > max as usize {
                return Err(err(format!(
                    "issuer {} allows {max} intermediate CAs below it (pathLenConstraint), the chain has {i}",
                    issuer.subject
                )));
            }
        }
        if c.issuer_raw != issuer.subject_raw
            || !sigs.check(c.fp, issuer.fp, &|| c.is_signed_by(issuer))
        {
            return Err(err(format!(
                "signature of {} does not verify with {}",
                c.subject, issuer.subject
            )));
        }
    }
    Ok(())
}

/// Splits PEM text into DER certificates (`CERTIFICATE` blocks); other text between
/// blocks is ignored. Errors on a malformed block.
pub fn pem_blocks(text: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    let text = core::str::from_utf8(text).map_err(|_| "PEM is not UTF-8".to_string())?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(&begin) {
        let after = rest.get(b.saturating_add(begin.len())..).unwrap_or("");
        let e = after
            .find(&end)
            .ok_or_else(|| format!("unterminated {label} PEM block"))?;
        let body: String = after
            .get(..e)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("bad base64 in {label} PEM block: {e}"))?;
        out.push(der);
        rest = after.get(e.saturating_add(end.len())..).unwrap_or("");
    }
    Ok(out)
}

/// Parses a PEM certificate chain.
pub fn parse_pem_chain(text: &[u8]) -> Result<Vec<Arc<Cert>>, String> {
    let blocks = pem_blocks(text, "CERTIFICATE")?;
    if blocks.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    blocks.iter().map(|d| Cert::from_der(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_root_parses_and_matches_its_fingerprint() {
        let r = intel_root();
        assert_eq!(r.subject_cn, "Intel SGX Root CA");
        assert_eq!(sha256(INTEL_SGX_ROOT_CA_DER), INTEL_SGX_ROOT_CA_SHA256);
        assert_eq!(r.fp, INTEL_SGX_ROOT_CA_SHA256);
        assert!(r.is_ca && r.is_signed_by(&r));
        assert_eq!(fmt_time(r.not_after), "2049-12-31T23:59:59Z");
    }

    /// A DER TLV: its tag, header length and total length.
    fn tlv(b: &[u8]) -> (u8, usize, usize) {
        let (len, hdr) = match b[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let k = usize::from(n & 0x7f);
                let len = b[2..2 + k]
                    .iter()
                    .fold(0, |a, x| (a << 8) | usize::from(*x));
                (len, 2 + k)
            }
        };
        (b[0], hdr, hdr + len)
    }

    fn der_len(n: usize) -> Vec<u8> {
        match n {
            0..=0x7f => vec![n as u8],
            0x80..=0xff => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    /// The signed object `der` with `extra` appended inside its outer
    /// (unsigned) signatureAlgorithm.
    fn with_outer_algorithm_parameters(der: &[u8], extra: &[u8]) -> Vec<u8> {
        let (_, hdr, _) = tlv(der);
        let body = &der[hdr..];
        let (_, _, tbs_len) = tlv(body);
        let (alg_tag, alg_hdr, alg_len) = tlv(&body[tbs_len..]);
        let alg = &body[tbs_len..tbs_len + alg_len];
        let mut new_alg = vec![alg_tag];
        new_alg.extend(der_len(alg_len - alg_hdr + extra.len()));
        new_alg.extend_from_slice(&alg[alg_hdr..]);
        new_alg.extend_from_slice(extra);
        let mut inner = body[..tbs_len].to_vec();
        inner.extend(new_alg);
        inner.extend_from_slice(&body[tbs_len + alg_len..]);
        let mut out = vec![0x30];
        out.extend(der_len(inner.len()));
        out.extend(inner);
        out
    }

    #[test]
    fn a_certificate_is_refused_in_any_encoding_but_the_signed_one() {
        // Same signed body and signature, other outer algorithm parameters:
        // without the check, each would be a new certificate (and a new
        // entry in every cache keyed by its fingerprint).
        for extra in [&[0x05, 0x00][..], &[0x04, 0x02, 0xAA, 0xBB][..]] {
            let malleated = with_outer_algorithm_parameters(INTEL_SGX_ROOT_CA_DER, extra);
            let e = Cert::from_der(&malleated).err().unwrap_or_default();
            assert!(e.contains("outer signature algorithm"), "{e}");
        }
        assert!(
            Cert::from_der(&with_outer_algorithm_parameters(INTEL_SGX_ROOT_CA_DER, &[])).is_ok()
        );
    }

    #[test]
    fn root_alone_is_not_a_chain() {
        let r = intel_root();
        let e = validate_chain(
            std::slice::from_ref(&r),
            &r,
            Item::PckChain,
            1_700_000_000,
            &NoMemo,
        );
        assert!(matches!(e, Err(DcapError::Chain { .. })));
    }

    #[test]
    fn pem_blocks_reject_bad_base64_and_unterminated() {
        assert!(pem_blocks(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
            "CERTIFICATE"
        )
        .is_err());
        assert!(pem_blocks(b"-----BEGIN CERTIFICATE-----\nAAAA", "CERTIFICATE").is_err());
        assert_eq!(pem_blocks(b"no pem here", "CERTIFICATE"), Ok(vec![]));
        assert!(parse_pem_chain(b"").is_err());
        assert!(Cert::from_der(&[0x30, 0x00]).is_err());
        let mut trailing = INTEL_SGX_ROOT_CA_DER.to_vec();
        trailing.push(0);
        assert!(Cert::from_der(&trailing).is_err());
    }

    mod constraints {
        use super::super::*;
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

        const NOW: i64 = 1_893_456_000; // 2030-01-01

        struct Ca {
            cert: rcgen::Certificate,
            key: KeyPair,
        }

        fn params(
            cn: &str,
            ca: Option<BasicConstraints>,
            usages: &[KeyUsagePurpose],
        ) -> CertificateParams {
            // The simulator's certificate, with the constraints under test.
            let mut p = tee_dcap_sim::pki::params(cn, ca.is_some(), 1);
            p.is_ca = ca.map_or(IsCa::ExplicitNoCa, IsCa::Ca);
            p.key_usages = usages.to_vec();
            p
        }

        const CA: &[KeyUsagePurpose] = &[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];

        fn issue(p: CertificateParams, by: Option<&Ca>) -> Ca {
            let key = KeyPair::generate().expect("key");
            let cert = match by {
                Some(i) => p.signed_by(&key, &i.cert, &i.key),
                None => p.self_signed(&key),
            }
            .expect("certificate");
            Ca { cert, key }
        }

        fn parsed(c: &Ca) -> Arc<Cert> {
            Cert::from_der(c.cert.der()).expect("parses")
        }

        fn chain(certs: &[&Ca], root: &Ca) -> Result<(), DcapError> {
            let chain: Vec<Arc<Cert>> = certs.iter().map(|c| parsed(c)).collect();
            validate_chain(&chain, &parsed(root), Item::PckChain, NOW, &NoMemo)
        }

        #[test]
        fn key_usage_and_path_length_constraints_hold_on_a_chain() {
            let root = issue(
                params("Root", Some(BasicConstraints::Constrained(1)), CA),
                None,
            );
            let platform = issue(
                params("Platform", Some(BasicConstraints::Constrained(0)), CA),
                Some(&root),
            );
            let leaf = |by: &Ca| {
                issue(
                    params("PCK", None, &[KeyUsagePurpose::DigitalSignature]),
                    Some(by),
                )
            };
            // Intel's shape: root (pathLen 1) -> platform CA (pathLen 0) -> PCK.
            chain(&[&leaf(&platform), &platform], &root).expect("Intel's shape");
            // A CA under the platform CA exceeds its pathLen 0.
            let sub = issue(
                params("Sub", Some(BasicConstraints::Unconstrained), CA),
                Some(&platform),
            );
            let e = chain(&[&leaf(&sub), &sub, &platform], &root).expect_err("pathLen 0 exceeded");
            assert!(e.to_string().contains("pathLenConstraint"), "{e}");
            // An intermediate whose keyUsage lacks keyCertSign signs nothing.
            let signer = issue(
                params(
                    "Signer",
                    Some(BasicConstraints::Unconstrained),
                    &[KeyUsagePurpose::DigitalSignature],
                ),
                Some(&root),
            );
            let e = chain(&[&leaf(&signer), &signer], &root).expect_err("no keyCertSign");
            assert!(e.to_string().contains("keyCertSign"), "{e}");
        }

        #[test]
        fn a_crl_is_refused_from_a_key_that_may_not_sign_crls() {
            // One key, two certificates: rcgen signs the CRL as the one that
            // allows it; validation is asked with the one that does not.
            let root = issue(
                params("Root", Some(BasicConstraints::Unconstrained), CA),
                None,
            );
            let key = KeyPair::generate().expect("key");
            let as_ca = |usages: &[KeyUsagePurpose]| {
                params("Platform", Some(BasicConstraints::Unconstrained), usages)
                    .signed_by(&key, &root.cert, &root.key)
                    .expect("certificate")
            };
            let may = as_ca(CA);
            let may_not =
                Cert::from_der(as_ca(&[KeyUsagePurpose::KeyCertSign]).der()).expect("parses");
            let crl = rcgen::CertificateRevocationListParams {
                this_update: rcgen::date_time_ymd(2029, 12, 1),
                next_update: rcgen::date_time_ymd(2030, 2, 1),
                crl_number: rcgen::SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: Vec::new(),
                key_identifier_method: rcgen::KeyIdMethod::Sha256,
            }
            .signed_by(&may, &key)
            .expect("CRL");
            let crl = Crl::from_der(crl.der()).expect("parses");
            let ok = Cert::from_der(may.der()).expect("parses");
            crl.validate(&ok, Item::PckCrl, NOW, &NoMemo)
                .expect("a CRL signer");
            let e = crl
                .validate(&may_not, Item::PckCrl, NOW, &NoMemo)
                .expect_err("no cRLSign");
            assert!(e.to_string().contains("cRLSign"), "{e}");
        }
    }
}

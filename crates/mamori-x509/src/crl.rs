use crate::{CertError, Certificate, CrlError, SignatureScheme, UnixTime};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// A certificate revocation list, parsed once. Revoked serials are kept as
/// their encoded content octets so they compare exactly with certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
    tbs: Vec<u8>,
    issuer: Vec<u8>,
    issuer_text: String,
    this_update: UnixTime,
    next_update: Option<UnixTime>,
    scheme: SignatureScheme,
    signature: Vec<u8>,
    revoked: Vec<Vec<u8>>,
}

impl Crl {
    pub fn from_der(der: &[u8]) -> Result<Self, CrlError> {
        let (rest, c) = CertificateRevocationList::from_der(der)
            .map_err(|e| CrlError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CrlError::Malformed(format!(
                "{} trailing byte(s)",
                rest.len()
            )));
        }
        if c.signature_algorithm != c.tbs_cert_list.signature {
            return Err(CrlError::Signature(CertError::AlgorithmMismatch));
        }
        match crate::der::algorithm_identifiers(der, true) {
            Some((outer, inner)) if outer == inner => {}
            _ => return Err(CrlError::Signature(CertError::AlgorithmMismatch)),
        }
        let scheme = SignatureScheme::from_algorithm_identifier(&c.signature_algorithm)?;
        Ok(Self {
            der: der.to_vec(),
            tbs: c.tbs_cert_list.as_ref().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            issuer_text: c.issuer().to_string(),
            this_update: UnixTime(c.last_update().timestamp()),
            next_update: c.next_update().map(|t| UnixTime(t.timestamp())),
            scheme,
            signature: c.signature_value.data.to_vec(),
            revoked: c
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }
    pub fn issuer_raw(&self) -> &[u8] {
        &self.issuer
    }
    pub fn issuer(&self) -> &str {
        &self.issuer_text
    }
    pub fn this_update(&self) -> UnixTime {
        self.this_update
    }
    pub fn next_update(&self) -> Option<UnixTime> {
        self.next_update
    }
    pub fn revoked_serials(&self) -> &[Vec<u8>] {
        &self.revoked
    }
    pub fn is_revoked(&self, cert: &Certificate) -> bool {
        self.revoked.iter().any(|s| s.as_slice() == cert.serial())
    }
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        issuer
            .public_key()
            .verify(self.scheme, &self.tbs, &self.signature)
    }
}

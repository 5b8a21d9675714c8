use mamori_x509::{split_blobs, Blob, CertError, Certificate, Crl};
use thiserror::Error;

/// A vendor document that is not a certificate or CRL (Intel TCB info, QE
/// identity, NVIDIA RIM, combined collateral JSON…), kept as the exact bytes
/// received so that signatures can be checked over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Where it came from (file name), for error messages.
    pub origin: String,
    pub bytes: Vec<u8>,
}

/// Why a collateral item was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CollateralError {
    #[error("{origin}: {source}")]
    Certificate { origin: String, source: CertError },
    #[error("{origin}: not a certificate, CRL or known collateral document")]
    Unrecognised { origin: String },
}

/// Everything supplied next to the evidence: certificates, CRLs, documents.
#[derive(Clone, Debug, Default)]
pub struct Collateral {
    pub certificates: Vec<Certificate>,
    pub crls: Vec<Crl>,
    pub documents: Vec<Document>,
}

impl Collateral {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one item recognised by content: PEM (certificates and CRLs in any
    /// mix), DER certificate(s) or CRL, or a JSON/XML document.
    pub fn add(&mut self, origin: &str, bytes: &[u8]) -> Result<(), CollateralError> {
        // JSON and XML documents first: they may embed PEM text (combined
        // collateral JSON carries certificate chains) without being PEM.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{') | Some(b'[') | Some(b'<')) {
            self.documents.push(Document {
                origin: origin.to_owned(),
                bytes: bytes.to_vec(),
            });
            return Ok(());
        }
        match split_blobs(bytes) {
            Ok(Some(blobs)) if !blobs.is_empty() => {
                for b in blobs {
                    match b {
                        Blob::Certificate(c) => self.add_certificate(*c),
                        Blob::Crl(c) => self.add_crl(*c),
                    }
                }
                Ok(())
            }
            Ok(_) => Err(CollateralError::Unrecognised {
                origin: origin.to_owned(),
            }),
            Err(source) => Err(CollateralError::Certificate {
                origin: origin.to_owned(),
                source,
            }),
        }
    }

    /// Adds a certificate unless an identical one is already present.
    pub fn add_certificate(&mut self, c: Certificate) {
        if !self.certificates.iter().any(|x| x.der() == c.der()) {
            self.certificates.push(c);
        }
    }

    pub fn add_crl(&mut self, c: Crl) {
        if !self.crls.iter().any(|x| x.der() == c.der()) {
            self.crls.push(c);
        }
    }
}

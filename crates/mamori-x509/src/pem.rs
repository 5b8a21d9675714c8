//! Certificates and CRLs as users hold them: PEM (any number of blocks, any
//! order) or DER (one CRL, or one or more concatenated certificates).

use crate::{CertError, Certificate, Crl};
use x509_parser::pem::Pem;

/// One object found in a certificate/CRL file.
#[derive(Clone, Debug)]
pub enum Blob {
    Certificate(Box<Certificate>),
    Crl(Box<Crl>),
}

/// Splits `bytes` into certificates and CRLs. Returns `Ok(None)` when the
/// bytes are neither PEM nor DER X.509 (so that callers can try other
/// collateral formats); a PEM or DER object that is recognised but broken is
/// an error naming the block.
pub fn split_blobs(bytes: &[u8]) -> Result<Option<Vec<Blob>>, CertError> {
    if let Some(start) = find(bytes, b"-----BEGIN ") {
        let mut out = Vec::new();
        for (i, pem) in Pem::iter_from_buffer(bytes.get(start..).unwrap_or_default()).enumerate() {
            let pem = pem.map_err(|e| CertError::Malformed(format!("PEM block {i}: {e}")))?;
            match pem.label.as_str() {
                "CERTIFICATE" | "TRUSTED CERTIFICATE" => out.push(Blob::Certificate(Box::new(
                    Certificate::from_der(&pem.contents)
                        .map_err(|e| CertError::Malformed(format!("PEM block {i}: {e}")))?,
                ))),
                "X509 CRL" => out
                    .push(Blob::Crl(Box::new(Crl::from_der(&pem.contents).map_err(
                        |e| CertError::Malformed(format!("PEM block {i}: {e}")),
                    )?))),
                // Keys and other blocks are not collateral; skip them.
                _ => {}
            }
        }
        return Ok(Some(out));
    }
    // DER: an ASN.1 SEQUENCE with a definite long-form or short-form length.
    if bytes.first() != Some(&0x30) {
        return Ok(None);
    }
    if let Ok(crl) = Crl::from_der(bytes) {
        return Ok(Some(vec![Blob::Crl(Box::new(crl))]));
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match Certificate::from_der_prefix(rest) {
            Ok((c, r)) => {
                out.push(Blob::Certificate(Box::new(c)));
                rest = r;
            }
            Err(e) if out.is_empty() => {
                // Not a certificate at all: let other recognisers try.
                return match e {
                    CertError::Malformed(_) => Ok(None),
                    other => Err(other),
                };
            }
            Err(e) => {
                return Err(CertError::Malformed(format!(
                    "DER object {} in the file: {e}",
                    out.len()
                )))
            }
        }
    }
    Ok(Some(out))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

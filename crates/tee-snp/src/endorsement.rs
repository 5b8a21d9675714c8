//! AMD's X.509 extensions on VCEK and VLEK certificates (KDS specification):
//! the product name, the TCB security patch levels the key was derived for,
//! and the chip's hwID (VCEK) or the cloud provider's name (VLEK).

use crate::types::{Product, SigningKey};
use mamori_x509::Certificate;
use thiserror::Error;

const OID_STRUCT_VERSION: &str = "1.3.6.1.4.1.3704.1.1";
const OID_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HWID: &str = "1.3.6.1.4.1.3704.1.4";
const OID_CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";

/// Why a certificate is not a usable VCEK/VLEK.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EndorsementError {
    #[error("certificate {subject} is not a VCEK or VLEK (no AMD hwID or csp_id extension)")]
    NotAnEndorsementKey { subject: String },
    #[error("VCEK/VLEK extension {name} ({oid}) is missing")]
    Missing {
        name: &'static str,
        oid: &'static str,
    },
    #[error("VCEK/VLEK extension {name} ({oid}) is malformed")]
    Malformed {
        name: &'static str,
        oid: &'static str,
    },
    #[error("unknown AMD product name {0:?} in the VCEK/VLEK")]
    UnknownProduct(String),
    #[error("VCEK/VLEK key is not ECDSA P-384")]
    KeyType,
}

/// The facts an endorsement key certificate states about the report signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndorsementInfo {
    pub kind: SigningKey,
    pub product: Product,
    pub product_name: String,
    pub bl_spl: u8,
    pub tee_spl: u8,
    pub snp_spl: u8,
    pub ucode_spl: u8,
    pub fmc_spl: Option<u8>,
    /// VCEK: the chip id (64 bytes; 8 on Turin).
    pub hwid: Option<Vec<u8>>,
    /// VLEK: the cloud service provider.
    pub csp_id: Option<String>,
}

/// Reads a DER value with one tag and a short-form length, all bytes used.
fn der_primitive(value: &[u8], tag: u8) -> Option<&[u8]> {
    let (&t, rest) = value.split_first()?;
    let (&len, body) = rest.split_first()?;
    (t == tag && len < 0x80 && usize::from(len) == body.len()).then_some(body)
}

fn spl(cert: &Certificate, name: &'static str, oid: &'static str) -> Result<u8, EndorsementError> {
    let e = cert
        .extension(oid)
        .ok_or(EndorsementError::Missing { name, oid })?;
    // DER INTEGER 0..=255: one byte, or two with a leading zero for 128..=255.
    match der_primitive(&e.value, 0x02) {
        Some([v]) if *v < 0x80 => Ok(*v),
        Some([0, v]) if *v >= 0x80 => Ok(*v),
        _ => Err(EndorsementError::Malformed { name, oid }),
    }
}

fn ia5(
    cert: &Certificate,
    name: &'static str,
    oid: &'static str,
) -> Result<Option<String>, EndorsementError> {
    let Some(e) = cert.extension(oid) else {
        return Ok(None);
    };
    let body = der_primitive(&e.value, 0x16).ok_or(EndorsementError::Malformed { name, oid })?;
    if !body.is_ascii() {
        return Err(EndorsementError::Malformed { name, oid });
    }
    Ok(Some(String::from_utf8_lossy(body).into_owned()))
}

impl EndorsementInfo {
    pub fn from_certificate(cert: &Certificate) -> Result<Self, EndorsementError> {
        let hwid = cert.extension(OID_HWID).map(|e| {
            // KDS puts the raw chip id in extnValue; accept a wrapped OCTET
            // STRING too, as some re-issuers encode it that way.
            match der_primitive(&e.value, 0x04) {
                Some(inner) if inner.len() == 64 || inner.len() == 8 => inner.to_vec(),
                _ => e.value.clone(),
            }
        });
        let csp_id = ia5(cert, "csp_id", OID_CSP_ID)?;
        let kind = match (&hwid, &csp_id) {
            (Some(_), None) => SigningKey::Vcek,
            (None, Some(_)) => SigningKey::Vlek,
            _ => {
                return Err(EndorsementError::NotAnEndorsementKey {
                    subject: cert.subject().to_owned(),
                })
            }
        };
        if let Some(h) = &hwid {
            if h.len() != 64 && h.len() != 8 {
                return Err(EndorsementError::Malformed {
                    name: "hwID",
                    oid: OID_HWID,
                });
            }
        }
        let product_name =
            ia5(cert, "productName", OID_PRODUCT_NAME)?.ok_or(EndorsementError::Missing {
                name: "productName",
                oid: OID_PRODUCT_NAME,
            })?;
        let product = Product::from_product_name(&product_name)
            .ok_or_else(|| EndorsementError::UnknownProduct(product_name.clone()))?;
        let fmc_spl = if product.has_fmc() {
            Some(spl(cert, "fmcSPL", OID_FMC_SPL)?)
        } else {
            None
        };
        if cert.public_key().kind != mamori_x509::KeyKind::EcP384 {
            return Err(EndorsementError::KeyType);
        }
        // structVersion is informational; it must at least be well formed.
        if let Some(e) = cert.extension(OID_STRUCT_VERSION) {
            if der_primitive(&e.value, 0x02).is_none() {
                return Err(EndorsementError::Malformed {
                    name: "structVersion",
                    oid: OID_STRUCT_VERSION,
                });
            }
        }
        Ok(Self {
            kind,
            product,
            product_name,
            bl_spl: spl(cert, "blSPL", OID_BL_SPL)?,
            tee_spl: spl(cert, "teeSPL", OID_TEE_SPL)?,
            snp_spl: spl(cert, "snpSPL", OID_SNP_SPL)?,
            ucode_spl: spl(cert, "ucodeSPL", OID_UCODE_SPL)?,
            fmc_spl,
            hwid,
            csp_id,
        })
    }

    /// Whether a certificate looks like a VCEK/VLEK (cheap pre-filter).
    pub fn is_endorsement_key(cert: &Certificate) -> bool {
        cert.extension(OID_HWID).is_some() || cert.extension(OID_CSP_ID).is_some()
    }
}

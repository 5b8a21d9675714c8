use crate::{CertError, PublicKey, SignatureScheme, UnixTime};
use std::fmt;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One extension: dotted OID, criticality and the contents of extnValue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub oid: String,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// An X.509 certificate parsed once into the owned facts that verification
/// needs. The DER is kept so that identity with a pinned root is byte-exact.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_text: String,
    issuer_text: String,
    subject_cn: Option<String>,
    serial: Vec<u8>,
    not_before: UnixTime,
    not_after: UnixTime,
    public_key: PublicKey,
    scheme: SignatureScheme,
    signature: Vec<u8>,
    is_ca: Option<bool>,
    path_len: Option<u32>,
    key_usage: Option<KeyUsage>,
    extensions: Vec<Extension>,
}

/// What a keyUsage extension allows a CA's key to sign (RFC 5280 4.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject_text)
            .field("issuer", &self.issuer_text)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Parses exactly one DER certificate; trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let (cert, rest) = Self::from_der_prefix(der)?;
        if !rest.is_empty() {
            return Err(CertError::TrailingBytes(rest.len()));
        }
        Ok(cert)
    }

    /// Parses one DER certificate at the start of `input` and returns the
    /// bytes after it (for concatenated DER chains).
    pub fn from_der_prefix(input: &[u8]) -> Result<(Self, &[u8]), CertError> {
        let (rest, x) =
            X509Certificate::from_der(input).map_err(|e| CertError::Malformed(e.to_string()))?;
        let der = input.get(..input.len() - rest.len()).unwrap_or(input);
        // The signed TBS carries its own copy of the algorithm; a mismatch is
        // a substitution attempt (RFC 5280 4.1.1.2).
        if x.signature_algorithm != x.tbs_certificate.signature {
            return Err(CertError::AlgorithmMismatch);
        }
        // And byte for byte: the outer copy is not signed, so any encoding
        // difference (e.g. a wrong tag on the OID) is a malleated certificate.
        match crate::der::algorithm_identifiers(der, false) {
            Some((outer, inner)) if outer == inner => {}
            _ => return Err(CertError::AlgorithmMismatch),
        }
        let scheme = SignatureScheme::from_algorithm_identifier(&x.signature_algorithm)?;
        let public_key = PublicKey::from_spki(x.public_key())?;
        let subject_cn = x
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let (is_ca, path_len) = match x.basic_constraints() {
            Ok(Some(bc)) => (Some(bc.value.ca), bc.value.path_len_constraint),
            Ok(None) => (None, None),
            Err(e) => return Err(CertError::Malformed(format!("basicConstraints: {e}"))),
        };
        let key_usage = match x.key_usage() {
            Ok(Some(ku)) => Some(KeyUsage {
                key_cert_sign: ku.value.key_cert_sign(),
                crl_sign: ku.value.crl_sign(),
            }),
            Ok(None) => None,
            Err(e) => return Err(CertError::Malformed(format!("keyUsage: {e}"))),
        };
        let extensions = x
            .extensions()
            .iter()
            .map(|e| Extension {
                oid: e.oid.to_id_string(),
                critical: e.critical,
                value: e.value.to_vec(),
            })
            .collect();
        let cert = Self {
            der: der.to_vec(),
            tbs: x.tbs_certificate.as_ref().to_vec(),
            subject: x.subject().as_raw().to_vec(),
            issuer: x.issuer().as_raw().to_vec(),
            subject_text: x.subject().to_string(),
            issuer_text: x.issuer().to_string(),
            subject_cn,
            serial: x.raw_serial().to_vec(),
            not_before: UnixTime(x.validity().not_before.timestamp()),
            not_after: UnixTime(x.validity().not_after.timestamp()),
            public_key,
            scheme,
            signature: x.signature_value.data.to_vec(),
            is_ca,
            path_len,
            key_usage,
            extensions,
        };
        Ok((cert, rest))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// Subject DN as a readable string (for messages).
    pub fn subject(&self) -> &str {
        &self.subject_text
    }
    /// Issuer DN as a readable string (for messages).
    pub fn issuer(&self) -> &str {
        &self.issuer_text
    }
    pub fn subject_raw(&self) -> &[u8] {
        &self.subject
    }
    pub fn issuer_raw(&self) -> &[u8] {
        &self.issuer
    }
    pub fn subject_cn(&self) -> Option<&str> {
        self.subject_cn.as_deref()
    }
    /// The serial number's content octets as encoded.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    pub fn signature_scheme(&self) -> SignatureScheme {
        self.scheme
    }
    /// basicConstraints cA, if the extension is present.
    pub fn is_ca(&self) -> Option<bool> {
        self.is_ca
    }
    /// basicConstraints pathLenConstraint: how many intermediate CAs may
    /// follow this one on a path.
    pub fn path_len_constraint(&self) -> Option<u32> {
        self.path_len
    }
    /// The keyUsage extension, if present (absent: no restriction).
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.key_usage
    }
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
    /// The extnValue contents of the extension with this dotted OID.
    pub fn extension(&self, oid: &str) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
    pub fn is_valid_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Checks this certificate's signature with `issuer`'s public key.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        issuer
            .public_key
            .verify(self.scheme, &self.tbs, &self.signature)
    }
}

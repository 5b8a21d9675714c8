use crate::UnixTime;
use thiserror::Error;

/// Why one certificate could not be parsed or its signature not be checked.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate is not valid DER X.509: {0}")]
    Malformed(String),
    #[error("certificate has {0} trailing byte(s) after its DER encoding")]
    TrailingBytes(usize),
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    #[error("RSASSA-PSS parameters not supported: {0}")]
    UnsupportedPssParameters(String),
    #[error("unsupported public key algorithm {0}")]
    UnsupportedKey(String),
    #[error("signature algorithm {scheme:?} cannot be used with a {key:?} key")]
    KeyAlgorithmMismatch {
        scheme: crate::SignatureScheme,
        key: crate::KeyKind,
    },
    #[error("signature does not verify")]
    BadSignature,
    #[error("the outer and inner (TBS) signature algorithms differ")]
    AlgorithmMismatch,
}

/// Why a certificate revocation list could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CrlError {
    #[error("CRL is not valid DER: {0}")]
    Malformed(String),
    #[error("CRL signature: {0}")]
    Signature(#[from] CertError),
}

/// Why a certificate path was rejected; `index` counts from the leaf (0).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    #[error(
        "certificate {index} ({subject}) is not valid before {not_before} (checked as of {now})"
    )]
    NotYetValid {
        index: usize,
        subject: String,
        not_before: UnixTime,
        now: UnixTime,
    },
    #[error("certificate {index} ({subject}) expired at {not_after} (checked as of {now})")]
    Expired {
        index: usize,
        subject: String,
        not_after: UnixTime,
        now: UnixTime,
    },
    #[error("no issuer found for certificate {index} ({subject}, issued by {issuer})")]
    IssuerNotFound {
        index: usize,
        subject: String,
        issuer: String,
    },
    #[error("signature of certificate {index} ({subject}) by {issuer} does not verify: {source}")]
    Signature {
        index: usize,
        subject: String,
        issuer: String,
        source: CertError,
    },
    #[error("issuer {subject} of certificate {index} is not a CA (basicConstraints)")]
    NotCa { index: usize, subject: String },
    #[error("issuer {subject} of certificate {index} may not sign certificates (its keyUsage lacks keyCertSign)")]
    NotCertSigner { index: usize, subject: String },
    #[error("issuer {subject} of certificate {index} allows {max} intermediate CAs below it (pathLenConstraint), the path has {found}")]
    PathLength {
        index: usize,
        subject: String,
        max: u32,
        found: usize,
    },
    #[error("CRL issuer {issuer} may not sign CRLs (its keyUsage lacks cRLSign)")]
    NotCrlSigner { issuer: String },
    #[error("root {subject} is not a trust anchor (it must be identical to a pinned root or named explicitly)")]
    UntrustedRoot { subject: String },
    #[error("path longer than {0} certificates")]
    TooLong(usize),
    #[error("certificate {index} ({subject}) is revoked by the CRL of {issuer} (serial {serial})")]
    Revoked {
        index: usize,
        subject: String,
        issuer: String,
        serial: String,
    },
    #[error("CRL of {issuer} is stale: nextUpdate {next_update} is before {now}")]
    StaleCrl {
        issuer: String,
        next_update: UnixTime,
        now: UnixTime,
    },
    #[error("CRL of {issuer} has no nextUpdate, so nothing says when it stops being current (RFC 5280 5.1.2.5 requires one)")]
    CrlWithoutNextUpdate { issuer: String },
    #[error("CRL of {issuer} is not yet valid: thisUpdate {this_update} is after {now}")]
    CrlNotYetValid {
        issuer: String,
        this_update: UnixTime,
        now: UnixTime,
    },
    #[error("CRL of {issuer} does not verify with the issuer's key: {source}")]
    CrlSignature { issuer: String, source: CertError },
}

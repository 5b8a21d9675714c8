//! Typed errors. Every variant names the check that failed and where.

use thiserror::Error;

/// Failure to parse a quote: names the field and its byte offset in the quote.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuoteError {
    /// The input ends before a field does.
    #[error("quote truncated: {field} needs {need} bytes at offset {offset}, only {have} left")]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Offset of the field in the quote.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left in the input at that offset.
        have: usize,
    },
    /// Quote version other than 3, 4 or 5.
    #[error("unsupported quote version {0} (supported: 3, 4, 5)")]
    UnsupportedVersion(u16),
    /// Attestation key type other than 2 (ECDSA-256 with P-256).
    #[error("unsupported attestation key type {0} (supported: 2 = ECDSA-256-with-P-256)")]
    UnsupportedAttestationKeyType(u16),
    /// TEE type not valid for the quote version.
    #[error("unsupported TEE type {tee_type:#x} for quote version {version}")]
    UnsupportedTeeType {
        /// TEE type field (header offset 4).
        tee_type: u32,
        /// Quote version.
        version: u16,
    },
    /// v5 body type other than 1 (SGX), 2 (TD 1.0), 3 (TD 1.5), or inconsistent with the TEE type.
    #[error("unsupported v5 body type {body_type} for TEE type {tee_type:#x}")]
    UnsupportedBodyType {
        /// Body type (offset 48).
        body_type: u16,
        /// TEE type from the header.
        tee_type: u32,
    },
    /// v5 body size does not match the size of the body type.
    #[error("v5 body size {size} does not match body type {body_type} (expected {expected})")]
    BodySizeMismatch {
        /// Body type.
        body_type: u16,
        /// Declared size (offset 50).
        size: u32,
        /// Size of that body type.
        expected: usize,
    },
    /// Certification data type the verifier does not handle at this position.
    #[error(
        "unsupported certification data type {cert_type} at offset {offset} (expected {expected})"
    )]
    UnsupportedCertificationDataType {
        /// Type found.
        cert_type: u16,
        /// Offset of the type field.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A declared length does not fit the enclosing structure exactly.
    #[error("{field} at offset {offset}: declared length {declared} but the enclosing structure has {available} bytes")]
    LengthMismatch {
        /// Field whose length is wrong.
        field: &'static str,
        /// Offset of the length field.
        offset: usize,
        /// Declared length.
        declared: usize,
        /// Available bytes.
        available: usize,
    },
    /// Non-zero bytes after the end of the quote.
    #[error("{count} trailing bytes after the quote at offset {offset} are not zero padding")]
    TrailingBytes {
        /// Offset where the quote ends.
        offset: usize,
        /// Number of trailing bytes.
        count: usize,
    },
    /// A reserved field that must be zero is not.
    #[error("reserved field {field} at offset {offset} is not zero")]
    ReservedNotZero {
        /// Field name.
        field: &'static str,
        /// Offset.
        offset: usize,
    },
    /// The PCK certificate chain in certification data type 5 is not valid PEM.
    #[error("PCK certificate chain (certification data type 5) at offset {offset}: {reason}")]
    BadPckChain {
        /// Offset of the PEM data.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Which collateral item an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// TCB info (`tcbInfo`).
    TcbInfo,
    /// QE / TD_QE identity (`enclaveIdentity`).
    QeIdentity,
    /// Root CA CRL.
    RootCaCrl,
    /// PCK CRL (Platform or Processor CA).
    PckCrl,
    /// TCB signing certificate chain.
    TcbSigningChain,
    /// PCK certificate chain in the quote.
    PckChain,
    /// Combined collateral JSON.
    CombinedCollateral,
    /// A certificate input.
    Certificate,
}

impl core::fmt::Display for Item {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Item::TcbInfo => "TCB info",
            Item::QeIdentity => "QE identity",
            Item::RootCaCrl => "root CA CRL",
            Item::PckCrl => "PCK CRL",
            Item::TcbSigningChain => "TCB signing chain",
            Item::PckChain => "PCK certificate chain",
            Item::CombinedCollateral => "combined collateral JSON",
            Item::Certificate => "certificate",
        })
    }
}

/// Failure to parse or recognise a collateral input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CollateralError {
    /// Input not recognised as any DCAP collateral.
    #[error("collateral input #{index} not recognised: {reason}")]
    Unrecognised {
        /// Position of the input in the list given.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A recognised item is malformed.
    #[error("{item}: malformed: {reason}")]
    Malformed {
        /// Which item.
        item: Item,
        /// What is wrong.
        reason: String,
    },
    /// Unsupported version of a PCS object.
    #[error("{item}: unsupported version {version}")]
    UnsupportedVersion {
        /// Which item.
        item: Item,
        /// Version found.
        version: u32,
    },
}

/// Any failure of quote verification. The message names the failed check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DcapError {
    /// The quote does not parse.
    #[error("quote parse: {0}")]
    Quote(#[from] QuoteError),
    /// A collateral item is malformed.
    #[error("collateral: {0}")]
    Collateral(#[from] CollateralError),
    /// The quote signature by the attestation key does not verify.
    #[error("quote signature: ECDSA P-256 signature by the attestation key over header+body does not verify")]
    QuoteSignature,
    /// The attestation key is not a valid P-256 point.
    #[error("attestation key: not a valid P-256 public key")]
    AttestationKey,
    /// The QE report signature by the PCK key does not verify.
    #[error("QE report signature: not signed by the PCK certificate key")]
    QeReportSignature,
    /// QE REPORT_DATA does not bind the attestation key and QE authentication data.
    #[error("QE report binding: REPORT_DATA[0..32] != SHA-256(attestation key || QE authentication data) or REPORT_DATA[32..64] not zero")]
    QeReportBinding,
    /// Certificate chain failure.
    #[error("{item}: {reason}")]
    Chain {
        /// Which chain.
        item: Item,
        /// What failed.
        reason: String,
    },
    /// A certificate is revoked by a CRL.
    #[error("{item}: certificate serial {serial} ({subject}) is revoked by the {crl}")]
    Revoked {
        /// Which chain.
        item: Item,
        /// Hex serial.
        serial: String,
        /// Subject of the revoked certificate.
        subject: String,
        /// CRL that revokes it.
        crl: Item,
    },
    /// PCK certificate SGX extension malformed or missing.
    #[error("PCK certificate SGX extension: {0}")]
    PckExtension(String),
    /// A needed collateral item is missing from the bag.
    #[error("missing collateral: {0}")]
    MissingCollateral(String),
    /// A collateral signature does not verify.
    #[error(
        "{item}: signature by the Intel SGX TCB Signing key does not verify over the served bytes"
    )]
    CollateralSignature {
        /// Which item.
        item: Item,
    },
    /// CRL signature does not verify.
    #[error("{item}: CRL signature by {issuer} does not verify")]
    CrlSignature {
        /// Which CRL.
        item: Item,
        /// Issuer name.
        issuer: String,
    },
    /// Collateral outside its validity window at `now`.
    #[error("{item}: stale or not yet valid at {now}: valid {not_before}..{not_after}")]
    Stale {
        /// Which item.
        item: Item,
        /// Verification time (RFC 3339).
        now: String,
        /// issueDate / thisUpdate.
        not_before: String,
        /// nextUpdate.
        not_after: String,
    },
    /// Collateral does not match the quote (FMSPC, PCE-ID, id, TEE type).
    #[error("{item} mismatch: {reason}")]
    CollateralMismatch {
        /// Which item.
        item: Item,
        /// What differs.
        reason: String,
    },
    /// QE report does not match the QE identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES).
    #[error("QE identity: QE report {field} does not match the {id} identity")]
    QeIdentityMismatch {
        /// Which field.
        field: &'static str,
        /// Identity id (QE / TD_QE).
        id: String,
    },
    /// TDX module identity mismatch (MRSIGNER_SEAM / SEAM_ATTRIBUTES).
    #[error("TDX module identity {id}: {field} does not match")]
    TdxModuleMismatch {
        /// Identity id.
        id: String,
        /// Field.
        field: &'static str,
    },
    /// No TCB level matched.
    #[error("TCB level: no matching TCB level in the {what} (TCB level not supported)")]
    NoMatchingTcbLevel {
        /// Which level list (platform TCB info, TDX module identity, QE identity).
        what: &'static str,
    },
}

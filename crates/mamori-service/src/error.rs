use thiserror::Error;

/// Why a request was not carried out. The HTTP layer maps each variant to a
/// status and an error body; the text says which check failed.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unknown or unsupported TEE {0:?}")]
    UnknownTee(String),
    #[error(
        "TEE {0:?} is disabled on this server (development only; see insecure_allow_sample_tee)"
    )]
    TeeDisabled(String),
    /// Worded as Trustee's KBS words it: the stock client shows this text.
    #[error(
        "KBS Client Protocol Version Mismatch: expect ={expected} while the request is {requested}"
    )]
    ProtocolVersion {
        requested: String,
        expected: &'static str,
    },
    #[error("session: {0}")]
    Session(&'static str),
    #[error("nonce: the runtime data's nonce does not match the session's challenge")]
    NonceMismatch,
    #[error("evidence rejected ({check}): {message}")]
    EvidenceRejected {
        check: &'static str,
        message: String,
    },
    #[error("binding: {0}")]
    Binding(String),
    #[error("token: {0}")]
    Token(String),
    #[error("TEE public key: {0}")]
    TeeKey(String),
    #[error("policy denied release of {path}: {reasons}")]
    Denied { path: String, reasons: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("admin authentication: {0}")]
    AdminAuth(String),
    #[error("policy: {0}")]
    Policy(String),
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// A limit on open sessions was reached; the client may try again later.
    #[error("busy: {0}")]
    Busy(String),
    /// Vendor collateral the evidence needs could not be fetched (the
    /// vendor's service is unreachable or refusing); the client may try
    /// again later.
    #[error("collateral unavailable: {message}")]
    CollateralUnavailable {
        message: String,
        /// Seconds before a retry can help.
        retry_after_secs: i64,
    },
    #[error("storage unavailable: {0}")]
    Store(#[from] mamori_store::StoreError),
    /// The server is shutting down: `/readyz` says so while requests are
    /// still served.
    #[error("shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A stable, short name for logs, metrics and error bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            ServiceError::BadRequest(_) => "BadRequest",
            ServiceError::UnknownTee(_) => "UnknownTee",
            ServiceError::TeeDisabled(_) => "TeeDisabled",
            ServiceError::ProtocolVersion { .. } => "ProtocolVersion",
            ServiceError::Session(_) => "InvalidSession",
            ServiceError::NonceMismatch => "NonceMismatch",
            ServiceError::EvidenceRejected { .. } => "EvidenceRejected",
            ServiceError::Binding(_) => "BindingFailed",
            ServiceError::Token(_) => "InvalidToken",
            ServiceError::TeeKey(_) => "TeeKey",
            ServiceError::Denied { .. } => "PolicyDeny",
            ServiceError::NotFound(_) => "NotFound",
            ServiceError::AdminAuth(_) => "AdminAuth",
            ServiceError::Policy(_) => "InvalidPolicy",
            ServiceError::TooLarge(_) => "TooLarge",
            ServiceError::Busy(_) => "Busy",
            ServiceError::CollateralUnavailable { .. } => "CollateralUnavailable",
            ServiceError::Store(_) => "StoreUnavailable",
            ServiceError::ShuttingDown => "ShuttingDown",
            ServiceError::Internal(_) => "Internal",
        }
    }
}

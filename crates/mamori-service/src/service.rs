mod dcap_fetch;
mod minted;
mod open_sessions;
mod operator;
mod snp_crls;

use crate::admin::{self, AdminKey};
use crate::config::Config;
use crate::dcap::DcapVerifier;
use crate::error::ServiceError;
use crate::evidence::{verify_sample, SnpFailure, SnpVerifier, VerifiedEvidence};
use crate::kek::Kek;
use crate::keys::{self, KeyRing};
use crate::metrics::Metrics;
use crate::policies::PolicySet;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use mamori_policy::{AppraisalInput, Binding, Document, PolicyKind, ResourceInput};
use mamori_store::{Completion, NewAuditEntry, PolicyRecord, ReferenceValue, SessionRecord, Store};
use mamori_token::{EarClaims, Jwk, Submod, VerifierId, EAR_PROFILE};
use mamori_verifier::UnixTime;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The one submodule of the tokens this service issues.
const SUBMOD: &str = "cpu0";

/// Members the service adds to the verifier's claims in the annotated evidence.
const RUNTIME_DATA_CLAIMS: &str = "runtime_data_claims";
const INIT_DATA_CLAIMS: &str = "init_data_claims";

/// The converted annotated evidence: `claims`, the converted claims it was
/// made from, with the service's `members` added as
/// [`crate::evidence::Claims::annotated`] adds them. `None` (the token is
/// then converted whole at release: slower, same decision) if the claims
/// are not an object or a member does not convert.
fn annotated_document(mut claims: Document, members: &[(&str, &Value)]) -> Option<Document> {
    for (name, v) in members {
        claims.set(&[name], Document::from_json(v).ok()?).ok()?;
    }
    Some(claims)
}

/// What a resource policy reads of `claims` (`Document::from_json` of the
/// token's claims), built without converting the annotated evidence again:
/// `annotated` is its converted copy, made for the appraisal policy. `None`
/// if the claims do not serialize as expected (the caller then converts the
/// whole token at release, as for a token minted elsewhere).
fn token_document(claims: &mut EarClaims, submod: &str, annotated: Document) -> Option<Document> {
    let kept = claims.submods.get_mut(submod)?.annotated_evidence.take()?;
    let doc = Document::from_serialize(&*claims);
    if let Some(sub) = claims.submods.get_mut(submod) {
        sub.annotated_evidence = Some(kept);
    }
    let mut doc = doc.ok()?;
    doc.set(
        &["submods", submod, mamori_token::claims::ANNOTATED_EVIDENCE],
        annotated,
    )
    .ok()?;
    Some(doc)
}

/// A vendor collateral service's fetcher when `url` is configured; an
/// error names the setting (`key`).
fn collateral_service<T>(
    key: &str,
    url: Option<&str>,
    build: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, StartError> {
    url.map(|url| {
        build(url)
            .map_err(|e| StartError::Config(crate::ConfigError::Invalid(format!("{key} {e}"))))
    })
    .transpose()
}

/// SNP, TDX and SGX report data: the 48-byte digest, zero-padded to the
/// 64-byte REPORT_DATA / REPORTDATA field.
fn padded_equal(report_data: &[u8], expected: &[u8]) -> bool {
    report_data.get(..expected.len()) == Some(expected)
        && report_data.iter().skip(expected.len()).all(|b| *b == 0)
}

/// A challenge: a session with a single-use nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub session_id: String,
    /// 32 random bytes, standard base64 (as the KBS protocol carries it).
    pub nonce: String,
    pub expires_at: i64,
}

/// Evidence submitted for a session.
#[derive(Clone, Debug)]
pub struct AttestRequest {
    pub session_id: String,
    /// The nonce the attester echoes (must equal the session's).
    pub nonce: String,
    /// The TEE's public key as a JWK, exactly as received (it is hashed).
    pub tee_pubkey: Value,
    /// KBS protocol: the `additional_evidence` string, part of the binding.
    /// `None` for Mamori's native API, whose binding has no such member.
    pub additional_evidence: Option<String>,
    pub evidence: Value,
    /// KBS `init-data` (`{"format": "toml", "body": ...}`), if any.
    pub init_data: Option<Value>,
}

/// What [`Service::attest_session`] produced: the token and what this
/// node keeps of it, and the measurement its audit entry records.
struct Appraised {
    attested: Attested,
    document: Option<Document>,
    recipient: mamori_jwe::Recipient,
    measurement: Option<Value>,
}

/// A successful attestation.
#[derive(Clone, Debug)]
pub struct Attested {
    pub token: String,
    /// Shared with this node's cache of minted claims.
    pub claims: Arc<EarClaims>,
}

/// How a resource request proves its attestation.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    /// An EAR token (passport model, `Authorization: Bearer`).
    Token(&'a str),
    /// A KBS session cookie of an attested session.
    Session(&'a str),
}

/// What a policy dry run evaluates.
#[derive(Clone, Debug)]
pub enum DryRun {
    Appraisal {
        source: Option<String>,
        tee: String,
        input: Value,
    },
    Resource {
        source: Option<String>,
        path: String,
        input: Value,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::ConfigError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Kek(#[from] crate::kek::KekError),
    #[error("the database holds data sealed under a key-encryption key, but {path} does not exist{}: restore it (a new key would not open that data)", env.as_ref().map(|v| format!(" and ${v} is not set")).unwrap_or_default())]
    KekMissing { path: String, env: Option<String> },
    /// A shared store's key is never made by one node: the others could
    /// not open what it sealed.
    #[error("a store shared through PostgreSQL needs the same key-encryption key on every node, and none is configured: {} (for example from `openssl rand -hex 32`), or place the 32-byte key at {path} (mode 0600), the same on every node", env.as_deref().map_or_else(|| "name an environment variable in kek.env and set it to 64 hex digits".to_owned(), |v| format!("set ${v} to 64 hex digits")))]
    KekNotShared { path: String, env: Option<String> },
    #[error("admin public key {path}: {reason}")]
    AdminKey { path: String, reason: String },
    #[error("SNP trust anchor {path}: {reason}")]
    TrustAnchor { path: String, reason: String },
    #[error("SNP CRL {path}: {reason}")]
    SnpCrl { path: String, reason: String },
    #[error("DCAP collateral or trust anchor {path}: {reason}")]
    DcapCollateral { path: String, reason: String },
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("store: {0}")]
    Store(#[from] mamori_store::StoreError),
    #[error("{key} {path}: {reason}")]
    StoreFile {
        key: &'static str,
        path: String,
        reason: String,
    },
}

/// The running service: cheap to share (`Arc`), safe across threads.
pub struct Service {
    cfg: Config,
    store: Store,
    kek: Kek,
    snp: SnpVerifier,
    /// AMD's KDS, when `[snp] kds_url` is set.
    kds: Option<crate::kds::Kds>,
    /// AMD CRLs fetched from the KDS.
    snp_crls: tokio::sync::Mutex<snp_crls::FetchedCrls>,
    /// Replaced whole when collateral is fetched from Intel's PCS.
    dcap: RwLock<Arc<DcapVerifier>>,
    /// Intel's PCS or a PCCS, when `[dcap] pcs_url` is set, and the items
    /// fetched so far by path (the verifier is built over them).
    pcs: Option<crate::pcs::Pcs>,
    pcs_fetched: tokio::sync::Mutex<dcap_fetch::PcsState>,
    /// A platform was forgotten (its remembered machine revoked): the next
    /// quote of it that verifies is remembered instead.
    pcs_wanted: std::sync::atomic::AtomicBool,
    admin_keys: Vec<AdminKey>,
    keys: RwLock<Arc<KeyRing>>,
    policies: RwLock<Arc<PolicySet>>,
    minted: minted::MintedClaims,
    open: open_sessions::OpenSessions,
    pub metrics: Metrics,
    /// One reload at a time: two overlapping reloads (the periodic one and
    /// an admin change's) could otherwise finish in the wrong order and put
    /// back the set read before the change.
    reloading: tokio::sync::Mutex<()>,
    /// When (Unix seconds) a token with a kid this node did not know last
    /// made it re-read the signing keys (see `verify_token`).
    keys_refreshed_at: std::sync::atomic::AtomicI64,
    /// The last readiness answer and when it was found (see `ready`).
    readiness: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
    /// Set when shutdown begins: readiness then fails.
    draining: std::sync::atomic::AtomicBool,
}

const NONCE_BYTES: usize = 32;
const MAX_PATH_SEGMENTS: usize = 8;
/// Longest resource path (KBS paths are `repository/type/tag`; this leaves
/// room for long tags while keeping audit entries and keys bounded).
const MAX_PATH_LEN: usize = 512;
/// What an audit entry keeps of a caller-supplied text (an error message
/// may quote the request).
const MAX_AUDIT_TEXT: usize = 512;
/// The message of the error for a session this service never issued.
const UNKNOWN_SESSION: &str = "unknown session (request a new challenge)";

fn random_b64(n: usize) -> Result<String, ServiceError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServiceError::Internal("random generator failed".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A TEE kind as a metrics label: only kinds the service attests reach
/// here (`supports_tee`), and anything else is one label, not a series per
/// attester-chosen name.
fn tee_label(tee: &str) -> &'static str {
    match tee {
        "snp" => "snp",
        "tdx" => "tdx",
        "sgx" => "sgx",
        "sample" => "sample",
        _ => "other",
    }
}

fn random_hex(n: usize) -> Result<String, ServiceError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServiceError::Internal("random generator failed".into()))?;
    Ok(hex::encode(b))
}

/// A session id: the creation time in milliseconds (12 hex digits) and 16
/// random bytes. The random part makes it unguessable; the time prefix
/// makes new ids sort after older ones, so the store appends to the end of
/// its session index instead of rewriting a random page of it per
/// challenge (the write-ahead log carries whole pages).
fn session_id(now_millis: u128) -> Result<String, ServiceError> {
    let time = (now_millis as u64) & 0xFFFF_FFFF_FFFF;
    Ok(format!("{time:012x}{}", random_hex(16)?))
}

/// SHA-384 of the RFC 8785 canonical form of the runtime data: what the
/// evidence's report data must carry. With `additional_evidence` (the KBS
/// protocol) the object has three members, otherwise two.
pub fn expected_report_data(
    nonce: &str,
    tee_pubkey: &Value,
    additional_evidence: Option<&str>,
) -> Result<Vec<u8>, ServiceError> {
    mamori_token::runtime_data::digest_sha384(nonce, tee_pubkey, additional_evidence)
        .map(|d| d.to_vec())
        .map_err(|e| ServiceError::BadRequest(format!("runtime data: {e}")))
}

/// Checks a resource path: 1–8 segments of letters, digits, `.`, `_`, `-`.
pub fn check_path(path: &str) -> Result<(), ServiceError> {
    let segs: Vec<&str> = path.split('/').collect();
    let ok = !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && segs.len() <= MAX_PATH_SEGMENTS
        && segs.iter().all(|s| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "resource path {:?}: expected 1-{MAX_PATH_SEGMENTS} segments of [A-Za-z0-9._-], at most {MAX_PATH_LEN} bytes in all",
            bounded(path)
        )))
    }
}

/// Whether `id` has the form of the session ids [`session_id`] makes: 12
/// and 32 lower-case hex digits. Anything else was never issued here, and
/// is refused before it reaches the store or the audit log.
fn is_session_id(id: &str) -> bool {
    id.len() == 44 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// At most [`MAX_AUDIT_TEXT`] bytes of `s` (cut at a character boundary).
fn bounded(s: &str) -> &str {
    let mut end = s.len().min(MAX_AUDIT_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An error as an audit entry's detail: its kind and its bounded message.
fn error_detail(e: &ServiceError) -> Value {
    json!({"error": e.kind(), "detail": bounded(&e.to_string())})
}

/// The TEE's public key, checked as a release will use it (a token is not
/// issued for a key no secret could be encrypted to), and parsed once.
fn tee_key(v: &Value) -> Result<(Jwk, mamori_jwe::Recipient), ServiceError> {
    let jwk = <Jwk as serde::Deserialize>::deserialize(v)
        .map_err(|e| ServiceError::TeeKey(format!("not a JWK: {e}")))?;
    let recipient = mamori_jwe::Recipient::from_jwk(&jwk).map_err(|e| match e {
        mamori_jwe::JweError::Rsa1_5Refused => ServiceError::TeeKey(
            "RSA1_5 key transport is refused (use RSA-OAEP-256 or ECDH-ES+A256KW)".into(),
        ),
        other => ServiceError::TeeKey(other.to_string()),
    })?;
    Ok((jwk, recipient))
}

/// The certificates and CRLs (PEM or DER) in the file at `p`.
fn read_x509(p: &std::path::Path) -> Result<Vec<mamori_x509::Blob>, String> {
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    mamori_x509::split_blobs(&bytes)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "neither PEM nor DER X.509".to_owned())
}

/// The CRLs of `[snp] crls`. Each file must hold at least one CRL (and may
/// hold certificates too, which are ignored); a CRL already past its
/// nextUpdate is loaded and logged, and refuses the chains it covers.
fn load_snp_crls(
    paths: &[std::path::PathBuf],
    now: i64,
) -> Result<Vec<mamori_x509::Crl>, StartError> {
    let mut crls = Vec::new();
    for p in paths {
        let err = |reason: String| StartError::SnpCrl {
            path: p.display().to_string(),
            reason,
        };
        let blobs = read_x509(p).map_err(err)?;
        let before = crls.len();
        for b in blobs {
            if let mamori_x509::Blob::Crl(c) = b {
                match c.next_update() {
                    Some(next) if next.0 >= now => {
                        tracing::info!(issuer = %c.issuer(), next_update = next.0, "SEV-SNP CRL loaded")
                    }
                    _ => {
                        tracing::warn!(issuer = %c.issuer(), "SEV-SNP CRL loaded but not current: chains it covers are refused until a current one is installed")
                    }
                }
                crls.push(*c);
            }
        }
        if crls.len() == before {
            return Err(err("no CRL in the file".into()));
        }
    }
    Ok(crls)
}

/// Creates the data directory readable by this user only (0700), and the
/// database file 0600 before SQLite opens it (SQLite gives its log and
/// shared-memory files the database file's mode). The store holds sealed
/// secrets and keys, but also what is not sealed: sessions with their
/// tokens, and the audit log. A directory that already exists keeps its
/// mode (it is the operator's), with a warning when others may read it.
fn private_data_dir(dir: &std::path::Path, database: &std::path::Path) -> Result<(), StartError> {
    let failed = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| StartError::DataDir { path, source }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        if dir.is_dir() {
            let mode = std::fs::metadata(dir)
                .map_err(failed(dir))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %dir.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "other users have access to the data directory; it holds session tokens and the audit log (chmod 700 it)"
                );
            }
        } else {
            // Only the data directory itself is made private: parents it
            // needs are created as usual.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(failed(parent))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(failed(dir))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(database)
            .map_err(failed(database))?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = database;
        std::fs::create_dir_all(dir).map_err(failed(dir))
    }
}

/// What the configuration names outside the store: read at start, and by
/// [`check`].
struct Inputs {
    admin_keys: Vec<AdminKey>,
    trust: tee_snp::TrustStore,
    snp_crls: Vec<mamori_x509::Crl>,
    dcap: DcapVerifier,
}

impl Inputs {
    fn load(cfg: &Config, now: i64) -> Result<Inputs, StartError> {
        let mut admin_keys = Vec::new();
        for p in &cfg.admin.public_keys {
            let bytes = std::fs::read(p).map_err(|e| StartError::AdminKey {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            admin_keys.push(admin::parse_public_key(&bytes).map_err(|reason| {
                StartError::AdminKey {
                    path: p.display().to_string(),
                    reason,
                }
            })?);
        }
        let mut trust = tee_snp::TrustStore::amd();
        for p in &cfg.snp.trust_anchors {
            let err = |reason: String| StartError::TrustAnchor {
                path: p.display().to_string(),
                reason,
            };
            for b in read_x509(p).map_err(err)? {
                if let mamori_x509::Blob::Certificate(c) = b {
                    tracing::warn!(subject = %c.subject(), "trusting an extra SEV-SNP root (not one of AMD's pinned roots)");
                    trust = trust.with_anchor(*c);
                }
            }
        }
        let snp_crls = load_snp_crls(&cfg.snp.crls, now)?;
        // With a PCS to fetch them from, both CRLs are required: a quote
        // whose collateral lacks one is mended by fetching it rather than
        // verified with revocation unchecked.
        let options = tee_dcap::VerifyOptions {
            require_crls: cfg.dcap.pcs_url.is_some(),
        };
        let dcap = DcapVerifier::load(&cfg.dcap.collateral, &cfg.dcap.trust_anchors, options)
            .map_err(|e| StartError::DcapCollateral {
                path: e.path,
                reason: e.reason,
            })?;
        Ok(Inputs {
            admin_keys,
            trust,
            snp_crls,
            dcap,
        })
    }
}

/// What [`check`] found.
#[derive(Debug)]
pub struct CheckReport {
    pub admin_keys: usize,
    /// Where the key-encryption key comes from, or that it would be created.
    pub kek: String,
    /// The database exists already.
    pub database_present: bool,
}

/// Where [`find_kek`] found the key.
enum KekFrom {
    Env,
    File,
}

/// The key-encryption key as start-up finds it: from `kek.env` when that
/// variable is set, else the file. The file is created only for a database
/// that holds nothing yet: a new key would not open what an existing one
/// sealed, and the file it left behind would then be in the way of the
/// restored one.
fn find_kek(cfg: &Config, database_in_use: bool) -> Result<Option<(Kek, KekFrom)>, StartError> {
    if let Some(var) = &cfg.kek.env {
        if let Some(k) = Kek::from_env(var)? {
            return Ok(Some((k, KekFrom::Env)));
        }
    }
    match Kek::load_existing(&cfg.kek_path())? {
        Some(k) => Ok(Some((k, KekFrom::File))),
        None if cfg.store.is_shared() => Err(kek_not_shared(cfg)),
        None if database_in_use => Err(StartError::KekMissing {
            path: cfg.kek_path().display().to_string(),
            env: cfg.kek.env.clone(),
        }),
        None => Ok(None),
    }
}

/// A shared store found without the operator's key-encryption key.
fn kek_not_shared(cfg: &Config) -> StartError {
    StartError::KekNotShared {
        path: cfg.kek_path().display().to_string(),
        env: cfg.kek.env.clone(),
    }
}

/// Whether the database file exists with content: start-up creates it empty
/// (with its mode) before SQLite opens it. A shared database is taken to
/// be in use: other nodes may have written to it.
fn database_in_use(cfg: &Config) -> bool {
    cfg.store.is_shared() || std::fs::metadata(cfg.database_path()).is_ok_and(|m| m.len() > 0)
}

/// `/metrics` gauges of a PostgreSQL store's connection pool: a pool that
/// stays full with requests waiting wants a larger `store.pool_size`, or
/// a database that answers faster.
fn pool_probes(metrics: &crate::metrics::Metrics, store: &Store) {
    use crate::metrics::ProbeKind::Gauge;
    type Read = fn(&mamori_store::PoolStatus) -> usize;
    let gauges: [(&'static str, &'static str, Read); 4] = [
        ("mamori_store_pool_max", "store.pool_size in force.", |p| {
            p.max
        }),
        (
            "mamori_store_pool_open",
            "Connections to PostgreSQL open.",
            |p| p.open,
        ),
        (
            "mamori_store_pool_idle",
            "Connections to PostgreSQL open and not in use.",
            |p| p.idle,
        ),
        (
            "mamori_store_pool_waiting",
            "Requests waiting for a connection to PostgreSQL.",
            |p| p.waiting,
        ),
    ];
    for (name, help, read) in gauges {
        let store = store.clone();
        metrics.add_probe(name, help, Gauge, move || {
            store.pool_status().map(|p| read(&p) as f64)
        });
    }
}

/// The configured PostgreSQL store's settings, with the password from
/// `store.password_env` when that variable is set and the CA file read.
pub fn postgres_options(cfg: &Config) -> Result<mamori_store::PostgresOptions, StartError> {
    let read = |key: &'static str, path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map(|p| {
                std::fs::read(p).map_err(|e| StartError::StoreFile {
                    key,
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    };
    let ca_pem = read("store.ca_file", &cfg.store.ca_file)?;
    let chain_pem = read("store.client_cert", &cfg.store.client_cert)?;
    let key_pem = read("store.client_key", &cfg.store.client_key)?;
    if let Some(path) = &cfg.store.client_key {
        client_key_mode(path).map_err(|reason| StartError::StoreFile {
            key: "store.client_key",
            path: path.display().to_string(),
            reason,
        })?;
    }
    let client_cert = match (chain_pem, key_pem) {
        (Some(chain_pem), Some(key_pem)) => {
            Some(mamori_store::ClientCertificate { chain_pem, key_pem })
        }
        (None, None) => None,
        // Validation refuses one without the other; never go on without it.
        _ => {
            return Err(StartError::Config(crate::ConfigError::Invalid(
                "store.client_cert and store.client_key go together: set both or neither".into(),
            )))
        }
    };
    Ok(mamori_store::PostgresOptions {
        url: cfg.store.postgres_url.clone(),
        // An empty variable is as good as unset (a template left blank).
        password: std::env::var(&cfg.store.password_env)
            .ok()
            .filter(|p| !p.is_empty()),
        pool_size: cfg.store.pool_size,
        ca_pem,
        client_cert,
    })
}

/// A client key must not be readable by others, as libpq requires: no
/// group or world access, or group read at most when root owns it (a
/// secret mounted for a service group).
#[cfg(unix)]
fn client_key_mode(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let mode = meta.mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(format!(
            "permissions {mode:o} let others read the private key; chmod 600"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn client_key_mode(_: &std::path::Path) -> Result<(), String> {
    Ok(())
}

/// Checks a configuration and every file it names outside the store —
/// admin keys, SEV-SNP roots and CRLs, DCAP collateral, the
/// key-encryption key — as start-up would, creating nothing. (TLS files
/// are the server's, checked by `mamori serve --check`.)
pub fn check(cfg: &Config, now: i64) -> Result<CheckReport, StartError> {
    cfg.validate()?;
    let inputs = Inputs::load(cfg, now)?;
    for (key, ca) in [
        ("snp.kds_ca_file", &cfg.snp.kds_ca_file),
        ("dcap.pcs_ca_file", &cfg.dcap.pcs_ca_file),
    ] {
        if let Some(path) = ca {
            crate::fetch::ca_certificates(path).map_err(|e| {
                StartError::Config(crate::ConfigError::Invalid(format!("{key} {e}")))
            })?;
        }
    }
    let in_use = database_in_use(cfg);
    if cfg.store.is_shared() {
        Store::check_postgres(&postgres_options(cfg)?)?;
    }
    let file = cfg.kek_path().display().to_string();
    let kek = match (find_kek(cfg, in_use)?, &cfg.kek.env) {
        (Some((_, KekFrom::Env)), Some(var)) => format!("from ${var}"),
        (Some((_, KekFrom::File)), Some(var)) => format!("{file} (${var} is not set)"),
        (Some(_), None) => file,
        (None, _) => "created at first start".into(),
    };
    Ok(CheckReport {
        admin_keys: inputs.admin_keys.len(),
        kek,
        database_present: in_use,
    })
}

impl Service {
    /// Opens the data directory, the key-encryption key and the store, and
    /// loads keys and policies.
    pub async fn start(cfg: Config, now: i64) -> Result<Arc<Self>, StartError> {
        cfg.validate()?;
        let in_use = database_in_use(&cfg);
        if cfg.store.is_shared() {
            // Nothing is written to the data directory: the key comes from
            // the operator (`find_kek`), the records from PostgreSQL.
            let kek = find_kek(&cfg, in_use)?
                .map(|(k, _)| k)
                .ok_or_else(|| kek_not_shared(&cfg))?;
            let store = Store::open_postgres(&postgres_options(&cfg)?).await?;
            let svc_store = store.clone();
            match store.is_encrypted() {
                Some(true) => tracing::info!("PostgreSQL store: TLS, server certificate verified"),
                _ => tracing::warn!(
                    "PostgreSQL store: the connection is not encrypted (put sslmode=require in store.postgres_url unless the database is on this host)"
                ),
            }
            let svc = Self::with_parts(cfg, store, kek, now).await?;
            pool_probes(&svc.metrics, &svc_store);
            return Ok(svc);
        }
        private_data_dir(&cfg.data_dir, &cfg.database_path())?;
        let kek = match find_kek(&cfg, in_use)? {
            Some((k, _)) => k,
            None => Kek::load_or_create(&cfg.kek_path())?,
        };
        let store = Store::open(&cfg.database_path()).await?;
        Self::with_parts(cfg, store, kek, now).await
    }

    /// Builds the service over an opened store (tests, embedding).
    pub async fn with_parts(
        cfg: Config,
        store: Store,
        kek: Kek,
        now: i64,
    ) -> Result<Arc<Self>, StartError> {
        let Inputs {
            admin_keys,
            trust,
            snp_crls,
            dcap,
        } = Inputs::load(&cfg, now)?;
        if cfg.insecure_allow_sample_tee {
            tracing::warn!("INSECURE: the unsigned `sample` TEE is accepted (development only; its results are never affirming)");
        }
        let ring = keys::load(&store, &kek, now, cfg.token.lifetime_secs + 60).await?;
        let policies = PolicySet::load(&store).await?;
        let open = open_sessions::OpenSessions::default();
        open.counted(store.count_open_sessions(now).await?, now);
        let pcs = collateral_service("dcap.pcs_url", cfg.dcap.pcs_url.as_deref(), |url| {
            crate::pcs::Pcs::new(
                url,
                cfg.dcap.root_ca_crl_url.as_deref(),
                store.clone(),
                cfg.dcap.pcs_ca_file.as_deref(),
            )
        })?;
        if let Some(pcs) = &pcs {
            tracing::info!(
                url = pcs.base(),
                root_ca_crl = pcs.root_ca_crl_url(),
                "Intel DCAP collateral missing or stale: fetched from this PCS"
            );
        }
        let kds = collateral_service("snp.kds_url", cfg.snp.kds_url.as_deref(), |url| {
            crate::kds::Kds::new(url, store.clone(), cfg.snp.kds_ca_file.as_deref())
        })?;
        if let Some(kds) = &kds {
            tracing::info!(
                url = kds.base(),
                "SEV-SNP reports without their VCEK: fetched from this KDS"
            );
        }
        let svc = Arc::new(Service {
            snp: SnpVerifier::with_crls(trust, snp_crls),
            kds,
            snp_crls: Default::default(),
            dcap: RwLock::new(Arc::new(dcap)),
            pcs,
            pcs_fetched: Default::default(),
            pcs_wanted: Default::default(),
            admin_keys,
            keys: RwLock::new(Arc::new(ring)),
            policies: RwLock::new(Arc::new(policies)),
            minted: Default::default(),
            open,
            metrics: Metrics::default(),
            reloading: tokio::sync::Mutex::new(()),
            keys_refreshed_at: std::sync::atomic::AtomicI64::new(i64::MIN),
            readiness: tokio::sync::Mutex::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
            cfg,
            store,
            kek,
        });
        // Before the first request: a node restarted while KDS is down
        // still applies the revocations fetched before.
        svc.apply_kept_snp_crls(now).await;
        Ok(svc)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn policy_set(&self) -> Arc<PolicySet> {
        match self.policies.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads policies, reference values and keys (after an admin change,
    /// and periodically so that other nodes' changes arrive).
    pub async fn reload(&self, now: i64) -> Result<(), ServiceError> {
        let _one_at_a_time = self.reloading.lock().await;
        self.store.forget_cached_resources();
        let current = self.policy_set();
        if let Some(set) = PolicySet::load_if_changed(&self.store, &current.fingerprint).await? {
            if let Ok(mut g) = self.policies.write() {
                *g = Arc::new(set);
            }
        }
        self.refresh_keys(now).await
    }

    /// Re-reads the signing keys (the caller holds `reloading`).
    async fn refresh_keys(&self, now: i64) -> Result<(), ServiceError> {
        let current = self.ring();
        let keep = self.cfg.token.lifetime_secs + 60;
        if let Some(ring) =
            keys::load_if_changed(&self.store, &self.kek, now, keep, &current).await?
        {
            if let Ok(mut g) = self.keys.write() {
                *g = Arc::new(ring);
            }
        }
        Ok(())
    }

    /// Verifies a bearer token. With a shared store, another node may have
    /// rotated to a key this node has not read yet (the periodic reload
    /// runs every 5 s): a token with an unknown kid re-reads the keys once,
    /// at most once a second whatever kids clients make up.
    async fn verify_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<mamori_token::EarClaims, mamori_token::TokenError> {
        use std::sync::atomic::Ordering::Relaxed;
        let first = self.ring().verifier.verify(token, now);
        let unknown = matches!(first, Err(mamori_token::TokenError::UnknownKid(_)));
        if !unknown || !self.store.is_shared() {
            return first;
        }
        let last = self.keys_refreshed_at.load(Relaxed);
        if now <= last
            || self
                .keys_refreshed_at
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return first;
        }
        let refreshed = {
            let _one_at_a_time = self.reloading.lock().await;
            self.refresh_keys(now).await
        };
        if let Err(e) = refreshed {
            tracing::warn!(error = %e, "re-reading the signing keys for an unknown kid failed");
            return first;
        }
        self.ring().verifier.verify(token, now)
    }

    /// The token-signing public keys (current and recently retired).
    pub fn jwks(&self) -> Value {
        self.ring().jwks.clone()
    }

    pub fn supports_tee(&self, tee: &str) -> Result<(), ServiceError> {
        match tee {
            // tdx and sgx are accepted without collateral too: the quote is
            // then refused at verification, naming the missing collateral,
            // which tells an operator more than "unknown TEE".
            "snp" | "tdx" | "sgx" => Ok(()),
            "sample" if self.cfg.insecure_allow_sample_tee => Ok(()),
            "sample" => Err(ServiceError::TeeDisabled(tee.into())),
            other => Err(ServiceError::UnknownTee(other.into())),
        }
    }

    // ---- challenge / attest / release ------------------------------------

    pub async fn challenge(&self, tee: &str, now: i64) -> Result<Challenge, ServiceError> {
        self.supports_tee(tee)?;
        self.admit_session(now).await?;
        // Wall-clock milliseconds only order the ids; `now` (seconds, maybe
        // pinned by tests) stays the protocol's time.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let c = Challenge {
            session_id: session_id(millis)?,
            nonce: random_b64(NONCE_BYTES)?,
            expires_at: now + self.cfg.session.nonce_ttl_secs,
        };
        self.store
            .insert_session(&SessionRecord {
                id: c.session_id.clone(),
                tee: tee.to_owned(),
                nonce: c.nonce.clone(),
                created_at: now,
                expires_at: c.expires_at,
                used: false,
                token: None,
                token_exp: None,
            })
            .await?;
        self.open.opened();
        self.metrics.challenges.fetch_add(1, Relaxed);
        Ok(c)
    }

    /// Refuses a new session while `[session] max_open` sessions await
    /// evidence (see `open_sessions`).
    async fn admit_session(&self, now: i64) -> Result<(), ServiceError> {
        let max = i64::try_from(self.cfg.session.max_open).unwrap_or(i64::MAX);
        if max == 0 || self.open.estimate() < max {
            return Ok(());
        }
        if self.open.claim_count(now) {
            self.count_open_sessions(now).await?;
            if self.open.estimate() < max {
                return Ok(());
            }
        }
        self.metrics.challenges_refused.fetch_add(1, Relaxed);
        Err(ServiceError::Busy(format!(
            "{max} sessions already await evidence (session.max_open); try again later"
        )))
    }

    /// Counts the sessions awaiting evidence again (housekeeping; see
    /// `open_sessions`).
    pub async fn count_open_sessions(&self, now: i64) -> Result<i64, ServiceError> {
        let open = self.store.count_open_sessions(now).await?;
        self.open.counted(open, now);
        Ok(open)
    }

    pub async fn attest(&self, req: AttestRequest, now: i64) -> Result<Attested, ServiceError> {
        let started = Instant::now();
        let result = self.attest_inner(&req, now).await;
        self.metrics
            .attest_latency
            .observe(started.elapsed().as_secs_f64());
        // A successful attestation was recorded with the session's
        // completion, in the same transaction.
        let e = match &result {
            Ok(_) => return result,
            Err(e) => e,
        };
        let check = match e {
            ServiceError::EvidenceRejected { check, .. } => *check,
            _ => "",
        };
        self.metrics.rejected(e.kind(), check);
        // A session this service never issued identifies no one: anyone can
        // send such requests, and each would otherwise add to the log.
        let unknown = matches!(e, ServiceError::Session(m) if *m == UNKNOWN_SESSION);
        if !matches!(e, ServiceError::Store(_)) && !unknown {
            self.audit(
                &format!("tee:{}", req.session_id),
                "attestation",
                "",
                "rejected",
                error_detail(e),
                now,
            )
            .await?;
        }
        result
    }

    /// The audit entry of a successful attestation.
    fn attestation_record(
        session_id: &str,
        claims: &EarClaims,
        measurement: Option<Value>,
        now: i64,
    ) -> NewAuditEntry {
        let sub = claims.submods.get(SUBMOD);
        let detail = json!({
            "status": sub.map(|s| s.status.as_str()),
            "policy": sub.and_then(|s| s.policy_id.clone()),
            "jti": claims.jti,
            "measurement": measurement,
        });
        NewAuditEntry {
            at: now,
            actor: format!("tee:{session_id}"),
            action: "attestation".to_owned(),
            subject: String::new(),
            outcome: "ok".to_owned(),
            detail: crate::request_id::audit_detail(detail),
        }
    }

    async fn attest_inner(&self, req: &AttestRequest, now: i64) -> Result<Attested, ServiceError> {
        if !is_session_id(&req.session_id) {
            return Err(ServiceError::Session(UNKNOWN_SESSION));
        }
        let session = self
            .store
            .session_for_attest(&req.session_id)
            .await?
            .ok_or(ServiceError::Session(UNKNOWN_SESSION))?;
        if session.used {
            return Err(ServiceError::Session("the nonce was already used"));
        }
        if session.expires_at < now {
            return Err(ServiceError::Session("the nonce expired"));
        }
        // Verification runs before the nonce is spent, and the spending is
        // one atomic statement with storing the token; a failed attempt
        // spends the nonce too. Replayed evidence needs no check of its own:
        // it binds the nonce of the session it was made for, which is spent,
        // and no other session's.
        let Appraised {
            attested,
            document,
            recipient,
            measurement,
        } = match self.attest_session(&session, req, now).await {
            Ok(x) => x,
            Err(e) => {
                if self.store.burn_session(&session.id).await? {
                    self.open.spent();
                }
                return Err(e);
            }
        };
        // The KBS protocol's cookie stands for the token afterwards; the
        // native API hands the token to the attester and keeps no copy.
        let keep = req
            .additional_evidence
            .is_some()
            .then_some((attested.token.as_str(), attested.claims.exp));
        let record = Self::attestation_record(&req.session_id, &attested.claims, measurement, now);
        match self
            .store
            .complete_session_audited(&session.id, now, keep, record)
            .await?
            .0
        {
            Completion::Done => {
                self.open.spent();
                self.metrics.appraised(
                    tee_label(&session.tee),
                    attested.claims.overall_status().as_str(),
                );
                let verified = minted::Verified {
                    claims: attested.claims.clone(),
                    document,
                    recipient: Some(Arc::new(recipient)),
                };
                if keep.is_some() {
                    self.minted
                        .put_session(&session.id, verified, attested.token.len());
                } else {
                    self.minted.put_token(&attested.token, verified);
                }
                Ok(attested)
            }
            Completion::Unknown => Err(ServiceError::Session(UNKNOWN_SESSION)),
            Completion::AlreadyUsed => Err(ServiceError::Session("the nonce was already used")),
            Completion::Expired => Err(ServiceError::Session("the nonce expired")),
        }
    }

    /// SEV-SNP evidence, verified with the certificates it carries or,
    /// when it carries no endorsement key, with its VCEK from AMD's KDS
    /// (`[snp] kds_url`). Nothing is fetched for a report that does not
    /// bind this session's nonce and key: fetching costs a request to AMD,
    /// which an unauthenticated caller must not be able to buy freely.
    async fn verify_snp(
        &self,
        evidence: &Value,
        expected: &[u8],
        now: i64,
    ) -> Result<VerifiedEvidence, ServiceError> {
        let (kds, ids, report_data) =
            match (self.snp.verify(evidence, &[], UnixTime(now)), &self.kds) {
                (Ok(v), _) => return Ok(v),
                (
                    Err(SnpFailure::NoEndorsementKey {
                        vcek: Ok(ids),
                        report_data,
                    }),
                    Some(kds),
                ) => (kds, ids, report_data),
                (Err(e), _) => return Err(e.into()),
            };
        if !padded_equal(&report_data, expected) {
            return Err(ServiceError::Binding(
                "report data is not SHA-384 of the canonical runtime data (nonce and TEE public key); its VCEK was not fetched".into(),
            ));
        }
        // Every candidate product (two for a v2 report) until one
        // verifies; a temporary failure is reported as such even when
        // another candidate was simply not found.
        let mut not_found = None;
        let mut failure = None;
        for id in &ids {
            let vcek = match kds.vcek(id, now, &self.metrics).await {
                Ok(der) => der,
                Err(e) if e.is_not_found() => {
                    not_found = Some(e);
                    continue;
                }
                Err(e) => {
                    let stop = e.stops_fetching();
                    failure = Some(e);
                    if stop {
                        break;
                    }
                    continue;
                }
            };
            // AMD's signing keys are compiled in; the product's chain from
            // KDS is asked for only when they do not complete the path
            // (another root, such as a development chain).
            let first = match self
                .snp
                .verify(evidence, std::slice::from_ref(&vcek), UnixTime(now))
            {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let chain = match kds.cert_chain(id.product, now, &self.metrics).await {
                Ok(chain) => chain,
                Err(_) => return Err(first.into()),
            };
            let mut ders = vec![vcek];
            ders.extend(chain);
            return Ok(self.snp.verify(evidence, &ders, UnixTime(now))?);
        }
        match failure.or(not_found) {
            Some(e) => Err(e.to_service_error("endorsement-key", "the report's VCEK")),
            None => Err(crate::evidence::rejected(
                "endorsement-key",
                "no VCEK came with the report",
            )),
        }
    }

    /// Everything between reading the session and spending its nonce:
    /// verification, binding, appraisal and the token.
    async fn attest_session(
        &self,
        session: &SessionRecord,
        req: &AttestRequest,
        now: i64,
    ) -> Result<Appraised, ServiceError> {
        if req.nonce != session.nonce {
            return Err(ServiceError::NonceMismatch);
        }
        let (jwk, recipient) = tee_key(&req.tee_pubkey)?;
        self.supports_tee(&session.tee)?;
        let expected = expected_report_data(
            &session.nonce,
            &req.tee_pubkey,
            req.additional_evidence.as_deref(),
        )?;
        let verified: VerifiedEvidence = match session.tee.as_str() {
            "snp" => self.verify_snp(&req.evidence, &expected, now).await?,
            "tdx" => {
                self.verify_dcap("tdx", &req.evidence, &expected, now)
                    .await?
            }
            "sgx" => {
                self.verify_dcap("sgx", &req.evidence, &expected, now)
                    .await?
            }
            "sample" => verify_sample(&req.evidence)?,
            other => return Err(ServiceError::UnknownTee(other.into())),
        };
        let bound = match verified.tee {
            "snp" | "tdx" | "sgx" => padded_equal(&verified.report_data, &expected),
            _ => verified.report_data == expected,
        };
        if !bound {
            return Err(ServiceError::Binding(
                "report data is not SHA-384 of the canonical runtime data (nonce and TEE public key)".into(),
            ));
        }
        let (init_data_bound, init_data_claims) =
            self.check_init_data(req.init_data.as_ref(), &verified)?;
        let set = self.policy_set();
        let (policy_id, policy) = set.appraisal(verified.tee).ok_or_else(|| {
            ServiceError::Internal(format!("no appraisal policy for {}", verified.tee))
        })?;
        let input = AppraisalInput {
            tee: verified.tee.to_owned(),
            // Read from `claims_doc` instead (see evaluate_document).
            claims: Value::Null,
            // Prepared once per span of validity, below.
            reference: Default::default(),
            binding: Binding {
                report_data_bound: true,
                init_data_bound,
                extra: Default::default(),
            },
            init_data: init_data_claims,
        };
        let reference = set.prepared_reference(now)?;
        let policy_error = |e| ServiceError::Policy(format!("appraisal policy {policy_id}: {e}"));
        // Converted once: the appraisal policy reads these claims, and the
        // resource policy reads them again as the token's annotated evidence.
        let claims_doc = verified.claims.document().map_err(policy_error)?;
        let outcome = policy
            .evaluate_document(&input, claims_doc.clone(), &reference)
            .map_err(policy_error)?;
        // Where Trustee-compatible consumers look for the bound key.
        let mut runtime_data = json!({"nonce": session.nonce, "tee-pubkey": req.tee_pubkey});
        if let Some(a) = &req.additional_evidence {
            runtime_data["additional-evidence"] = json!(a);
        }
        let mut members = vec![(RUNTIME_DATA_CLAIMS, &runtime_data)];
        if let Some(c) = &input.init_data {
            members.push((INIT_DATA_CLAIMS, c));
        }
        let measurement = verified.claims.measurement();
        let annotated = verified
            .claims
            .annotated(&members)
            .map_err(|e| ServiceError::Internal(format!("annotated evidence: {e}")))?;
        let annotated_doc = annotated_document(claims_doc, &members);
        let mut submod = Submod::from_vector(outcome.vector);
        submod.policy_id = Some(policy_id.clone());
        submod.annotated_evidence = Some(annotated);
        if !outcome.reasons.is_empty() {
            submod.policy_claims = Some(json!({"reasons": outcome.reasons}));
        }
        submod.tee_pubkey = Some(jwk);
        let mut claims = EarClaims {
            profile: EAR_PROFILE.to_owned(),
            iat: now,
            exp: now + self.cfg.token.lifetime_secs,
            nbf: None,
            iss: None,
            jti: random_hex(16)?,
            verifier_id: VerifierId {
                developer: self.cfg.token.developer.clone(),
                build: format!("mamori {}", env!("CARGO_PKG_VERSION")),
            },
            nonce: Some(session.nonce.clone()),
            submods: [(SUBMOD.to_owned(), submod)].into_iter().collect(),
        };
        let token = self
            .ring()
            .signer
            .sign(&claims)
            .map_err(|e| ServiceError::Internal(format!("token signing: {e}")))?;
        // A token every verifier (this node's included) would refuse is not
        // issued; the attester controls part of its size (key, init-data).
        if token.len() > mamori_token::jwt::DEFAULT_MAX_TOKEN_LEN {
            return Err(ServiceError::BadRequest(format!(
                "the attestation result would be a {} byte token, over the {} byte limit (runtime data or init-data too large)",
                token.len(),
                mamori_token::jwt::DEFAULT_MAX_TOKEN_LEN
            )));
        }
        let document = annotated_doc.and_then(|a| token_document(&mut claims, SUBMOD, a));
        Ok(Appraised {
            attested: Attested {
                token,
                claims: Arc::new(claims),
            },
            document,
            recipient,
            measurement,
        })
    }

    /// KBS init-data: `{"format": "toml", "body": "<TOML>"}`; its digest
    /// (algorithm named in the TOML) must equal SNP HOST_DATA, TDX
    /// MRCONFIGID or SGX CONFIGID (zero-padded or truncated to the field).
    fn check_init_data(
        &self,
        init: Option<&Value>,
        ev: &VerifiedEvidence,
    ) -> Result<(Option<bool>, Option<Value>), ServiceError> {
        let Some(init) = init.filter(|v| !v.is_null()) else {
            return Ok((None, None));
        };
        let format = init.get("format").and_then(Value::as_str).unwrap_or("");
        if format != "toml" {
            return Err(ServiceError::BadRequest(format!(
                "init-data format {format:?}: only toml is supported"
            )));
        }
        let body = init
            .get("body")
            .and_then(Value::as_str)
            .ok_or_else(|| ServiceError::BadRequest("init-data body missing".into()))?;
        let doc: toml::Value = toml::from_str(body)
            .map_err(|e| ServiceError::BadRequest(format!("init-data TOML: {e}")))?;
        let alg = match doc.get("algorithm").and_then(toml::Value::as_str) {
            Some("sha256") => &aws_lc_rs::digest::SHA256,
            Some("sha384") => &aws_lc_rs::digest::SHA384,
            Some("sha512") => &aws_lc_rs::digest::SHA512,
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "init-data algorithm {other:?}: expected sha256, sha384 or sha512"
                )))
            }
        };
        let digest = aws_lc_rs::digest::digest(alg, body.as_bytes());
        let claims = doc
            .get("data")
            .map(|d| serde_json::to_value(d).unwrap_or(Value::Null));
        let bound = match &ev.host_data {
            Some(h) => {
                let mut expected = digest.as_ref().to_vec();
                expected.resize(h.len(), 0);
                &expected == h
            }
            None => false,
        };
        if !bound {
            let field = match ev.tee {
                "tdx" => "MRCONFIGID",
                "sgx" => "CONFIGID",
                _ => "HOST_DATA",
            };
            return Err(ServiceError::Binding(format!(
                "init-data digest does not match the evidence's {field}"
            )));
        }
        Ok((Some(true), claims))
    }

    /// Verifies a token (or finds an attested session's) and returns its claims.
    async fn credential_claims(
        &self,
        cred: Credential<'_>,
        now: i64,
    ) -> Result<minted::Verified, ServiceError> {
        let token = match cred {
            Credential::Token(t) => {
                if let Some(c) = self.minted.token(t, now) {
                    return Ok(c);
                }
                t.to_owned()
            }
            Credential::Session(id) => {
                if let Some(c) = self.minted.session(id, now) {
                    return Ok(c);
                }
                if !is_session_id(id) {
                    return Err(ServiceError::Session("unknown session"));
                }
                let s = self
                    .store
                    .get_session(id)
                    .await?
                    .ok_or(ServiceError::Session("unknown session"))?;
                match (s.token, s.token_exp) {
                    (Some(t), Some(exp)) if exp > now => t,
                    (Some(_), _) => {
                        return Err(ServiceError::Session("the session's attestation expired"))
                    }
                    _ => return Err(ServiceError::Session("the session is not attested")),
                }
            }
        };
        self.verify_token(&token, now)
            .await
            .map(|c| minted::Verified {
                claims: Arc::new(c),
                document: None,
                recipient: None,
            })
            .map_err(|e| ServiceError::Token(e.to_string()))
    }

    /// Releases the resource at `path` to the attested TEE, as a JWE
    /// encrypted to the key bound in its evidence.
    pub async fn release(
        &self,
        cred: Credential<'_>,
        path: &str,
        now: i64,
    ) -> Result<String, ServiceError> {
        let started = Instant::now();
        let actor = match cred {
            Credential::Token(_) => "tee:token".to_owned(),
            Credential::Session(id) => format!("tee:{}", bounded(id)),
        };
        let result = self.release_inner(cred, path, now).await;
        self.metrics
            .release_latency
            .observe(started.elapsed().as_secs_f64());
        let (outcome, detail) = match &result {
            Ok((jti, _)) => {
                self.metrics.releases_ok.fetch_add(1, Relaxed);
                ("ok", json!({"jti": jti}))
            }
            Err(e @ ServiceError::Denied { .. }) => {
                self.metrics.releases_denied.fetch_add(1, Relaxed);
                ("denied", error_detail(e))
            }
            Err(e) => {
                self.metrics.releases_failed.fetch_add(1, Relaxed);
                ("error", error_detail(e))
            }
        };
        if !matches!(result, Err(ServiceError::Store(_))) {
            self.audit(&actor, "release", bounded(path), outcome, detail, now)
                .await?;
        }
        result.map(|(_, jwe)| jwe)
    }

    async fn release_inner(
        &self,
        cred: Credential<'_>,
        path: &str,
        now: i64,
    ) -> Result<(String, String), ServiceError> {
        check_path(path)?;
        let minted::Verified {
            claims,
            document,
            recipient,
        } = self.credential_claims(cred, now).await?;
        let set = self.policy_set();
        let (policy_id, policy) = set.resource(path);
        let decision = match &document {
            Some(doc) => policy.evaluate_document(doc, path),
            None => {
                // Through serde_json values, never JSON text: regorus's own
                // JSON reader gives special meaning to some object keys
                // (serde_json's arbitrary-precision number marker) that
                // attester-chosen claims could carry.
                let token_json = serde_json::to_value(claims.as_ref())
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                policy.evaluate(&ResourceInput {
                    token: token_json,
                    resource: path.to_owned(),
                })
            }
        }
        .map_err(|e| ServiceError::Policy(format!("resource policy {policy_id}: {e}")))?;
        if !decision.allow {
            let reasons = if decision.reasons.is_empty() {
                format!("resource policy {policy_id} does not allow it")
            } else {
                decision.reasons.join("; ")
            };
            return Err(ServiceError::Denied {
                path: path.to_owned(),
                reasons,
            });
        }
        let key = claims
            .tee_pubkey()
            .ok_or_else(|| ServiceError::TeeKey("the token binds no TEE public key".into()))?;
        let sealed = self
            .store
            .get_resource(path)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("resource {path}")))?;
        let secret = self
            .kek
            .open(&format!("resource/{path}"), &sealed)
            .map_err(|e| ServiceError::Internal(format!("resource {path}: {e}")))?;
        let jwe = match recipient {
            Some(r) => r.encrypt(&secret),
            None => mamori_jwe::encrypt(key, &secret),
        }
        .map_err(|e| ServiceError::TeeKey(e.to_string()))?;
        Ok((claims.jti.clone(), jwe.to_json()))
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        outcome: &str,
        detail: Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        self.store
            .append_audit(&NewAuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: action.to_owned(),
                subject: subject.to_owned(),
                outcome: outcome.to_owned(),
                detail: crate::request_id::audit_detail(detail),
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{
        annotated_document, client_key_mode, load_snp_crls, session_id, tee_key, token_document,
        StartError, SUBMOD,
    };
    use crate::evidence::Claims;
    use mamori_policy::Document;
    use mamori_token::{EarClaims, RawJson, Submod, TrustVector, VerifierId, EAR_PROFILE};
    use serde_json::json;

    #[test]
    fn a_tee_key_no_secret_could_be_encrypted_to_is_refused_before_a_token() {
        let key = mamori_jwe::PrivateKey::generate_ec(mamori_token::jwk::EcCurve::P256).unwrap();
        let good = serde_json::to_value(key.public_jwk()).unwrap();
        let (_, recipient) = tee_key(&good).unwrap();
        assert_eq!(
            recipient.algorithm(),
            mamori_jwe::KeyManagement::EcdhEsA256Kw
        );
        let mut signing_only = good.clone();
        signing_only["use"] = json!("sig");
        let mut wrong_alg = good.clone();
        wrong_alg["alg"] = json!("RSA-OAEP-256");
        let mut rsa1_5 = good.clone();
        rsa1_5["alg"] = json!("RSA1_5");
        let mut off_curve = good;
        off_curve["y"] = off_curve["x"].clone();
        for bad in [signing_only, wrong_alg, off_curve] {
            assert!(
                matches!(tee_key(&bad), Err(crate::ServiceError::TeeKey(_))),
                "{bad}"
            );
        }
        match tee_key(&rsa1_5) {
            Err(crate::ServiceError::TeeKey(m)) => assert!(m.contains("RSA-OAEP-256"), "{m}"),
            other => panic!("RSA1_5 accepted: {:?}", other.map(|k| k.0)),
        }
    }

    /// Claims with no submodule, issued at 0 (shared with the minted map's tests).
    pub(crate) fn bare_claims(exp: i64) -> EarClaims {
        EarClaims {
            profile: EAR_PROFILE.to_owned(),
            iat: 0,
            exp,
            nbf: None,
            iss: None,
            jti: "j".into(),
            verifier_id: VerifierId {
                developer: "d".into(),
                build: "b".into(),
            },
            nonce: None,
            submods: Default::default(),
        }
    }

    fn claims(annotated: serde_json::Value) -> EarClaims {
        let mut sub = Submod::from_vector(TrustVector::default());
        sub.policy_id = Some("p".into());
        sub.annotated_evidence = Some(RawJson::new(&annotated).unwrap());
        EarClaims {
            nonce: Some("n".into()),
            submods: [(SUBMOD.to_owned(), sub)].into_iter().collect(),
            ..bare_claims(2)
        }
    }

    #[test]
    fn the_token_document_equals_the_converted_token() {
        // Numbers of every kind, nesting, keys that sort before and after
        // the others, and a member named like serde_json's number marker.
        let annotated = json!({
            "measurement": "ab".repeat(48),
            "policy": {"debug": false, "abi_major": 0},
            "big": u64::MAX, "neg": -5, "float": 1.5,
            "list": [1, "two", null, {"x": [true]}],
            "$serde_json::private::Number": "1",
            "runtime_data_claims": {"nonce": "n"}
        });
        let mut c = claims(annotated.clone());
        let doc = token_document(&mut c, SUBMOD, Document::from_json(&annotated).unwrap())
            .expect("built");
        let whole = Document::from_json(&serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(doc, whole);
        assert_eq!(
            c.submods[SUBMOD].annotated_evidence,
            Some(RawJson::new(&annotated).unwrap()),
            "the claims are left as they were"
        );
    }

    #[test]
    fn the_annotated_document_equals_the_converted_annotated_evidence() {
        let claims =
            json!({"measurement": "ab", "policy": {"debug": false}, "init_data_claims": 0});
        let rd = json!({"nonce": "n", "tee-pubkey": {"kty": "EC"}});
        let init = json!({"toml": {"a": [1, 2.5]}});
        let members = [("runtime_data_claims", &rd), ("init_data_claims", &init)];
        let annotated = Claims::Json(claims.clone()).annotated(&members).unwrap();
        let mut expected = claims.clone();
        expected["runtime_data_claims"] = rd.clone();
        expected["init_data_claims"] = init.clone();
        assert_eq!(
            annotated.to_value().unwrap(),
            expected,
            "a member is replaced"
        );
        let doc = annotated_document(Document::from_json(&claims).unwrap(), &members);
        assert_eq!(doc, Some(Document::from_json(&expected).unwrap()));
        let not_object = json!([1]);
        let from = Document::from_json(&not_object).unwrap();
        assert!(annotated_document(from, &members).is_none());
        assert_eq!(
            Claims::Json(not_object.clone())
                .annotated(&members)
                .unwrap()
                .to_value()
                .unwrap(),
            not_object,
            "claims that are not an object are kept as they are"
        );
    }

    #[test]
    fn no_token_document_without_annotated_evidence_or_submodule() {
        let mut c = claims(json!({}));
        c.submods.get_mut(SUBMOD).unwrap().annotated_evidence = None;
        let d = Document::from_json(&json!({})).unwrap();
        assert!(token_document(&mut c, SUBMOD, d.clone()).is_none());
        assert!(token_document(&mut c, "gpu0", d).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_client_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("mamori-client-key-{}", std::process::id()));
        std::fs::write(&path, b"key").unwrap();
        for (mode, ok) in [(0o600, true), (0o400, true), (0o644, false), (0o604, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = client_key_mode(&path);
            assert_eq!(got.is_ok(), ok, "{mode:o}: {got:?}");
        }
        // Group read is refused too unless root owns the file.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let root_owned = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&path).unwrap().uid() == 0
        };
        assert_eq!(client_key_mode(&path).is_ok(), root_owned);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn session_ids_sort_by_time_and_stay_unguessable() {
        let a = session_id(1_700_000_000_000).unwrap();
        let b = session_id(1_700_000_000_001).unwrap();
        let c = session_id(1_700_000_000_001).unwrap();
        assert_eq!(a.len(), 12 + 32);
        assert!(a.bytes().all(|x| x.is_ascii_hexdigit()));
        assert!(a < b && a < c);
        assert_ne!(b, c, "the random part differs");
        assert_eq!(&b[..12], &c[..12]);
    }

    #[test]
    fn snp_crl_files_must_hold_a_crl_and_errors_name_the_file() {
        use tee_sim::{SimChainOptions, SnpSimChain};
        let dir = std::env::temp_dir().join(format!("mamori-snp-crls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chain = SnpSimChain::generate(SimChainOptions::default()).unwrap();
        let crl = dir.join("ask.crl");
        std::fs::write(&crl, chain.crl(true, &[], 1_000, 2_000).unwrap()).unwrap();
        let cert = dir.join("ark.pem");
        std::fs::write(&cert, chain.ark_pem()).unwrap();
        let junk = dir.join("junk");
        std::fs::write(&junk, b"junk").unwrap();
        assert_eq!(
            load_snp_crls(std::slice::from_ref(&crl), 1_500)
                .unwrap()
                .len(),
            1
        );
        // Loaded even when stale (chains it covers are then refused).
        assert_eq!(load_snp_crls(&[crl], 3_000).unwrap().len(), 1);
        for (path, reason) in [
            (cert, "no CRL in the file"),
            (junk, "neither PEM nor DER"),
            (dir.join("missing"), "No such file"),
        ] {
            match load_snp_crls(std::slice::from_ref(&path), 1_500) {
                Err(StartError::SnpCrl { path: p, reason: r }) => {
                    assert_eq!(p, path.display().to_string());
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The one configuration file. Every key has a default, so an empty file (or
//! none) gives a working single node: loopback listener, embedded store in
//! `./mamori-data`, sample TEE off.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The longest timeout `[limits]` accepts, seconds (a day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// The longest `shutdown_delay_secs`: a load balancer's health checks see a
/// failing node well within a minute.
pub const MAX_SHUTDOWN_DELAY_SECS: u64 = 60;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listen address. Anything but loopback requires `[tls]`.
    pub listen: SocketAddr,
    /// Where the embedded database and the key-encryption key live.
    pub data_dir: PathBuf,
    pub tls: Option<TlsConfig>,
    pub token: TokenConfig,
    pub session: SessionConfig,
    pub admin: AdminConfig,
    pub kek: KekConfig,
    pub snp: SnpConfig,
    pub dcap: DcapConfig,
    pub limits: LimitsConfig,
    pub audit: AuditConfig,
    pub store: StoreConfig,
    /// Accept the unsigned `sample` TEE (development only; its results are
    /// never affirming). Logged loudly at start-up.
    pub insecure_allow_sample_tee: bool,
    /// Seconds to keep accepting after SIGTERM, `/readyz` answering 503,
    /// before the drain: behind a load balancer, it stops sending new
    /// connections here before the socket closes (0: close at once).
    pub shutdown_delay_secs: u64,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("mamori-data"),
            tls: None,
            token: TokenConfig::default(),
            session: SessionConfig::default(),
            admin: AdminConfig::default(),
            kek: KekConfig::default(),
            snp: SnpConfig::default(),
            dcap: DcapConfig::default(),
            limits: LimitsConfig::default(),
            audit: AuditConfig::default(),
            store: StoreConfig::default(),
            insecure_allow_sample_tee: false,
            shutdown_delay_secs: 0,
            log: LogConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Lifetime of attestation-result tokens, seconds.
    pub lifetime_secs: i64,
    /// Rotate the signing key when it is older than this (0 = never).
    pub rotate_after_secs: i64,
    /// `ear.verifier-id.developer`.
    pub developer: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            lifetime_secs: 300,
            rotate_after_secs: 0,
            developer: "https://github.com/mamori-attestation".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// How long a challenge nonce stays usable, seconds.
    pub nonce_ttl_secs: i64,
    /// Most sessions awaiting evidence (challenged, not yet attested, not
    /// expired) before new challenges are refused with 503; 0 = no limit.
    pub max_open: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            nonce_ttl_secs: 300,
            max_open: 100_000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// PEM public keys (Ed25519 or P-256) whose signed JWTs may administer.
    pub public_keys: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KekConfig {
    /// Key file (32 random bytes, created with mode 0600 on first start).
    /// Relative paths are under `data_dir`.
    pub file: PathBuf,
    /// If set, the hex key is read from this environment variable instead.
    pub env: Option<String>,
}

impl Default for KekConfig {
    fn default() -> Self {
        KekConfig {
            file: PathBuf::from("kek.key"),
            env: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SnpConfig {
    /// Extra SEV-SNP roots trusted besides AMD's pinned ARKs (PEM files),
    /// e.g. the development root of `mamori sim snp`. Logged at start-up.
    pub trust_anchors: Vec<PathBuf>,
    /// AMD certificate revocation lists (DER or PEM files, e.g. from
    /// `https://kdsintf.amd.com/vcek/v1/<product>/crl`), read at start-up
    /// and applied to every SEV-SNP chain whose issuer they name. A CRL
    /// past its nextUpdate makes the chains it covers fail as stale until a
    /// current one is installed (and the server restarted).
    pub crls: Vec<PathBuf>,
    /// AMD's Key Distribution Service, or a caching proxy serving its
    /// paths (e.g. `https://kdsintf.amd.com`). When set, a report that
    /// comes without its VCEK (hosts that provide no certificates) is
    /// verified with the VCEK fetched from there: fetched once per chip
    /// and TCB, kept in the store, verified to AMD's pinned roots like any
    /// certificate a guest sends. Unset (the default), nothing is fetched
    /// and such a report is refused, saying so.
    pub kds_url: Option<String>,
    /// Also trust the CA certificates in this PEM file for `kds_url`
    /// (a proxy with a private certificate); Mozilla's roots always are.
    pub kds_ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DcapConfig {
    /// Intel DCAP collateral for the `tdx` and `sgx` TEEs: files or
    /// directories of certificates, CRLs, PCS TCB info / QE identity bodies
    /// and PCCS or dcap-qvl combined JSON, recognised by content. Read once
    /// at start-up; without it every TDX/SGX quote is refused, naming the
    /// missing item.
    pub collateral: Vec<PathBuf>,
    /// Extra DCAP roots trusted besides Intel's pinned SGX Root CA (PEM or
    /// DER), e.g. a generated test hierarchy. Development only; logged
    /// loudly at start-up.
    pub trust_anchors: Vec<PathBuf>,
    /// Intel's PCS (`https://api.trustedservices.intel.com`) or a PCCS
    /// serving its v4 paths. When set, a quote whose TCB info, QE identity,
    /// PCK CRL or root CA CRL is missing from `collateral`, stale, or for
    /// another platform is verified with them fetched from there (the root
    /// CA CRL from `root_ca_crl_url`), and they are kept in the store; both
    /// CRLs are then required. Unset (the default), nothing is fetched.
    pub pcs_url: Option<String>,
    /// Where the root CA CRL is fetched from, with `pcs_url`. By default
    /// Intel's distribution point
    /// (`https://certificates.trustedservices.intel.com/IntelSGXRootCA.der`)
    /// when `pcs_url` is Intel's PCS, else the PCCS's
    /// `sgx/certification/v4/rootcacrl` under `pcs_url`.
    pub root_ca_crl_url: Option<String>,
    /// Also trust the CA certificates in this PEM file for `pcs_url` (a
    /// PCCS serves a self-signed certificate by default); Mozilla's roots
    /// always are.
    pub pcs_ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Largest resource accepted, bytes.
    pub max_resource_bytes: usize,
    /// Connections served at once (0: no limit). Beyond it the listener
    /// stops accepting, and new connections wait in the kernel's backlog
    /// until one closes. Each connection costs about 40 KiB.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers. The same timer
    /// closes a kept-alive connection idle this long (hyper has one timer
    /// for both), so the default outlasts the 60 s idle timeout of common
    /// load balancers: they close first and never reuse a closed connection.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a whole request body.
    pub body_timeout_secs: u64,
    /// Seconds a response may wait for the client to read before the
    /// connection is closed (counted from the last progress).
    pub send_timeout_secs: u64,
    /// Requests a second each client may make, on average (0: no
    /// per-client limit). A client is an IPv4 address or an IPv6 /64;
    /// health and readiness probes are not counted. Beyond it:
    /// 429 with Retry-After. Off by default: guests behind one NAT share an
    /// address, so the right figure depends on the deployment.
    pub client_requests_per_second: u32,
    /// Requests a client may make at once before the rate applies.
    pub client_burst: u32,
    /// Proxies and load balancers (addresses or CIDR blocks) whose
    /// `X-Forwarded-For` names the client; from any other peer the header
    /// is ignored. Only the proxies' own addresses: a client inside a
    /// trusted range could name any client it likes.
    pub trusted_proxies: Vec<String>,
}

impl LimitsConfig {
    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_timeout_secs)
    }

    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_timeout_secs)
    }

    pub fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.send_timeout_secs)
    }

    /// `trusted_proxies` as networks (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("limits.trusted_proxies {p:?}: expected an address or a CIDR block")
                    })
            })
            .collect()
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 1 << 20,
            max_resource_bytes: 256 << 10,
            max_connections: 4096,
            header_timeout_secs: 75,
            body_timeout_secs: 60,
            send_timeout_secs: 60,
            client_requests_per_second: 0,
            client_burst: 100,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Audit log retention. Every attestation and release adds an entry, so a
/// busy node adds millions a day; by default they are all kept.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Remove entries older than this many days (0: keep every entry). The
    /// entries kept still verify: the chain then starts from the last entry
    /// removed, and each removal is itself an audit entry.
    pub retain_days: u32,
}

/// Where the records live: the embedded SQLite file in `data_dir` (one
/// node), or a PostgreSQL database shared by any number of nodes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A libpq connection string or `postgres://` URL; empty: the embedded
    /// store. Keep the password out of it: see `password_env`.
    pub postgres_url: String,
    /// The environment variable holding the database password, read when
    /// set (it overrides a password in the URL).
    pub password_env: String,
    /// Connections this node keeps to PostgreSQL at most.
    pub pool_size: usize,
    /// A PEM file of CA certificates for the database server's certificate
    /// (besides Mozilla's roots). Set, or with `sslmode=require` in the
    /// URL, or with `client_cert`, the connection is TLS with the
    /// certificate and host name verified; otherwise it is plain.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate (and any intermediates) to present to the
    /// database server, for PostgreSQL's `cert` authentication or
    /// `clientcert=verify-full`; with `client_key`. Set, the connection is
    /// TLS.
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert` (keep it readable by this
    /// service only).
    pub client_key: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            postgres_url: String::new(),
            password_env: "MAMORI_POSTGRES_PASSWORD".into(),
            pool_size: 16,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

impl StoreConfig {
    /// Whether the records live in a database shared with other nodes.
    pub fn is_shared(&self) -> bool {
        !self.postgres_url.is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// tracing filter, e.g. `info` or `mamori=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("listen address {0} is not loopback: configure [tls] (cert, key) to serve beyond this machine")]
    InsecureListener(SocketAddr),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; unknown keys are errors (a typo must not silently
    /// fall back to a default).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks the secure defaults that depend on several keys, and ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.listen.ip().is_loopback() && self.tls.is_none() {
            return Err(ConfigError::InsecureListener(self.listen));
        }
        if self.token.lifetime_secs <= 0 {
            return Err(ConfigError::Invalid(
                "token.lifetime_secs must be positive".into(),
            ));
        }
        if self.session.nonce_ttl_secs <= 0 {
            return Err(ConfigError::Invalid(
                "session.nonce_ttl_secs must be positive".into(),
            ));
        }
        for (key, secs) in [
            ("header_timeout_secs", self.limits.header_timeout_secs),
            ("body_timeout_secs", self.limits.body_timeout_secs),
            ("send_timeout_secs", self.limits.send_timeout_secs),
        ] {
            // hyper adds the header timeout to an Instant, which panics on
            // overflow; a day is far beyond any use.
            if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "limits.{key} {secs}: expected 1 to {MAX_TIMEOUT_SECS}"
                )));
            }
        }
        self.limits
            .trusted_proxy_nets()
            .map_err(ConfigError::Invalid)?;
        if self.limits.client_requests_per_second > 0 && self.limits.client_burst == 0 {
            return Err(ConfigError::Invalid(
                "limits.client_burst must be at least 1 with a client rate".into(),
            ));
        }
        if !self.limits.trusted_proxies.is_empty() && self.limits.client_requests_per_second == 0 {
            return Err(ConfigError::Invalid(
                "limits.trusted_proxies is set without limits.client_requests_per_second".into(),
            ));
        }
        if self.shutdown_delay_secs > MAX_SHUTDOWN_DELAY_SECS {
            return Err(ConfigError::Invalid(format!(
                "shutdown_delay_secs {}: expected at most {MAX_SHUTDOWN_DELAY_SECS}",
                self.shutdown_delay_secs
            )));
        }
        for (key, url, ca) in [
            ("snp.kds_ca_file", &self.snp.kds_url, &self.snp.kds_ca_file),
            (
                "dcap.pcs_ca_file",
                &self.dcap.pcs_url,
                &self.dcap.pcs_ca_file,
            ),
        ] {
            if ca.is_some() && url.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "{key} is set without its URL"
                )));
            }
        }
        if let Some(url) = &self.dcap.pcs_url {
            crate::fetch::check_url(url)
                .map_err(|e| ConfigError::Invalid(format!("dcap.pcs_url {e}")))?;
        }
        if let Some(url) = &self.dcap.root_ca_crl_url {
            if self.dcap.pcs_url.is_none() {
                return Err(ConfigError::Invalid(
                    "dcap.root_ca_crl_url is set without dcap.pcs_url".into(),
                ));
            }
            crate::fetch::check_item_url(url)
                .map_err(|e| ConfigError::Invalid(format!("dcap.root_ca_crl_url {e}")))?;
        }
        if let Some(url) = &self.snp.kds_url {
            crate::fetch::check_url(url)
                .map_err(|e| ConfigError::Invalid(format!("snp.kds_url {e}")))?;
        }
        for (key, set) in [
            ("store.ca_file", self.store.ca_file.is_some()),
            ("store.client_cert", self.store.client_cert.is_some()),
            ("store.client_key", self.store.client_key.is_some()),
        ] {
            if set && !self.store.is_shared() {
                return Err(ConfigError::Invalid(format!(
                    "{key} is set without store.postgres_url"
                )));
            }
        }
        if self.store.client_cert.is_some() != self.store.client_key.is_some() {
            return Err(ConfigError::Invalid(
                "store.client_cert and store.client_key go together: set both or neither".into(),
            ));
        }
        if !(1..=1024).contains(&self.store.pool_size) {
            return Err(ConfigError::Invalid(format!(
                "store.pool_size {}: expected 1 to 1024",
                self.store.pool_size
            )));
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "log.format {:?}: expected text or json",
                self.log.format
            )));
        }
        Ok(())
    }

    /// The key file path, resolved against `data_dir`.
    pub fn kek_path(&self) -> PathBuf {
        if self.kek.file.is_absolute() {
            self.kek.file.clone()
        } else {
            self.data_dir.join(&self.kek.file)
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("mamori.db")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn typos_are_errors() {
        assert!(Config::from_toml("listne = \"127.0.0.1:1\"").is_err());
        assert!(Config::from_toml("[token]\nlifetime = 5").is_err());
    }

    #[test]
    fn public_listener_needs_tls() {
        let c = Config::from_toml("listen = \"0.0.0.0:8080\"").unwrap();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InsecureListener(_))
        ));
        let c = Config::from_toml(
            "listen = \"0.0.0.0:8080\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"",
        )
        .unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn timeouts_are_bounded() {
        for key in [
            "header_timeout_secs",
            "body_timeout_secs",
            "send_timeout_secs",
        ] {
            for bad in [0, MAX_TIMEOUT_SECS + 1, i64::MAX as u64] {
                let c = Config::from_toml(&format!("[limits]\n{key} = {bad}")).unwrap();
                let e = c.validate().unwrap_err().to_string();
                assert!(e.contains(key), "{e}");
            }
            let c = Config::from_toml(&format!("[limits]\n{key} = {MAX_TIMEOUT_SECS}")).unwrap();
            c.validate().unwrap();
        }
    }

    #[test]
    fn the_shutdown_delay_is_bounded() {
        let c = Config::from_toml(&format!(
            "shutdown_delay_secs = {}",
            MAX_SHUTDOWN_DELAY_SECS + 1
        ))
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("shutdown_delay_secs"), "{e}");
        let c =
            Config::from_toml(&format!("shutdown_delay_secs = {MAX_SHUTDOWN_DELAY_SECS}")).unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn per_client_limits_are_checked() {
        let ok = Config::from_toml(
            "[limits]\nclient_requests_per_second = 20\nclient_burst = 40\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"2001:db8::/32\"]",
        )
        .unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.limits.trusted_proxy_nets().unwrap().len(), 3);
        for (bad, key) in [
            (
                "client_requests_per_second = 5\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "10.0.0.0/33",
            ),
            (
                "client_requests_per_second = 5\ntrusted_proxies = [\"proxy.internal\"]",
                "proxy.internal",
            ),
            (
                "client_requests_per_second = 5\nclient_burst = 0",
                "client_burst",
            ),
            (
                "trusted_proxies = [\"10.0.0.1\"]",
                "without limits.client_requests_per_second",
            ),
        ] {
            let c = Config::from_toml(&format!("[limits]\n{bad}")).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_a_database() {
        let shared = "[store]\npostgres_url = \"host=db user=mamori\"\n";
        let ok = Config::from_toml(&format!(
            "{shared}client_cert = \"c.pem\"\nclient_key = \"k.pem\""
        ))
        .unwrap();
        ok.validate().unwrap();
        for (toml, says) in [
            (
                format!("{shared}client_cert = \"c.pem\""),
                "store.client_cert and store.client_key go together",
            ),
            (
                format!("{shared}client_key = \"k.pem\""),
                "store.client_cert and store.client_key go together",
            ),
            (
                "[store]\nclient_cert = \"c.pem\"\nclient_key = \"k.pem\"".to_owned(),
                "store.client_cert is set without store.postgres_url",
            ),
        ] {
            let e = Config::from_toml(&toml)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn dcap_section() {
        let c = Config::from_toml(
            "[dcap]\ncollateral = [\"pcs/\", \"tcbinfo.json\"]\ntrust_anchors = [\"root.pem\"]",
        )
        .unwrap();
        assert_eq!(c.dcap.collateral.len(), 2);
        assert_eq!(c.dcap.trust_anchors, vec![PathBuf::from("root.pem")]);
        assert!(Config::from_toml("[dcap]\ncolateral = []").is_err());
    }
}

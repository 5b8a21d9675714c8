//! A real server on loopback and a guest that speaks to it, for the HTTP
//! tests: a simulated SEV-SNP platform, the guest's key, the KBS protocol's
//! evidence JSON and JWE decryption — written the way a Confidential
//! Containers guest performs them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use mamori_agent::{EvidenceSource, SimulatedSnp, TeeKey};
use mamori_service::{Config, Service};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tee_sim::{ReportOptions, SimChainOptions, SnpSimChain};

pub const MEASUREMENT: [u8; 48] = [0x5a; 48];

pub fn chain_arc() -> Arc<SnpSimChain> {
    static C: OnceLock<Arc<SnpSimChain>> = OnceLock::new();
    C.get_or_init(|| Arc::new(SnpSimChain::generate(SimChainOptions::default()).unwrap()))
        .clone()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mamori-server-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct TestServer {
    pub url: String,
    pub dir: PathBuf,
    pub admin_private: String,
    pub svc: Arc<Service>,
    pub task: tokio::task::JoinHandle<()>,
    pub client: reqwest::Client,
}

impl TestServer {
    pub async fn start(name: &str) -> TestServer {
        Self::start_in(temp_dir(name), |_| {}).await
    }

    pub async fn start_in(dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let admin_private_path = dir.join("admin.key");
        let admin_public_path = dir.join("admin.pub");
        if !admin_private_path.exists() {
            let (private, public) = mamori_service::admin::generate_key_pair().unwrap();
            std::fs::write(&admin_private_path, private).unwrap();
            std::fs::write(&admin_public_path, public).unwrap();
            std::fs::write(dir.join("ark.pem"), chain_arc().ark_pem()).unwrap();
        }
        let mut cfg = Config {
            data_dir: dir.join("data"),
            insecure_allow_sample_tee: true,
            ..Config::default()
        };
        cfg.admin.public_keys = vec![admin_public_path];
        cfg.snp.trust_anchors = vec![dir.join("ark.pem")];
        cfg.limits.max_body_bytes = 256 * 1024;
        tweak(&mut cfg);
        let svc = Service::start(cfg, mamori_server::now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = svc.clone();
        let task = tokio::spawn(async move {
            mamori_server::serve(listener, served, std::future::pending())
                .await
                .unwrap();
        });
        TestServer {
            url: format!("http://{addr}"),
            dir: dir.clone(),
            admin_private: std::fs::read_to_string(&admin_private_path).unwrap(),
            svc,
            task,
            client: mamori_agent::http_client(None).unwrap(),
        }
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        self.svc.store().close().await;
    }

    pub fn admin_token(&self) -> String {
        mamori_service::admin::sign_token(self.admin_private.as_bytes(), mamori_server::now(), 300)
            .unwrap()
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn admin_put(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .put(format!("{}{path}", self.url))
            .bearer_auth(self.admin_token())
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /kbs/v0/auth` for `tee`: (session cookie, nonce).
    pub async fn kbs_auth(&self, tee: &str) -> (String, String) {
        let r = self
            .client
            .post(format!("{}/kbs/v0/auth", self.url))
            .json(&json!({"version": "0.4.0", "tee": tee, "extra-params": {"supported-hash-algorithms": ["sha384"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = session_cookie(&r).expect("kbs-session-id cookie");
        let c: Value = r.json().await.unwrap();
        (cookie, c["nonce"].as_str().unwrap().to_owned())
    }

    /// `POST /v1/challenge` for `tee`: `{"session_id", "nonce", "expires_at"}`.
    pub async fn challenge(&self, tee: &str) -> Value {
        self.client
            .post(format!("{}/v1/challenge", self.url))
            .json(&json!({"tee": tee}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST /v1/attest` for a challenge, with the guest's evidence bound to
    /// its nonce and key.
    pub async fn native_attest(&self, challenge: &Value, g: &Guest) -> reqwest::Response {
        let nonce = challenge["nonce"].as_str().expect("a challenge nonce");
        self.client
            .post(format!("{}/v1/attest", self.url))
            .json(&json!({"session_id": challenge["session_id"], "nonce": nonce, "tee_pubkey": g.jwk(), "evidence": g.native_evidence(nonce)}))
            .send()
            .await
            .unwrap()
    }

    /// `POST /kbs/v0/attest` with the session cookie and a raw body.
    /// `GET /kbs/v0/resource/{path}` with the session cookie.
    pub async fn kbs_resource(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/kbs/v0/resource/{path}", self.url))
            .header("cookie", format!("kbs-session-id={cookie}"))
            .send()
            .await
            .unwrap()
    }

    /// `GET /kbs/v0/resource/{path}` with the token as a bearer.
    pub async fn kbs_resource_with_token(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/kbs/v0/resource/{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn kbs_post_attest(&self, cookie: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/kbs/v0/attest", self.url))
            .header("cookie", format!("kbs-session-id={cookie}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Sets the resource policy of a path prefix, as an operator would.
    pub async fn set_resource_policy(&self, prefix: &str, policy: &str) {
        let r = self
            .admin_put(
                "/v1/admin/resource-policy",
                json!({"prefix": prefix, "policy": policy})
                    .to_string()
                    .into_bytes(),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Registers the expected measurement and a secret, as an operator would.
    pub async fn provision(&self, resource: &str, secret: &[u8]) {
        let r = self
            .admin_put(
                "/v1/admin/reference-value",
                json!({"name": "snp_launch_measurement", "values": [hex::encode(MEASUREMENT)]})
                    .to_string()
                    .into_bytes(),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = self
            .admin_put(&format!("/v1/admin/resource/{resource}"), secret.to_vec())
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// The guest: its ephemeral key (EC P-256, the guest default) and a
/// simulated TEE launched with `measurement` and `policy` — the attester
/// side of `mamori-agent`.
pub struct Guest {
    pub key: TeeKey,
    pub measurement: [u8; 48],
    pub policy: u64,
}

impl Guest {
    pub fn new() -> Guest {
        Guest {
            key: TeeKey::generate().unwrap(),
            measurement: MEASUREMENT,
            policy: 0x30000,
        }
    }

    fn source(&self) -> SimulatedSnp {
        SimulatedSnp {
            chain: chain_arc(),
            options: ReportOptions {
                measurement: self.measurement,
                policy: self.policy,
                ..ReportOptions::default()
            },
        }
    }

    /// The `tee-pubkey` JWK as the KBS client sends it.
    pub fn jwk(&self) -> Value {
        self.key.jwk()
    }

    /// REPORT_DATA binding `nonce` and this key (KBS adds `additional-evidence`).
    pub fn report_data(&self, nonce: &str, kbs: bool) -> [u8; 64] {
        mamori_agent::report_data(nonce, &self.jwk(), kbs.then_some("")).unwrap()
    }

    /// `primary_evidence` for the `snp` TEE, as the CoCo attester sends it.
    pub fn kbs_evidence(&self, nonce: &str) -> Value {
        self.source()
            .evidence(&self.report_data(nonce, true), true)
            .unwrap()
    }

    /// The body of `POST /kbs/v0/attest` as the stock KBS client sends it
    /// for `nonce`.
    pub fn kbs_attest_body(&self, nonce: &str) -> Value {
        json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": self.jwk()},
            "tee-evidence": {"primary_evidence": self.kbs_evidence(nonce), "additional_evidence": ""},
        })
    }

    /// Mamori's native evidence form.
    pub fn native_evidence(&self, nonce: &str) -> Value {
        self.source()
            .evidence(&self.report_data(nonce, false), false)
            .unwrap()
    }

    pub fn decrypt(&self, jwe: &str) -> Vec<u8> {
        self.key.decrypt(jwe).unwrap()
    }
}

/// The `kbs-session-id` value of a response's Set-Cookie.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    mamori_agent::session_cookie(r.headers())
}

/// A server whose shutdown the test triggers.
pub struct StoppableServer {
    pub svc: Arc<Service>,
    pub addr: std::net::SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<(), String>>,
}

impl StoppableServer {
    /// A server on the defaults with its data under `dir`, then `tweak`.
    pub async fn start_in(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut cfg = Config {
            data_dir: dir.join("data"),
            ..Config::default()
        };
        tweak(&mut cfg);
        Self::start(cfg).await
    }

    pub async fn start(cfg: Config) -> StoppableServer {
        let svc = Service::start(cfg, mamori_server::now()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = svc.clone();
        let task = tokio::spawn(async move {
            mamori_server::serve(listener, served, async {
                let _ = stopped.await;
            })
            .await
        });
        StoppableServer {
            svc,
            addr,
            stop,
            task,
        }
    }
}

/// The body of a KBS challenge request.
pub const AUTH_BODY: &[u8] = br#"{"version":"0.4.0","tee":"snp","extra-params":""}"#;

/// Sends the head of a KBS challenge request with `Expect: 100-continue`
/// and waits for `100 Continue`, which hyper sends once the handler reads
/// the body: the request is then in flight, its body still to come.
pub async fn begin_request_in_flight<S>(s: &mut S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /kbs/v0/auth HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        AUTH_BODY.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        seen.push(b[0]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 100"), "{seen:?}");
}

/// Asserts an error's status and kind (the KBS error type's last segment),
/// and that its detail says `needle`; returns the detail.
pub async fn expect_error(r: reqwest::Response, status: u16, kind: &str, needle: &str) -> String {
    let got_status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    let got_kind = v["type"].as_str().unwrap_or_default().rsplit('/').next();
    let detail = v["detail"].as_str().unwrap_or_default().to_owned();
    assert_eq!((got_status, got_kind), (status, Some(kind)), "{detail}");
    assert!(detail.contains(needle), "{detail}");
    detail
}

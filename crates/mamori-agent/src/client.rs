use crate::{report_data, EvidenceSource, TeeKey};
use serde_json::{json, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("HTTP: {0}")]
    Http(String),
    #[error(
        "{step}: server answered {status}: {detail}{}",
        request_note(request_id)
    )]
    Refused {
        step: &'static str,
        status: u16,
        kind: String,
        detail: String,
        /// The answer's `X-Request-Id`: what the server's operator needs to
        /// find the request in the log and the audit trail.
        request_id: Option<String>,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("evidence: {0}")]
    Evidence(String),
    #[error("crypto: {0}")]
    Crypto(String),
}

/// Most bytes read from a broker's response: a JWE of the largest resource
/// with room to spare. A broker that sends more is refused, not buffered.
const MAX_RESPONSE: usize = 16 << 20;

/// The response body of `step`, read up to [`MAX_RESPONSE`] bytes.
async fn body(step: &str, mut r: reqwest::Response) -> Result<Vec<u8>, AgentError> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(http)? {
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(AgentError::Protocol(format!(
                "{step}: the response exceeds {MAX_RESPONSE} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The response body of `step` as JSON (bounded).
async fn json_body(step: &str, r: reqwest::Response) -> Result<Value, AgentError> {
    serde_json::from_slice(&body(step, r).await?)
        .map_err(|e| AgentError::Protocol(format!("{step}: the response is not JSON: {e}")))
}

/// The response body of `step` as text (bounded).
async fn text_body(step: &str, r: reqwest::Response) -> Result<String, AgentError> {
    String::from_utf8(body(step, r).await?)
        .map_err(|_| AgentError::Protocol(format!("{step}: the response is not UTF-8")))
}

async fn check(step: &'static str, r: reqwest::Response) -> Result<reqwest::Response, AgentError> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status().as_u16();
    let request_id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(64).collect());
    let body: Value = json_body(step, r).await.unwrap_or(Value::Null);
    let kind = body
        .get("error")
        .or_else(|| body.get("type"))
        .and_then(Value::as_str)
        .map(|t| t.rsplit('/').next().unwrap_or(t).to_owned())
        .unwrap_or_default();
    let detail = body
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Err(AgentError::Refused {
        step,
        status,
        kind,
        detail,
        request_id,
    })
}

fn request_note(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

fn http(e: reqwest::Error) -> AgentError {
    AgentError::Http(e.to_string())
}

/// A client of the KBS 0.4.0 protocol, as a Confidential Containers guest
/// runs it: `auth` → `attest` (cookie) → `resource` (cookie or token).
pub struct KbsClient {
    base: String,
    http: reqwest::Client,
}

impl KbsClient {
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        KbsClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// RCAR; returns (session cookie value, token).
    pub async fn attest(
        &self,
        source: &dyn EvidenceSource,
        key: &TeeKey,
    ) -> Result<(String, String), AgentError> {
        let r = self
            .http
            .post(format!("{}/kbs/v0/auth", self.base))
            .json(&json!({"version": "0.4.0", "tee": source.tee(), "extra-params": {"supported-hash-algorithms": ["sha384"]}}))
            .send()
            .await
            .map_err(http)?;
        let r = check("auth", r).await?;
        let cookie = session_cookie(r.headers())
            .ok_or_else(|| AgentError::Protocol("auth: no kbs-session-id cookie".into()))?;
        let challenge: Value = json_body("auth", r).await?;
        let nonce = challenge["nonce"]
            .as_str()
            .ok_or_else(|| AgentError::Protocol("auth: no nonce".into()))?
            .to_owned();
        let jwk = key.jwk();
        let rd = report_data(&nonce, &jwk, Some(""))?;
        let evidence = source.evidence(&rd, true)?;
        let body = json!({
            "init-data": null,
            "runtime-data": {"nonce": nonce, "tee-pubkey": jwk},
            "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
        });
        let r = self
            .http
            .post(format!("{}/kbs/v0/attest", self.base))
            .header(reqwest::header::COOKIE, format!("kbs-session-id={cookie}"))
            .json(&body)
            .send()
            .await
            .map_err(http)?;
        let r = check("attest", r).await?;
        let v: Value = json_body("attest", r).await?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| AgentError::Protocol("attest: no token".into()))?
            .to_owned();
        Ok((cookie, token))
    }

    /// Fetches a resource with the session cookie and decrypts it.
    pub async fn resource(
        &self,
        cookie: &str,
        key: &TeeKey,
        path: &str,
    ) -> Result<Vec<u8>, AgentError> {
        let r = self
            .http
            .get(format!("{}/kbs/v0/resource/{path}", self.base))
            .header(reqwest::header::COOKIE, format!("kbs-session-id={cookie}"))
            .send()
            .await
            .map_err(http)?;
        let r = check("resource", r).await?;
        key.decrypt(&text_body("resource", r).await?)
    }
}

/// The outcome of a native attestation: the token and what the verifier
/// concluded.
#[derive(Clone, Debug)]
pub struct Passport {
    pub token: String,
    pub status: String,
    pub reasons: Vec<String>,
    pub response: Value,
}

/// A client of Mamori's native API.
pub struct NativeClient {
    base: String,
    http: reqwest::Client,
}

impl NativeClient {
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        NativeClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    async fn challenge(&self, tee: &str) -> Result<(String, String), AgentError> {
        let r = self
            .http
            .post(format!("{}/v1/challenge", self.base))
            .json(&json!({"tee": tee}))
            .send()
            .await
            .map_err(http)?;
        let v: Value = json_body("challenge", check("challenge", r).await?).await?;
        match (v["session_id"].as_str(), v["nonce"].as_str()) {
            (Some(s), Some(n)) => Ok((s.to_owned(), n.to_owned())),
            _ => Err(AgentError::Protocol("challenge: malformed response".into())),
        }
    }

    async fn body(&self, source: &dyn EvidenceSource, key: &TeeKey) -> Result<Value, AgentError> {
        let (session, nonce) = self.challenge(source.tee()).await?;
        let jwk = key.jwk();
        let rd = report_data(&nonce, &jwk, None)?;
        Ok(
            json!({"session_id": session, "nonce": nonce, "tee_pubkey": jwk, "evidence": source.evidence(&rd, false)?}),
        )
    }

    /// Passport model: challenge → attest; returns the token and appraisal.
    pub async fn attest(
        &self,
        source: &dyn EvidenceSource,
        key: &TeeKey,
    ) -> Result<Passport, AgentError> {
        let body = self.body(source, key).await?;
        let r = self
            .http
            .post(format!("{}/v1/attest", self.base))
            .json(&body)
            .send()
            .await
            .map_err(http)?;
        let v: Value = json_body("attest", check("attest", r).await?).await?;
        Ok(Passport {
            token: v["token"].as_str().unwrap_or_default().to_owned(),
            status: v["status"].as_str().unwrap_or_default().to_owned(),
            reasons: v["reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            response: v,
        })
    }

    /// Fetches a resource with a token and decrypts it.
    pub async fn resource(
        &self,
        token: &str,
        key: &TeeKey,
        path: &str,
    ) -> Result<Vec<u8>, AgentError> {
        let r = self
            .http
            .get(format!("{}/v1/resource/{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(http)?;
        let r = check("resource", r).await?;
        key.decrypt(&text_body("resource", r).await?)
    }

    /// Background-check model: evidence and release in one request.
    pub async fn release(
        &self,
        source: &dyn EvidenceSource,
        key: &TeeKey,
        path: &str,
    ) -> Result<Vec<u8>, AgentError> {
        let body = self.body(source, key).await?;
        let r = self
            .http
            .post(format!("{}/v1/release/{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(http)?;
        let r = check("release", r).await?;
        key.decrypt(&text_body("release", r).await?)
    }
}

/// The `kbs-session-id` value a KBS sets with its `/auth` response.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()?
                .trim()
                .strip_prefix("kbs-session-id=")
                .map(str::to_owned)
        })
}

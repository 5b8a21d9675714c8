//! `mamori admin`: a client of the native admin API, authenticated by a JWT
//! signed with the operator's Ed25519 key.

use crate::cli::{
    AdminArgs, AdminCommand, AuditCommand, PolicyCommand, ReferenceCommand, ResourceCommand,
};
use crate::output::outln;
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// A client of the native admin API (also used by `demo` and `bench` to
/// provision the servers they start).
pub(crate) struct Client {
    url: String,
    key: Vec<u8>,
    http: reqwest::Client,
}

/// The admin URL path of resource `path`, checked here too: the URL
/// parser would drop a `#…` or `?…` and resolve `..` before the server
/// could refuse the path.
fn resource_url(path: &str) -> Result<String, String> {
    mamori_service::check_path(path).map_err(|e| e.to_string())?;
    Ok(format!("/v1/admin/resource/{path}"))
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

impl Client {
    pub(crate) fn new(url: &str, private_key: &[u8], ca: Option<&Path>) -> Result<Self, String> {
        Ok(Client {
            url: url.to_owned(),
            key: private_key.to_vec(),
            http: mamori_agent::http_client_with_ca_file(ca)?,
        })
    }

    fn token(&self) -> Result<String, String> {
        mamori_service::admin::sign_token(&self.key, mamori_server::now(), 120)
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')))
            .bearer_auth(self.token()?);
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.map_err(|e| format!("{}: {e}", self.url))?;
        let status = r.status();
        // What the server's operator needs to find the request in the log
        // and the audit trail.
        let request_id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|id| format!(" (request id {})", id.chars().take(64).collect::<String>()))
            .unwrap_or_default();
        let text = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            return Err(format!("{status}: {detail}{request_id}"));
        }
        Ok(if text.is_empty() {
            json!({"ok": true})
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        })
    }
}

fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), String> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let _ = private;
    let mut f = o
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents).map_err(|e| e.to_string())
}

async fn run_inner(a: &AdminArgs) -> Result<Value, String> {
    use reqwest::Method;
    if let AdminCommand::Keygen { out } = &a.command {
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let (private, public) = mamori_service::admin::generate_key_pair()?;
        write_new(&out.join("admin.key"), private.as_bytes(), true)?;
        write_new(&out.join("admin.pub"), public.as_bytes(), false)?;
        return Ok(json!({
            "private_key": out.join("admin.key"),
            "public_key": out.join("admin.pub"),
            "next": format!("mamori serve --admin-public-key {}", out.join("admin.pub").display()),
        }));
    }
    let key_path = a.key.as_ref().ok_or("--key PRIVATE_KEY_FILE is required")?;
    if mamori_agent::is_unauthenticated_remote(&a.url) {
        // The admin token, and a resource's plaintext, would cross the
        // network unencrypted to a server nothing authenticates.
        eprintln!(
            "mamori admin: warning: {} is plain HTTP to another machine; the admin token and any secret sent are exposed (use https)",
            a.url
        );
    }
    let c = Client::new(&a.url, &read(key_path)?, a.ca.as_deref())?;
    match &a.command {
        AdminCommand::Keygen { .. } => unreachable_keygen(),
        AdminCommand::Resource(ResourceCommand::Set { path, file }) => {
            c.send(Method::PUT, &resource_url(path)?, Some(read(file)?))
                .await
        }
        AdminCommand::Resource(ResourceCommand::Delete { path }) => {
            c.send(Method::DELETE, &resource_url(path)?, None).await
        }
        AdminCommand::Resource(ResourceCommand::List) => {
            c.send(Method::GET, "/v1/admin/resources", None).await
        }
        AdminCommand::ResourcePolicy(PolicyCommand::Set { target, file }) => {
            let policy = String::from_utf8(read(file)?)
                .map_err(|_| "policy file is not UTF-8".to_owned())?;
            let body = json!({"prefix": target, "policy": policy})
                .to_string()
                .into_bytes();
            c.send(Method::PUT, "/v1/admin/resource-policy", Some(body))
                .await
        }
        AdminCommand::AttestationPolicy(PolicyCommand::Set { target, file }) => {
            let policy = String::from_utf8(read(file)?)
                .map_err(|_| "policy file is not UTF-8".to_owned())?;
            let body = json!({"tee": target, "policy": policy})
                .to_string()
                .into_bytes();
            c.send(Method::PUT, "/v1/admin/attestation-policy", Some(body))
                .await
        }
        AdminCommand::ResourcePolicy(PolicyCommand::List)
        | AdminCommand::AttestationPolicy(PolicyCommand::List) => {
            c.send(Method::GET, "/v1/admin/policies", None).await
        }
        AdminCommand::ReferenceValue(ReferenceCommand::Set {
            name,
            values,
            expires_in,
        }) => {
            let expires_at = expires_in.map(|s| mamori_server::now() + s);
            let vals: Vec<Value> = values
                .iter()
                .map(|v| {
                    serde_json::from_str::<Value>(v)
                        .ok()
                        .filter(|j| j.is_number() || j.is_boolean())
                        .unwrap_or(json!(v))
                })
                .collect();
            let body = json!({"name": name, "values": vals, "expires_at": expires_at})
                .to_string()
                .into_bytes();
            c.send(Method::PUT, "/v1/admin/reference-value", Some(body))
                .await
        }
        AdminCommand::ReferenceValue(ReferenceCommand::List) => {
            c.send(Method::GET, "/v1/admin/reference-values", None)
                .await
        }
        AdminCommand::Audit(AuditCommand::List { after, limit }) => {
            c.send(
                Method::GET,
                &format!("/v1/admin/audit?after={after}&limit={limit}"),
                None,
            )
            .await
        }
        AdminCommand::Audit(AuditCommand::Verify) => {
            c.send(Method::GET, "/v1/admin/audit/verify", None).await
        }
        AdminCommand::RotateSigningKey => {
            c.send(Method::POST, "/v1/admin/signing-key/rotate", None)
                .await
        }
        AdminCommand::DryRun {
            kind,
            input,
            policy,
            tee,
            path,
        } => {
            let input: Value =
                serde_json::from_slice(&read(input)?).map_err(|e| format!("--input: {e}"))?;
            let policy = match policy {
                Some(p) => Some(
                    String::from_utf8(read(p)?)
                        .map_err(|_| "policy file is not UTF-8".to_owned())?,
                ),
                None => None,
            };
            let body =
                json!({"kind": kind, "input": input, "policy": policy, "tee": tee, "path": path})
                    .to_string()
                    .into_bytes();
            c.send(Method::POST, "/v1/admin/policy/dry-run", Some(body))
                .await
        }
    }
}

fn unreachable_keygen() -> Result<Value, String> {
    Err("keygen is handled before connecting".into())
}

pub fn run(a: &AdminArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mamori admin: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_inner(a)) {
        Ok(v) => {
            // `audit verify` exits 1 when the chain is broken.
            let broken = v.get("first_broken").is_some_and(|b| !b.is_null());
            outln(&serde_json::to_string_pretty(&v).unwrap_or_default());
            if broken {
                eprintln!(
                    "mamori admin: the audit chain is broken at entry {}",
                    v["first_broken"]
                );
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("mamori admin: {e}");
            ExitCode::from(1)
        }
    }
}

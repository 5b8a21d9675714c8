//! The Confidential Containers key-broker protocol 0.4.0 (see
//! docs/kbs-protocol.md): RCAR (`auth`, `attest`) with a session cookie, and
//! resources fetched with the cookie or a bearer token, as JWE.

use crate::error::{Api, ApiError};
use crate::extract::{bearer, cookie, parse_json, read_body, ApiPath};
use crate::{now, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use mamori_service::{AttestRequest, Credential, ServiceError};
use serde::Deserialize;
use serde_json::{json, Value};

pub const COOKIE: &str = "kbs-session-id";
pub const PROTOCOL_VERSION: &str = "0.4.0";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/kbs/v0/auth", post(auth))
        .route("/kbs/v0/attest", post(attest))
        .route(
            "/kbs/v0/resource/{repo}/{kind}/{tag}",
            axum::routing::get(resource)
                .post(crate::admin::kbs_set_resource)
                .delete(crate::admin::kbs_delete_resource),
        )
}

fn svc_err(e: ServiceError) -> ApiError {
    ApiError::from_service(Api::Kbs, e)
}

fn set_cookie(s: &AppState, id: &str) -> HeaderValue {
    let ttl = s
        .svc
        .config()
        .session
        .nonce_ttl_secs
        .max(s.svc.config().token.lifetime_secs);
    // No `Secure` on plain HTTP: the client's cookie store would never send
    // it back. Path covers /attest and /resource.
    let secure = if s.svc.config().tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/kbs/v0; Max-Age={ttl}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize)]
struct AuthBody {
    version: String,
    tee: String,
    #[serde(rename = "extra-params", default)]
    _extra_params: Value,
}

async fn auth(State(s): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    let b: AuthBody = parse_json(Api::Kbs, &bytes)?;
    if b.version != PROTOCOL_VERSION {
        return Err(svc_err(ServiceError::ProtocolVersion {
            requested: b.version,
            expected: PROTOCOL_VERSION,
        }));
    }
    let c = s.svc.challenge(&b.tee, now()).await.map_err(svc_err)?;
    let body = json!({"nonce": c.nonce, "extra-params": ""}).to_string();
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::SET_COOKIE, set_cookie(&s, &c.session_id)),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
struct RuntimeData {
    nonce: String,
    #[serde(rename = "tee-pubkey")]
    tee_pubkey: Value,
}

#[derive(Deserialize)]
struct TeeEvidence {
    primary_evidence: Value,
    #[serde(default)]
    additional_evidence: String,
}

#[derive(Deserialize)]
struct AttestBody {
    #[serde(rename = "init-data", default)]
    init_data: Option<Value>,
    #[serde(rename = "runtime-data")]
    runtime_data: RuntimeData,
    #[serde(rename = "tee-evidence")]
    tee_evidence: TeeEvidence,
}

fn session_of(headers: &HeaderMap) -> Result<&str, ApiError> {
    cookie(headers, COOKIE).ok_or_else(|| {
        ApiError::new(
            Api::Kbs,
            StatusCode::UNAUTHORIZED,
            "MissingCookie",
            "the kbs-session-id cookie is required (POST /kbs/v0/auth first)",
        )
    })
}

async fn attest(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let session = session_of(&headers)?.to_owned();
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    let b: AttestBody = parse_json(Api::Kbs, &bytes)?;
    if !b.tee_evidence.additional_evidence.is_empty() {
        // Device evidence (GPUs) is not appraised yet: refusing it is safer
        // than issuing a token that silently ignores it.
        return Err(svc_err(ServiceError::BadRequest(
            "additional_evidence (device attestation) is not supported yet".into(),
        )));
    }
    let req = AttestRequest {
        session_id: session.clone(),
        nonce: b.runtime_data.nonce,
        tee_pubkey: b.runtime_data.tee_pubkey,
        additional_evidence: Some(b.tee_evidence.additional_evidence),
        evidence: b.tee_evidence.primary_evidence,
        init_data: b.init_data,
    };
    let a = s.svc.attest(req, now()).await.map_err(svc_err)?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::SET_COOKIE, set_cookie(&s, &session)),
        ],
        crate::response::token_json(&a.token, &json!({})),
    )
        .into_response())
}

async fn resource(
    State(s): State<AppState>,
    ApiPath((repo, kind, tag)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("{repo}/{kind}/{tag}");
    // The session cookie first (background check), then a bearer token
    // (passport), as stock clients expect.
    let cred = match (cookie(&headers, COOKIE), bearer(&headers)) {
        (Some(id), _) => Credential::Session(id),
        (None, Some(t)) => Credential::Token(t),
        (None, None) => {
            return Err(ApiError::new(
                Api::Kbs,
                StatusCode::UNAUTHORIZED,
                "TokenNotFound",
                "attest first: no kbs-session-id cookie and no Authorization: Bearer token",
            ))
        }
    };
    let t = now();
    let jwe = match (s.svc.release(cred, &path, t).await, bearer(&headers)) {
        // A cookie whose session is unknown, expired or not attested does
        // not hide a bearer token sent with it (as Trustee does).
        (Err(ServiceError::Session(_)), Some(token)) if matches!(cred, Credential::Session(_)) => {
            s.svc.release(Credential::Token(token), &path, t).await
        }
        (result, _) => result,
    }
    .map_err(svc_err)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        jwe,
    )
        .into_response())
}

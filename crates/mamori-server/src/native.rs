//! Mamori's own API, versioned under `/v1` and described by
//! `/v1/openapi.json`: challenge → attest (passport: a token) → resource
//! with the token; or background check: evidence straight to `release`.

use crate::error::{Api, ApiError};
use crate::extract::{bearer, parse_json, read_body, ApiPath};
use crate::{now, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mamori_service::{AttestRequest, Credential};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/challenge", post(challenge))
        .route("/v1/attest", post(attest))
        .route("/v1/resource/{*path}", get(resource))
        .route("/v1/release/{*path}", post(release))
}

fn svc_err(e: mamori_service::ServiceError) -> ApiError {
    ApiError::from_service(Api::Native, e)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeBody {
    tee: String,
}

async fn challenge(State(s): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: ChallengeBody = parse_json(Api::Native, &bytes)?;
    let c = s.svc.challenge(&b.tee, now()).await.map_err(svc_err)?;
    Ok(Json(
        json!({"session_id": c.session_id, "nonce": c.nonce, "expires_at": c.expires_at}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestBody {
    session_id: String,
    nonce: String,
    tee_pubkey: Value,
    evidence: Value,
}

impl AttestBody {
    fn request(self) -> AttestRequest {
        AttestRequest {
            session_id: self.session_id,
            nonce: self.nonce,
            tee_pubkey: self.tee_pubkey,
            additional_evidence: None,
            evidence: self.evidence,
            init_data: None,
        }
    }
}

async fn attest(State(s): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: AttestBody = parse_json(Api::Native, &bytes)?;
    let a = s.svc.attest(b.request(), now()).await.map_err(svc_err)?;
    let cpu = a.claims.submods.get("cpu0");
    let rest = json!({
        "expires_at": a.claims.exp,
        "status": cpu.map(|c| c.status.as_str()),
        "trust_vector": cpu.map(|c| &c.trust_vector),
        "reasons": cpu.and_then(|c| c.policy_claims.as_ref()).and_then(|p| p.get("reasons")),
    });
    Ok(json_response(crate::response::token_json(&a.token, &rest)))
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn resource(
    State(s): State<AppState>,
    ApiPath(path): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).ok_or_else(|| {
        ApiError::new(
            Api::Native,
            StatusCode::UNAUTHORIZED,
            "InvalidToken",
            "Authorization: Bearer <attestation token> is required",
        )
    })?;
    let jwe = s
        .svc
        .release(Credential::Token(token), &path, now())
        .await
        .map_err(svc_err)?;
    Ok(json_response(jwe))
}

/// Background-check model: evidence for a challenge, released in one call.
async fn release(
    State(s): State<AppState>,
    ApiPath(path): ApiPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    // A path no release could serve is refused before the nonce is spent.
    mamori_service::check_path(&path).map_err(svc_err)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: AttestBody = parse_json(Api::Native, &bytes)?;
    let t = now();
    let a = s.svc.attest(b.request(), t).await.map_err(svc_err)?;
    let jwe = s
        .svc
        .release(Credential::Token(&a.token), &path, t)
        .await
        .map_err(svc_err)?;
    Ok(json_response(jwe))
}

//! Admin endpoints, authenticated by a JWT signed with a configured admin
//! key: Mamori's own under `/v1/admin`, and the KBS protocol's.

use crate::error::{Api, ApiError};
use crate::extract::{bearer, parse_json, read_body, ApiPath};
use crate::{now, AppState};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use mamori_service::{DryRun, ServiceError};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/resource/{*path}",
            put(set_resource).delete(delete_resource),
        )
        .route("/v1/admin/resources", get(list_resources))
        .route("/v1/admin/resource-policy", put(set_resource_policy))
        .route("/v1/admin/attestation-policy", put(set_attestation_policy))
        .route("/v1/admin/policies", get(list_policies))
        .route("/v1/admin/reference-value", put(set_reference_value))
        .route("/v1/admin/reference-values", get(list_reference_values))
        .route("/v1/admin/audit", get(audit_list))
        .route("/v1/admin/audit/verify", get(audit_verify))
        .route("/v1/admin/signing-key/rotate", post(rotate))
        .route("/v1/admin/policy/dry-run", post(dry_run))
        .route(
            "/kbs/v0/resource-policy",
            post(kbs_set_resource_policy).get(kbs_get_resource_policy),
        )
        .route(
            "/kbs/v0/attestation-policy",
            post(kbs_set_attestation_policy),
        )
        .route("/kbs/v0/reference-value", post(kbs_set_reference_value))
}

fn err(api: Api) -> impl Fn(ServiceError) -> ApiError {
    move |e| ApiError::from_service(api, e)
}

/// The admin actor, or 401.
fn authorize(api: Api, s: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::new(
            api,
            StatusCode::UNAUTHORIZED,
            "AdminAuth",
            "Authorization: Bearer <admin JWT> is required",
        )
    })?;
    s.svc.authorize_admin(token, now()).map_err(err(api))
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

// ---- native ------------------------------------------------------------------

async fn set_resource(
    State(s): State<AppState>,
    ApiPath(path): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    s.svc
        .set_resource(&actor, &path, &bytes, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(ok())
}

async fn delete_resource(
    State(s): State<AppState>,
    ApiPath(path): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    s.svc
        .delete_resource(&actor, &path, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(ok())
}

async fn list_resources(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let list = s.svc.list_resources().await.map_err(err(Api::Native))?;
    Ok(Json(json!({"resources": list})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    /// Resource path or prefix (resource policies); "" = every path.
    #[serde(default)]
    prefix: Option<String>,
    /// TEE kind (appraisal policies), or "default" for every kind.
    #[serde(default)]
    tee: Option<String>,
    /// Rego source.
    policy: String,
}

async fn set_resource_policy(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: PolicyBody = parse_json(Api::Native, &bytes)?;
    let prefix = b.prefix.unwrap_or_default();
    let digest = s
        .svc
        .set_resource_policy(&actor, &prefix, &b.policy, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"prefix": prefix, "digest": digest})))
}

async fn set_attestation_policy(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: PolicyBody = parse_json(Api::Native, &bytes)?;
    let tee = b.tee.unwrap_or_else(|| "default".into());
    let digest = s
        .svc
        .set_appraisal_policy(&actor, &tee, &b.policy, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"tee": tee, "digest": digest})))
}

async fn list_policies(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let a = s
        .svc
        .list_policies("appraisal")
        .await
        .map_err(err(Api::Native))?;
    let r = s
        .svc
        .list_policies("resource")
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"appraisal": a, "resource": r})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceBody {
    name: String,
    values: Vec<Value>,
    #[serde(default)]
    expires_at: Option<i64>,
}

async fn set_reference_value(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: ReferenceBody = parse_json(Api::Native, &bytes)?;
    s.svc
        .set_reference_value(&actor, &b.name, b.values, b.expires_at, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(ok())
}

async fn list_reference_values(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let v = s
        .svc
        .list_reference_values()
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"reference_values": v})))
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

async fn audit_list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let entries = s
        .svc
        .audit_list(q.after, q.limit)
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"entries": entries})))
}

async fn audit_verify(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let check = s.svc.audit_verify().await.map_err(err(Api::Native))?;
    Ok(Json(json!(check)))
}

async fn rotate(State(s): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let actor = authorize(Api::Native, &s, &headers)?;
    let kid = s
        .svc
        .rotate_signing_key(&actor, now())
        .await
        .map_err(err(Api::Native))?;
    Ok(Json(json!({"kid": kid})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRunBody {
    kind: String,
    #[serde(default)]
    tee: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    policy: Option<String>,
    input: Value,
}

async fn dry_run(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(Api::Native, &s, &headers)?;
    let bytes = read_body(Api::Native, body, s.body_limit()).await?;
    let b: DryRunBody = parse_json(Api::Native, &bytes)?;
    let req = match b.kind.as_str() {
        "appraisal" => DryRun::Appraisal {
            source: b.policy,
            tee: b.tee.unwrap_or_else(|| "snp".into()),
            input: b.input,
        },
        "resource" => DryRun::Resource {
            source: b.policy,
            path: b.path.unwrap_or_else(|| "default/key/1".into()),
            input: b.input,
        },
        other => {
            return Err(ApiError::new(
                Api::Native,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("kind {other:?}: expected appraisal or resource"),
            ))
        }
    };
    Ok(Json(s.svc.dry_run(req, now()).map_err(err(Api::Native))?))
}

// ---- KBS protocol admin ------------------------------------------------------

fn b64url(api: Api, s: &str) -> Result<String, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| {
            ApiError::new(
                api,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("policy is not base64url: {e}"),
            )
        })?;
    String::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            api,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "policy is not UTF-8",
        )
    })
}

pub async fn kbs_set_resource(
    State(s): State<AppState>,
    ApiPath((repo, kind, tag)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Kbs, &s, &headers)?;
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    s.svc
        .set_resource(&actor, &format!("{repo}/{kind}/{tag}"), &bytes, now())
        .await
        .map_err(err(Api::Kbs))?;
    Ok(ok())
}

pub async fn kbs_delete_resource(
    State(s): State<AppState>,
    ApiPath((repo, kind, tag)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Kbs, &s, &headers)?;
    s.svc
        .delete_resource(&actor, &format!("{repo}/{kind}/{tag}"), now())
        .await
        .map_err(err(Api::Kbs))?;
    Ok(ok())
}

#[derive(Deserialize)]
struct KbsPolicy {
    policy: String,
    #[serde(default)]
    policy_id: Option<String>,
    #[serde(rename = "type", default)]
    _kind: Option<String>,
}

/// The KBS protocol's single resource policy applies to every path.
async fn kbs_set_resource_policy(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Kbs, &s, &headers)?;
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    let b: KbsPolicy = parse_json(Api::Kbs, &bytes)?;
    let src = b64url(Api::Kbs, &b.policy)?;
    s.svc
        .set_resource_policy(&actor, "", &src, now())
        .await
        .map_err(err(Api::Kbs))?;
    Ok(ok())
}

async fn kbs_get_resource_policy(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(Api::Kbs, &s, &headers)?;
    let list = s
        .svc
        .list_policies("resource")
        .await
        .map_err(err(Api::Kbs))?;
    let src = list
        .into_iter()
        .find(|p| p.id.is_empty())
        .map(|p| p.source)
        .unwrap_or_else(|| mamori_service_default_resource().to_owned());
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(src)
        .into_response())
}

fn mamori_service_default_resource() -> &'static str {
    mamori_service::default_resource_policy()
}

/// `policy_id` names the TEE kind the policy appraises (`default`: every
/// kind without its own).
async fn kbs_set_attestation_policy(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Kbs, &s, &headers)?;
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    let b: KbsPolicy = parse_json(Api::Kbs, &bytes)?;
    let src = b64url(Api::Kbs, &b.policy)?;
    let tee = b.policy_id.unwrap_or_else(|| "default".into());
    s.svc
        .set_appraisal_policy(&actor, &tee, &src, now())
        .await
        .map_err(err(Api::Kbs))?;
    Ok(ok())
}

#[derive(Deserialize)]
struct KbsReference {
    #[serde(default)]
    _version: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    payload: String,
}

/// An RVPS message; the `sample` type's payload is base64 of
/// `{"name": [values] | value, ...}`.
async fn kbs_set_reference_value(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let actor = authorize(Api::Kbs, &s, &headers)?;
    let bytes = read_body(Api::Kbs, body, s.body_limit()).await?;
    let b: KbsReference = parse_json(Api::Kbs, &bytes)?;
    if b.kind != "sample" {
        return Err(ApiError::new(
            Api::Kbs,
            StatusCode::BAD_REQUEST,
            "RvpsError",
            format!(
                "reference value type {:?}: only \"sample\" is supported",
                b.kind
            ),
        ));
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b.payload.trim())
        .map_err(|e| {
            ApiError::new(
                Api::Kbs,
                StatusCode::BAD_REQUEST,
                "RvpsError",
                format!("payload is not base64: {e}"),
            )
        })?;
    let map: serde_json::Map<String, Value> = parse_json(Api::Kbs, &payload)?;
    let t = now();
    for (name, v) in map {
        let values = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        s.svc
            .set_reference_value(&actor, &name, values, None, t)
            .await
            .map_err(err(Api::Kbs))?;
    }
    Ok(ok())
}

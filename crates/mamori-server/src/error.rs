//! One error type for every handler, mapped to a status and a JSON body.
//! Under `/kbs/v0` the body is the KBS protocol's ErrorInformation
//! (`{"type": ".../kbs/errors/<Variant>", "detail"}`), which stock clients
//! parse for every status; elsewhere it is `{"error", "detail"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mamori_service::request_id::RequestIds;
use mamori_service::ServiceError;
use serde_json::json;

/// KBS error type URLs keep the historical prefix that clients expect.
pub const KBS_ERROR_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Native,
    Kbs,
}

#[derive(Debug)]
pub struct ApiError {
    pub api: Api,
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    /// For a 503 or a 429: seconds before a retry can help (1 when unset).
    pub retry_after_secs: Option<i64>,
}

impl ApiError {
    pub fn new(
        api: Api,
        status: StatusCode,
        kind: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            api,
            status,
            kind,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    pub fn from_service(api: Api, e: ServiceError) -> Self {
        use ServiceError as E;
        let status = match &e {
            E::BadRequest(_) | E::UnknownTee(_) | E::TeeDisabled(_) | E::Policy(_) => {
                StatusCode::BAD_REQUEST
            }
            E::ProtocolVersion { .. }
            | E::Session(_)
            | E::NonceMismatch
            | E::EvidenceRejected { .. }
            | E::Binding(_)
            | E::Token(_)
            | E::TeeKey(_)
            | E::AdminAuth(_) => StatusCode::UNAUTHORIZED,
            E::Denied { .. } => StatusCode::FORBIDDEN,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::Busy(_) | E::Store(_) | E::CollateralUnavailable { .. } | E::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let ids = RequestIds::current();
        let (request_id, client_request_id) = id_fields(ids.as_ref());
        if status.is_server_error() && !matches!(e, E::ShuttingDown) {
            tracing::error!(request_id, client_request_id, error = %e, "request failed");
        } else {
            tracing::info!(request_id, client_request_id, error = %e, "request refused");
        }
        let retry_after_secs = match &e {
            E::CollateralUnavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        ApiError {
            retry_after_secs,
            ..ApiError::new(api, status, e.kind(), e.to_string())
        }
    }
}

/// A request's ids as log fields: `request_id` and `client_request_id`.
pub(crate) fn id_fields(ids: Option<&RequestIds>) -> (Option<&str>, Option<&str>) {
    (
        ids.map(|i| i.id.as_str()),
        ids.and_then(|i| i.client.as_ref()).map(|c| c.as_str()),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.api {
            Api::Kbs => {
                json!({"type": format!("{KBS_ERROR_PREFIX}{}", self.kind), "detail": self.detail})
            }
            // The KBS body keeps the protocol's two members; the request
            // id is in the `X-Request-Id` header of both.
            Api::Native => match RequestIds::current() {
                Some(ids) => {
                    json!({"error": self.kind, "detail": self.detail, "request_id": ids.id.as_str()})
                }
                None => json!({"error": self.kind, "detail": self.detail}),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // A store outage is usually brief, and at the open-session limit a
        // place opens as soon as any open session is attested or expires
        // (the limit is checked again at most once a second): both are
        // worth retrying soon. A node shutting down is not. A vendor
        // service that failed is not asked again for a while (kds.rs
        // says how long).
        // A client over its request budget is told when it has one again.
        if (self.status == StatusCode::SERVICE_UNAVAILABLE && self.kind != "ShuttingDown")
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            let secs = self.retry_after_secs.unwrap_or(1).clamp(1, 3_600);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}

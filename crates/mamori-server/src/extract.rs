//! Request bodies read with our own limit and parsed with our own errors, so
//! that an oversized or malformed body gets the API's JSON error (413/400)
//! rather than the framework's plain text.

use crate::error::{Api, ApiError};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The size and time a request body is allowed.
pub struct BodyLimit<'a> {
    pub max_bytes: usize,
    /// For the whole body: a client sending a byte now and then must not
    /// hold a connection and its task indefinitely.
    pub timeout: std::time::Duration,
    /// Counted when `timeout` passes.
    pub timeouts: &'a std::sync::atomic::AtomicU64,
}

pub async fn read_body(
    api: Api,
    body: axum::body::Body,
    limit: BodyLimit<'_>,
) -> Result<Bytes, ApiError> {
    let max = limit.max_bytes;
    let read = match tokio::time::timeout(limit.timeout, axum::body::to_bytes(body, max)).await {
        Ok(read) => read,
        Err(_) => {
            limit
                .timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(ApiError::new(
                api,
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                format!(
                    "the request body did not arrive within {} s",
                    limit.timeout.as_secs()
                ),
            ));
        }
    };
    read.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .map(|s| s.to_string().contains("length limit"))
            .unwrap_or(false)
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::new(
                api,
                StatusCode::PAYLOAD_TOO_LARGE,
                "TooLarge",
                format!("request body exceeds {max} bytes"),
            )
        } else {
            ApiError::new(
                api,
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("request body: {e}"),
            )
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(api: Api, bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            api,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("request body is not the expected JSON: {e}"),
        )
    })
}

/// The token of an `Authorization: Bearer` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The value of one cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The API a request is for, by its path: error bodies take that API's form.
pub fn api_of(uri: &Uri) -> Api {
    if uri.path().starts_with("/kbs/") {
        Api::Kbs
    } else {
        Api::Native
    }
}

/// axum's `Path`, whose rejection (a segment that is not UTF-8 once
/// percent-decoded, say) is an [`ApiError`] in the form of the request's
/// API rather than axum's plain-text body, which the stock KBS client could
/// not parse.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::new(
                api_of(&parts.uri),
                e.status(),
                "BadRequest",
                e.body_text(),
            )),
        }
    }
}

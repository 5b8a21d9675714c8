//! Request ids: the server gives every HTTP request an id of its own,
//! returned in the `X-Request-Id` header, written in native error bodies,
//! in the server's log lines about the request (its refusal or failure,
//! and the access line) and in the audit entries the request makes, so
//! that an operator can go from a client's error to the log line and the
//! audit record of that request.
//!
//! An id the client sent in `X-Request-Id` (an ingress's, say) is kept
//! beside it as `client_request_id` when it is a plain one, never in its
//! place: anyone can send any id, so only the server's own identifies one
//! request in the audit log.
//!
//! The ids reach the audit entries through a task-local set by the server
//! around each request, rather than through every service method's
//! parameters: entries are made deep inside attestation, release and admin
//! calls, and housekeeping (which has no request) makes them too.

use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// The longest id accepted from a client (a UUID is 36 characters).
pub const MAX_LEN: usize = 64;

/// A request id: 1–64 characters of `A-Z a-z 0-9 . _ : -`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

/// The ids of one request: the server's, and the client's when it sent a
/// plain one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIds {
    pub id: RequestId,
    pub client: Option<RequestId>,
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

impl RequestIds {
    /// A new id for a request whose `X-Request-Id` was `client`.
    pub fn new(client: Option<&[u8]>) -> RequestIds {
        RequestIds {
            id: RequestId::generate(),
            client: client.and_then(RequestId::from_client),
        }
    }

    /// Runs `fut` as the serving of this request.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The ids of the request being served by this task, if any.
    pub fn current() -> Option<RequestIds> {
        CURRENT.try_with(|ids| ids.clone()).ok()
    }
}

impl RequestId {
    /// An id sent by a client or a proxy in front of the server, recorded
    /// when it is short and made of characters that are safe in a log line
    /// and JSON; anything else is not recorded.
    pub fn from_client(value: &[u8]) -> Option<RequestId> {
        let ok = !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b));
        // Checked ASCII above, so the conversion cannot fail.
        ok.then(|| std::str::from_utf8(value).ok().map(|s| RequestId(s.into())))
            .flatten()
    }

    /// A new id, unique within this process and, with its random prefix,
    /// across the nodes of a cluster: `<12 hex digits of the node>-<count>`.
    /// A counter, not 16 random bytes per request: ids need to be unique,
    /// not secret, and this is on every request's path.
    pub fn generate() -> RequestId {
        static PREFIX: OnceLock<String> = OnceLock::new();
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let prefix = PREFIX.get_or_init(|| {
            let mut b = [0u8; 6];
            // Without randomness the nodes could share a prefix; the count
            // still keeps one node's ids apart.
            let _ = aws_lc_rs::rand::fill(&mut b);
            hex::encode(b)
        });
        let n = COUNT.fetch_add(1, Relaxed);
        RequestId(format!("{prefix}-{n:x}").into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An audit entry's detail as stored: with `request_id` (and
/// `client_request_id`) added when the entry is made while serving a
/// request (details are JSON objects).
pub(crate) fn audit_detail(mut detail: Value) -> String {
    if let (Some(ids), Value::Object(map)) = (RequestIds::current(), &mut detail) {
        map.insert("request_id".to_owned(), Value::String(ids.id.to_string()));
        if let Some(client) = ids.client {
            map.insert(
                "client_request_id".to_owned(),
                Value::String(client.to_string()),
            );
        }
    }
    detail.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn client_ids_are_kept_only_when_short_and_plain() {
        for ok in ["a", "0f9c6a5e-1b2c-4d3e-8f90-a1b2c3d4e5f6", "edge.01:req_7"] {
            assert_eq!(RequestId::from_client(ok.as_bytes()).unwrap().as_str(), ok);
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "two words",
            "quote\"",
            "new\nline",
            "é",
            "{json}",
        ] {
            assert_eq!(RequestId::from_client(bad.as_bytes()), None, "{bad:?}");
        }
        assert!(RequestId::from_client(&"b".repeat(MAX_LEN).into_bytes()).is_some());
    }

    #[test]
    fn generated_ids_differ_and_are_in_the_id_alphabet() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().split('-').next(), b.as_str().split('-').next());
        assert_eq!(RequestId::from_client(a.as_str().as_bytes()), Some(a));
    }

    #[tokio::test]
    async fn audit_details_carry_the_current_request_only() {
        let detail = json!({"jti": "x"});
        assert_eq!(audit_detail(detail.clone()), r#"{"jti":"x"}"#);
        let ids = RequestIds::new(Some(b"edge-1"));
        let ours = ids.id.to_string();
        let inside = ids.scope(async { audit_detail(detail.clone()) }).await;
        assert_eq!(
            inside,
            format!(r#"{{"client_request_id":"edge-1","jti":"x","request_id":"{ours}"}}"#)
        );
        // Not a plain id: not kept.
        let ids = RequestIds::new(Some(b"two words"));
        let ours = ids.id.to_string();
        let inside = ids.scope(async { audit_detail(detail.clone()) }).await;
        assert_eq!(inside, format!(r#"{{"jti":"x","request_id":"{ours}"}}"#));
        // Not an object: left as it is.
        let ids = RequestIds::new(None);
        assert_eq!(
            ids.scope(async { audit_detail(json!("x")) }).await,
            r#""x""#
        );
        assert_eq!(RequestIds::current(), None);
    }
}

//! Claims of the tokens this node minted: by session id for KBS sessions,
//! by the token itself for tokens handed out (passport model).
//!
//! A resource request that presents the session cookie, or a token byte for
//! byte identical to one this node signed, on the node that attested (the
//! common case) then needs neither a database read nor a signature check:
//! the claims are the ones this process signed, held in its own memory,
//! never read back from storage. A miss — another node attested, or the
//! entry was dropped — falls back to full verification of the token (for
//! a session, the one stored with it: the database is not trusted to vouch
//! for a token).

use mamori_policy::Document;
use mamori_token::EarClaims;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Bounds on entries and on their size, counted as the token's length
/// (attesters choose part of the claims — their key, init-data — so a
/// count alone would not bound memory). The entries only have to outlive
/// the moment between attestation and the resource requests that follow it;
/// the oldest goes first, one at a time, so that no request pays for
/// dropping thousands at once. Claims of a token larger than a sixteenth of
/// the budget are not kept: they take the verified path.
const MAX_ENTRIES: usize = 1_024;
const MAX_TOKEN_BYTES: usize = 8 << 20;
/// A token's claims converted for the resource policy take several times
/// the token's length in memory (every string and number is an allocation
/// of its own); they are counted as this many token lengths.
const DOCUMENT_WEIGHT: usize = 4;

/// A token's verified claims, and the same claims converted for the
/// resource policy when the node has them (it made them while appraising),
/// and the bound TEE key parsed for encryption (parsed and checked at
/// attestation; a release does not parse it again).
#[derive(Clone, Debug)]
pub(super) struct Verified {
    pub claims: Arc<EarClaims>,
    pub document: Option<Document>,
    pub recipient: Option<Arc<mamori_jwe::Recipient>>,
}

/// Tokens are looked up by their signature (the JWS's last part; the
/// signatures of this node's tokens differ, and it is short to hash) and
/// then compared byte for byte with the token the entry was made for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Minted {
    Session(String),
    Signature(String),
}

fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

#[derive(Debug)]
struct Entry {
    verified: Verified,
    /// The whole token, for entries found by its signature.
    token: Option<Box<str>>,
    /// What the entry counts against the byte budget.
    bytes: usize,
    /// The part of `bytes` that is the converted document's.
    document_bytes: usize,
}

#[derive(Debug, Default)]
pub(super) struct MintedClaims {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Minted, Entry>,
    /// Keys in insertion order.
    order: VecDeque<Minted>,
    bytes: usize,
}

impl MintedClaims {
    /// Keeps the claims of the token minted for KBS session `id`.
    pub(super) fn put_session(&self, id: &str, verified: Verified, token_len: usize) {
        self.put(Minted::Session(id.to_owned()), verified, None, token_len);
    }

    /// Keeps the claims of `token`, handed to the attester.
    pub(super) fn put_token(&self, token: &str, verified: Verified) {
        let key = Minted::Signature(signature(token).to_owned());
        self.put(key, verified, Some(token.into()), token.len());
    }

    /// The claims of KBS session `id`'s token, while it is valid at `now`.
    pub(super) fn session(&self, id: &str, now: i64) -> Option<Verified> {
        self.get(&Minted::Session(id.to_owned()), None, now)
    }

    /// The claims of `token` if this node minted exactly this token, while
    /// it is valid at `now`.
    pub(super) fn token(&self, token: &str, now: i64) -> Option<Verified> {
        self.get(
            &Minted::Signature(signature(token).to_owned()),
            Some(token),
            now,
        )
    }

    fn put(&self, key: Minted, verified: Verified, token: Option<Box<str>>, token_len: usize) {
        if token_len > MAX_TOKEN_BYTES / 16 {
            return;
        }
        let document_bytes = if verified.document.is_some() {
            token_len * DOCUMENT_WEIGHT
        } else {
            0
        };
        // The token itself, when kept, counts once more.
        let bytes = token_len * (1 + usize::from(token.is_some())) + document_bytes;
        let mut evicted = Vec::new();
        {
            let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            while m.map.len() >= MAX_ENTRIES || m.bytes + bytes > MAX_TOKEN_BYTES {
                let Some(old) = m.order.pop_front() else {
                    break;
                };
                if let Some(e) = m.map.remove(&old) {
                    m.bytes -= e.bytes;
                    evicted.push(e);
                }
            }
            let entry = Entry {
                verified,
                token,
                bytes,
                document_bytes,
            };
            match m.map.insert(key.clone(), entry) {
                Some(old) => m.bytes -= old.bytes,
                None => m.order.push_back(key),
            }
            m.bytes += bytes;
        }
        // Dropped outside the lock.
        drop(evicted);
    }

    /// The claims, while the token is valid at `now` without any leeway
    /// (inside the leeway, full verification decides).
    ///
    /// The converted document goes to the first caller only: it serves the
    /// resource request that follows an attestation, and is then dropped by
    /// that request while still in the cache, rather than much later by the
    /// request that evicts the entry (a measured 1–2 % of a flow's CPU).
    /// Later requests convert the claims themselves.
    fn get(&self, key: &Minted, token: Option<&str>, now: i64) -> Option<Verified> {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.map.get_mut(key)?;
        let c = &e.verified.claims;
        let valid = c.exp > now && c.iat <= now && c.nbf.is_none_or(|n| n <= now);
        if !valid || e.token.as_deref() != token {
            return None;
        }
        let freed = std::mem::take(&mut e.document_bytes);
        e.bytes -= freed;
        let verified = Verified {
            claims: e.verified.claims.clone(),
            document: e.verified.document.take(),
            recipient: e.verified.recipient.clone(),
        };
        m.bytes -= freed;
        Some(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Verified {
        let claims = Arc::new(crate::service::tests::bare_claims(exp));
        Verified {
            claims,
            document: None,
            recipient: None,
        }
    }

    #[test]
    fn a_converted_document_counts_against_the_budget() {
        let m = MintedClaims::default();
        let mut with_doc = claims(100);
        with_doc.document =
            Some(Document::from_json(&serde_json::json!({"a": 1})).expect("converts"));
        m.put_session("plain", claims(100), 1_000);
        m.put_session("doc", with_doc.clone(), 1_000);
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(0);
        assert_eq!(bytes, 1_000 + 1_000 * (1 + DOCUMENT_WEIGHT));
        assert!(m.session("doc", 1).and_then(|v| v.document).is_some());
        let again = m.session("doc", 1).expect("still kept");
        assert!(
            again.document.is_none(),
            "the document goes to the first caller"
        );
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(0);
        assert_eq!(bytes, 2_000, "and stops counting once taken");
        // A token kept whole counts once more.
        let token = format!("h.p.{}", "s".repeat(997));
        m.put_token(&token, with_doc);
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(0);
        assert_eq!(bytes, 2_000 + 1_001 * (2 + DOCUMENT_WEIGHT));
    }

    #[test]
    fn expired_claims_are_not_returned() {
        let m = MintedClaims::default();
        m.put_session("s", claims(100), 10);
        assert!(m.session("s", 99).is_some());
        assert!(m.session("s", 100).is_none());
        assert!(m.session("other", 0).is_none());
        assert!(m.session("s", -1).is_none(), "issued in the future");
    }

    #[test]
    fn tokens_are_found_only_byte_for_byte() {
        let m = MintedClaims::default();
        m.put_token("a.b.c", claims(100));
        assert!(m.token("a.b.c", 1).is_some());
        assert!(m.token("a.b.d", 1).is_none());
        // Same signature, another header or payload.
        assert!(m.token("a.x.c", 1).is_none());
        assert!(m.token("x.b.c", 1).is_none());
        assert!(m.token("c", 1).is_none());
        assert!(m.session("a.b.c", 1).is_none());
        assert!(m.session("c", 1).is_none());
    }

    #[test]
    fn stays_bounded() {
        let m = MintedClaims::default();
        for i in 0..(MAX_ENTRIES + 10) {
            m.put_session(&format!("s{i}"), claims(1_000), 100);
        }
        let (len, order) = m
            .inner
            .lock()
            .map(|m| (m.map.len(), m.order.len()))
            .unwrap_or((usize::MAX, 0));
        assert!(len <= MAX_ENTRIES, "{len}");
        assert_eq!(len, order);
        assert!(m.session("s0", 0).is_none(), "the oldest went first");
        assert!(m.session(&format!("s{}", MAX_ENTRIES + 9), 0).is_some());
    }

    #[test]
    fn stays_within_its_byte_budget_and_skips_large_tokens() {
        let m = MintedClaims::default();
        m.put_session("huge", claims(1_000), MAX_TOKEN_BYTES);
        assert!(m.session("huge", 0).is_none(), "too large to keep");
        let each = MAX_TOKEN_BYTES / 16;
        for i in 0..40 {
            m.put_session(&format!("s{i}"), claims(1_000), each);
        }
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(usize::MAX);
        assert!(bytes <= MAX_TOKEN_BYTES, "{bytes}");
        assert!(m.session("s39", 0).is_some());
        assert!(m.session("s0", 0).is_none());
    }
}

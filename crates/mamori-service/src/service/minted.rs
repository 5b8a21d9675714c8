//! Claims of the tokens this node minted: by session id for KBS sessions,
//! by the token's SHA-256 for tokens handed out (passport model).
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
/// resource policy when the node has them (it made them while appraising).
#[derive(Clone, Debug)]
pub(super) struct Verified {
    pub claims: Arc<EarClaims>,
    pub document: Option<Document>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Minted {
    Session(String),
    Token([u8; 32]),
}

impl Minted {
    pub(super) fn token(token: &str) -> Self {
        Minted::Token(crate::evidence::sha256(token.as_bytes()))
    }
}

#[derive(Debug, Default)]
pub(super) struct MintedClaims {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Claims and the bytes they are counted as.
    map: HashMap<Minted, (Verified, usize)>,
    /// Keys in insertion order.
    order: VecDeque<Minted>,
    bytes: usize,
}

impl MintedClaims {
    pub(super) fn put(&self, key: Minted, verified: Verified, token_len: usize) {
        if token_len > MAX_TOKEN_BYTES / 16 {
            return;
        }
        let weight = if verified.document.is_some() {
            1 + DOCUMENT_WEIGHT
        } else {
            1
        };
        let token_len = token_len * weight;
        let mut evicted = Vec::new();
        {
            let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            while m.map.len() >= MAX_ENTRIES || m.bytes + token_len > MAX_TOKEN_BYTES {
                let Some(old) = m.order.pop_front() else {
                    break;
                };
                if let Some(e) = m.map.remove(&old) {
                    m.bytes -= e.1;
                    evicted.push(e);
                }
            }
            match m.map.insert(key.clone(), (verified, token_len)) {
                Some(old) => m.bytes -= old.1,
                None => m.order.push_back(key),
            }
            m.bytes += token_len;
        }
        // Dropped outside the lock.
        drop(evicted);
    }

    /// The claims, while the token is valid at `now` without any leeway
    /// (inside the leeway, full verification decides).
    pub(super) fn get(&self, key: &Minted, now: i64) -> Option<Verified> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.map
            .get(key)
            .map(|e| &e.0)
            .filter(|v| {
                let c = &v.claims;
                c.exp > now && c.iat <= now && c.nbf.is_none_or(|n| n <= now)
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_token::VerifierId;

    fn s(id: &str) -> Minted {
        Minted::Session(id.to_owned())
    }

    fn claims(exp: i64) -> Verified {
        let claims = Arc::new(EarClaims {
            profile: mamori_token::EAR_PROFILE.to_owned(),
            iat: 0,
            exp,
            nbf: None,
            iss: None,
            jti: "j".into(),
            verifier_id: VerifierId {
                developer: "d".into(),
                build: "b".into(),
            },
            nonce: None,
            submods: Default::default(),
        });
        Verified {
            claims,
            document: None,
        }
    }

    #[test]
    fn a_converted_document_counts_against_the_budget() {
        let m = MintedClaims::default();
        let mut with_doc = claims(100);
        with_doc.document =
            Some(Document::from_json(&serde_json::json!({"a": 1})).expect("converts"));
        m.put(s("plain"), claims(100), 1_000);
        m.put(s("doc"), with_doc, 1_000);
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(0);
        assert_eq!(bytes, 1_000 + 1_000 * (1 + DOCUMENT_WEIGHT));
        assert!(m.get(&s("doc"), 1).and_then(|v| v.document).is_some());
    }

    #[test]
    fn expired_claims_are_not_returned() {
        let m = MintedClaims::default();
        m.put(s("s"), claims(100), 10);
        assert!(m.get(&s("s"), 99).is_some());
        assert!(m.get(&s("s"), 100).is_none());
        assert!(m.get(&s("other"), 0).is_none());
        assert!(m.get(&s("s"), -1).is_none(), "issued in the future");
    }

    #[test]
    fn tokens_are_found_only_byte_for_byte() {
        let m = MintedClaims::default();
        m.put(Minted::token("a.b.c"), claims(100), 5);
        assert!(m.get(&Minted::token("a.b.c"), 1).is_some());
        assert!(m.get(&Minted::token("a.b.d"), 1).is_none());
        assert!(m.get(&s("a.b.c"), 1).is_none());
    }

    #[test]
    fn stays_bounded() {
        let m = MintedClaims::default();
        for i in 0..(MAX_ENTRIES + 10) {
            m.put(s(&format!("s{i}")), claims(1_000), 100);
        }
        let (len, order) = m
            .inner
            .lock()
            .map(|m| (m.map.len(), m.order.len()))
            .unwrap_or((usize::MAX, 0));
        assert!(len <= MAX_ENTRIES, "{len}");
        assert_eq!(len, order);
        assert!(m.get(&s("s0"), 0).is_none(), "the oldest went first");
        assert!(m.get(&s(&format!("s{}", MAX_ENTRIES + 9)), 0).is_some());
    }

    #[test]
    fn stays_within_its_byte_budget_and_skips_large_tokens() {
        let m = MintedClaims::default();
        m.put(s("huge"), claims(1_000), MAX_TOKEN_BYTES);
        assert!(m.get(&s("huge"), 0).is_none(), "too large to keep");
        let each = MAX_TOKEN_BYTES / 16;
        for i in 0..40 {
            m.put(s(&format!("s{i}")), claims(1_000), each);
        }
        let bytes = m.inner.lock().map(|m| m.bytes).unwrap_or(usize::MAX);
        assert!(bytes <= MAX_TOKEN_BYTES, "{bytes}");
        assert!(m.get(&s("s39"), 0).is_some());
        assert!(m.get(&s("s0"), 0).is_none());
    }
}

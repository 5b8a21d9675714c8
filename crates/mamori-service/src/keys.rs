//! The token-signing keys: the active signer, and a verifier (and JWKS)
//! that also holds recently retired keys until their tokens have expired.

use crate::error::ServiceError;
use crate::kek::Kek;
use mamori_store::{NewAuditEntry, SigningKeyRecord, Store};
use mamori_token::{Jwk, TokenSigner, TokenVerifier};

pub struct KeyRing {
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    pub jwks: serde_json::Value,
    pub active_created_at: i64,
    /// The stored keys this ring was built from (kid, creation, retirement).
    fingerprint: Vec<(String, i64, Option<i64>)>,
}

fn fingerprint(records: &[SigningKeyRecord]) -> Vec<(String, i64, Option<i64>)> {
    let mut f: Vec<_> = records
        .iter()
        .map(|r| (r.kid.clone(), r.created_at, r.retired_at))
        .collect();
    f.sort();
    f
}

fn kid_for(jwk: &Jwk) -> Result<String, ServiceError> {
    jwk.thumbprint_sha256()
        .map_err(|e| ServiceError::Internal(format!("key thumbprint: {e}")))
}

/// Makes a new active signing key and retires the others, recording the
/// rotation with the entry `record` makes from the new key id, if any, in
/// the same transaction. With `unless_active_after`, nothing is done
/// (`None`) if an active key made after that time exists: another node
/// rotated first.
pub async fn rotate(
    store: &Store,
    kek: &Kek,
    now: i64,
    record: impl FnOnce(&str) -> Option<NewAuditEntry>,
    unless_active_after: Option<i64>,
) -> Result<Option<String>, ServiceError> {
    let (signer, pkcs8) = TokenSigner::generate()
        .map_err(|e| ServiceError::Internal(format!("key generation: {e}")))?;
    let kid = kid_for(signer.public_jwk())?;
    let sealed = kek
        .seal(&format!("signing-key/{kid}"), &pkcs8)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let public_jwk = serde_json::to_string(signer.public_jwk())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let key = SigningKeyRecord {
        kid: kid.clone(),
        sealed,
        public_jwk,
        created_at: now,
        retired_at: None,
    };
    let rotated = store
        .rotate_signing_key(&key, now, record(&kid), unless_active_after)
        .await?;
    Ok(rotated.then_some(kid))
}

/// Loads the key ring, creating the first key on first start. Retired keys
/// stay verifiable for `keep_retired_secs` (the token lifetime).
pub async fn load(
    store: &Store,
    kek: &Kek,
    now: i64,
    keep_retired_secs: i64,
) -> Result<KeyRing, ServiceError> {
    let records = current_records(store, kek, now, keep_retired_secs).await?;
    build(kek, &records)
}

/// [`load`], or `None` when the stored keys are still the ones `current`
/// was built from: nothing is unsealed or parsed again.
pub async fn load_if_changed(
    store: &Store,
    kek: &Kek,
    now: i64,
    keep_retired_secs: i64,
    current: &KeyRing,
) -> Result<Option<KeyRing>, ServiceError> {
    let records = current_records(store, kek, now, keep_retired_secs).await?;
    if fingerprint(&records) == current.fingerprint {
        return Ok(None);
    }
    build(kek, &records).map(Some)
}

async fn current_records(
    store: &Store,
    kek: &Kek,
    now: i64,
    keep_retired_secs: i64,
) -> Result<Vec<SigningKeyRecord>, ServiceError> {
    store.drop_retired_keys(now - keep_retired_secs).await?;
    let mut records = store.list_signing_keys().await?;
    if !records.iter().any(|r| r.retired_at.is_none()) {
        // The first key of a new store (or one whose keys all expired).
        // Any active key stands (a node starting alongside made it).
        rotate(store, kek, now, |_| None, Some(i64::MIN)).await?;
        records = store.list_signing_keys().await?;
    }
    Ok(records)
}

/// The signer of a stored key: its private key opened under the
/// key-encryption key for its kid, which must be the key's thumbprint.
fn open_signer(kek: &Kek, r: &SigningKeyRecord) -> Result<TokenSigner, ServiceError> {
    let err = |e: String| ServiceError::Internal(format!("signing key {}: {e}", r.kid));
    let pkcs8 = kek
        .open(&format!("signing-key/{}", r.kid), &r.sealed)
        .map_err(|e| err(e.to_string()))?;
    let signer = TokenSigner::new(r.kid.clone(), &pkcs8).map_err(|e| err(e.to_string()))?;
    if kid_for(signer.public_jwk())? != r.kid {
        return Err(err("the kid is not the key's thumbprint".into()));
    }
    Ok(signer)
}

fn build(kek: &Kek, records: &[SigningKeyRecord]) -> Result<KeyRing, ServiceError> {
    let active = records
        .iter()
        .filter(|r| r.retired_at.is_none())
        .max_by_key(|r| (r.created_at, r.kid.clone()))
        .ok_or_else(|| ServiceError::Internal("no active signing key".into()))?;
    let signer = open_signer(kek, active)?;
    // Every key tokens are verified with comes from a private key sealed
    // under the key-encryption key for its kid, never from the public JWK
    // stored beside it: anyone who can write the database could store a
    // public key of their own under a new kid, and the tokens they signed
    // with it would be accepted. A record that does not open is not
    // trusted (and the stored JWK is only a copy for inspection).
    let mut verifier = TokenVerifier::new();
    let mut public = Vec::new();
    for r in records {
        let jwk = if std::ptr::eq(r, active) {
            signer.public_jwk().clone()
        } else {
            match open_signer(kek, r) {
                Ok(s) => s.public_jwk().clone(),
                Err(e) => {
                    tracing::error!(kid = %r.kid, error = %e, "a stored signing key does not open under the key-encryption key; tokens it signed are not accepted");
                    continue;
                }
            }
        };
        verifier
            .add_jwk(&jwk)
            .map_err(|e| ServiceError::Internal(format!("signing key {}: {e}", r.kid)))?;
        public.push(jwk);
    }
    Ok(KeyRing {
        signer,
        verifier,
        jwks: mamori_token::jwks(&public),
        active_created_at: active.created_at,
        fingerprint: fingerprint(records),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_public_key_written_into_the_database_verifies_no_token() {
        let store = Store::open_in_memory().await.unwrap();
        let kek = Kek::from_bytes(&[7; 32]).unwrap();
        let ring = load(&store, &kek, 1_000, 600).await.unwrap();
        // Someone with write access to the database adds their own key,
        // under its own thumbprint, with its public JWK and no sealed
        // private key the KEK opens.
        let (theirs, _) = TokenSigner::generate().unwrap();
        store
            .put_signing_key(&SigningKeyRecord {
                kid: theirs.kid().to_owned(),
                sealed: vec![0; 64],
                public_jwk: serde_json::to_string(theirs.public_jwk()).unwrap(),
                created_at: 999,
                retired_at: Some(1_000),
            })
            .await
            .unwrap();
        let ring = load_if_changed(&store, &kek, 1_001, 600, &ring)
            .await
            .unwrap()
            .expect("the stored keys changed");
        let claims = crate::service::tests::bare_claims(2_000);
        let forged = theirs.sign(&claims).unwrap();
        assert!(ring.verifier.verify(&forged, 1_001).is_err());
        assert_eq!(ring.jwks["keys"].as_array().unwrap().len(), 1);
        // The service's own key still verifies.
        let own = ring.signer.sign(&claims).unwrap();
        assert!(ring.verifier.verify(&own, 1_001).is_ok());
    }

    #[tokio::test]
    async fn the_ring_is_rebuilt_only_when_the_stored_keys_change() {
        let store = Store::open_in_memory().await.unwrap();
        let kek = Kek::from_bytes(&[7; 32]).unwrap();
        let ring = load(&store, &kek, 1_000, 600).await.unwrap();
        assert!(load_if_changed(&store, &kek, 1_001, 600, &ring)
            .await
            .unwrap()
            .is_none());
        // Found due by two nodes: the one whose key is still the first
        // rotates, the other (which saw a newer key) does not.
        let kid = rotate(&store, &kek, 1_002, |_| None, Some(ring.active_created_at))
            .await
            .unwrap()
            .expect("rotated");
        assert_eq!(
            rotate(&store, &kek, 1_002, |_| None, Some(ring.active_created_at))
                .await
                .unwrap(),
            None
        );
        let rotated = load_if_changed(&store, &kek, 1_003, 600, &ring)
            .await
            .unwrap()
            .expect("a new active key");
        assert_eq!(rotated.signer.kid(), kid);
        assert_eq!(rotated.jwks["keys"].as_array().unwrap().len(), 2);
        // The retired key leaves once its tokens have expired.
        let later = load_if_changed(&store, &kek, 1_002 + 601, 600, &rotated)
            .await
            .unwrap()
            .expect("the retired key dropped");
        assert_eq!(later.jwks["keys"].as_array().unwrap().len(), 1);
    }
}

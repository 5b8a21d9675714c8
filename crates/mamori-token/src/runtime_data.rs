//! The binding between an attester's runtime data and its evidence, shared
//! by the verifier (which checks it) and the attester (which produces it):
//! the report data carries SHA-384 of the RFC 8785 canonical JSON of
//! `{"nonce", "tee-pubkey"}`, plus `"additional-evidence"` in the KBS
//! protocol (the empty string when there is none).

use crate::jcs::{canonicalize_to_vec, JcsError};
use aws_lc_rs::digest::{digest, SHA384};
use serde_json::{Map, Value};

/// SHA-384 of the canonical runtime data. `additional_evidence` is `None`
/// for Mamori's native API, whose runtime data has no such member.
pub fn digest_sha384(
    nonce: &str,
    tee_pubkey: &Value,
    additional_evidence: Option<&str>,
) -> Result<[u8; 48], JcsError> {
    let mut obj = Map::new();
    obj.insert("nonce".into(), Value::String(nonce.to_owned()));
    obj.insert("tee-pubkey".into(), tee_pubkey.clone());
    if let Some(a) = additional_evidence {
        obj.insert("additional-evidence".into(), Value::String(a.to_owned()));
    }
    let canonical = canonicalize_to_vec(&Value::Object(obj))?;
    let mut out = [0u8; 48];
    out.copy_from_slice(digest(&SHA384, &canonical).as_ref());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_canonical_and_additional_evidence_is_part_of_the_binding() {
        let key = json!({"y": "2", "kty": "EC", "x": "1", "crv": "P-256"});
        let kbs = digest_sha384("n", &key, Some("")).expect("canonical");
        let expected = digest(
            &SHA384,
            br#"{"additional-evidence":"","nonce":"n","tee-pubkey":{"crv":"P-256","kty":"EC","x":"1","y":"2"}}"#,
        );
        assert_eq!(&kbs[..], expected.as_ref());
        let native = digest_sha384("n", &key, None).expect("canonical");
        let expected = digest(
            &SHA384,
            br#"{"nonce":"n","tee-pubkey":{"crv":"P-256","kty":"EC","x":"1","y":"2"}}"#,
        );
        assert_eq!(&native[..], expected.as_ref());
    }
}

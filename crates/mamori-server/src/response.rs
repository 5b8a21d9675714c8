//! Response bodies written by hand where serde_json would do needless work.

use serde_json::{json, Value};

/// `{"token": "<JWT>", …rest}`: the attestation result and the members of
/// `rest` (an object). serde_json writes a string by looking each byte up
/// in its escape table; for a token of a few kilobytes that was about 1 %
/// of a KBS flow's instructions. A compact JWS (base64url and dots) has no
/// byte JSON escapes, so it is copied as is, after a check that the
/// compiler turns into a few vector instructions per 32 bytes. A string
/// that does need escaping goes through serde_json.
pub(crate) fn token_json(token: &str, rest: &Value) -> String {
    let plain = !needs_escape(token);
    let members = match rest {
        Value::Object(m) if plain && !m.contains_key("token") => m,
        _ => {
            let mut all = rest.as_object().cloned().unwrap_or_default();
            all.insert("token".to_owned(), json!(token));
            return Value::Object(all).to_string();
        }
    };
    let tail = if members.is_empty() {
        String::new()
    } else {
        // The object's text without its opening brace.
        rest.to_string().split_off(1)
    };
    let mut body = String::with_capacity(token.len() + tail.len() + 13);
    body.push_str("{\"token\":\"");
    body.push_str(token);
    body.push('"');
    if tail.is_empty() {
        body.push('}');
    } else {
        body.push(',');
        body.push_str(&tail);
    }
    body
}

/// Whether JSON needs any byte of `s` escaped: control characters, `"` and
/// `\` (RFC 8259, section 7; serde_json escapes exactly these). Folded
/// without an early exit, so that it vectorises.
fn needs_escape(s: &str) -> bool {
    s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{needs_escape, token_json};
    use serde_json::{json, Value};

    #[test]
    fn the_body_is_the_json_serde_would_write() {
        let tokens = [
            "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9.c2ln-_",
            "",
            // Not a compact JWS: escaped by serde_json.
            "a\"b\\c\n\u{1}é",
            "quote\"",
            "back\\slash",
            "tab\t",
            // JSON leaves these as they are.
            "é\u{7f}/<>",
        ];
        let rests = [
            json!({}),
            json!({"expires_at": 5, "reasons": ["x\"y"], "status": null}),
            // Not an object: only the token is kept.
            json!(null),
        ];
        for token in tokens {
            for rest in &rests {
                let body = token_json(token, rest);
                let parsed: Value = serde_json::from_str(&body).unwrap();
                let mut expected = rest.as_object().cloned().unwrap_or_default();
                expected.insert("token".into(), json!(token));
                assert_eq!(parsed, Value::Object(expected), "{body}");
                if !needs_escape(token) {
                    assert!(body.contains(token), "{body}");
                }
            }
        }
    }

    #[test]
    fn escaping_is_needed_exactly_where_serde_json_escapes() {
        for b in 0u8..0x80 {
            let s = char::from(b).to_string();
            let serde = serde_json::to_string(&s).unwrap();
            let verbatim = format!("\"{s}\"");
            assert_eq!(needs_escape(&s), serde != verbatim, "byte {b:#04x}");
        }
    }
}

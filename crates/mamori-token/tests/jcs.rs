//! RFC 8785 examples (§3.2.2, §3.2.3, Appendix B) and the Mamori binding shape.
#![allow(clippy::unwrap_used)]

use mamori_token::jcs::{canonicalize, canonicalize_to_vec};
use serde_json::{json, Number, Value};

#[test]
fn rfc8785_section_3_2_2_example() {
    // The input of RFC 8785 §3.2.2 (whitespace and escapes as in the RFC).
    let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let value: Value = serde_json::from_str(input).unwrap();
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canonicalize(&value).unwrap(), expected);
}

#[test]
fn rfc8785_section_3_2_3_sorting() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let value: Value = serde_json::from_str(input).unwrap();
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canonicalize(&value).unwrap(), expected);
}

#[test]
fn utf16_order_differs_from_utf8_order() {
    // U+10000 is D800 DC00 in UTF-16 (< FFFF) but F0.. in UTF-8 (> EF BF BF).
    let value: Value = serde_json::from_str(r#"{"\uffff":1,"\ud800\udc00":2}"#).unwrap();
    assert_eq!(
        canonicalize(&value).unwrap(),
        "{\"\u{10000}\":2,\"\u{ffff}\":1}"
    );
}

#[test]
fn rfc8785_appendix_b_numbers() {
    const CASES: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in CASES {
        let number = Number::from_f64(f64::from_bits(*bits)).unwrap();
        assert_eq!(
            canonicalize(&Value::Number(number)).unwrap(),
            *expected,
            "bits {bits:016x}"
        );
    }
    // NaN and Infinity cannot be represented in a serde_json Value at all.
    assert!(Number::from_f64(f64::NAN).is_none());
    assert!(Number::from_f64(f64::INFINITY).is_none());
}

#[test]
fn integers_and_large_integers() {
    assert_eq!(canonicalize(&json!(0)).unwrap(), "0");
    assert_eq!(canonicalize(&json!(-7)).unwrap(), "-7");
    assert_eq!(
        canonicalize(&json!(9_007_199_254_740_992u64)).unwrap(),
        "9007199254740992"
    );
    assert_eq!(
        canonicalize(&json!(-9_007_199_254_740_992i64)).unwrap(),
        "-9007199254740992"
    );
    // Beyond 2^53 the value is what a JavaScript reader holds (nearest double).
    assert_eq!(
        canonicalize(&json!(u64::MAX)).unwrap(),
        "18446744073709552000"
    );
    assert_eq!(
        canonicalize(&json!(9_007_199_254_740_993u64)).unwrap(),
        "9007199254740992"
    );
    assert_eq!(
        canonicalize(&json!(i64::MIN)).unwrap(),
        "-9223372036854776000"
    );
    // An integer written with an exponent or fraction is a double.
    let v: Value = serde_json::from_str("[1.0, 1e2, -0.0, 10.50]").unwrap();
    assert_eq!(canonicalize(&v).unwrap(), "[1,100,0,10.5]");
}

#[test]
fn string_escapes() {
    let s: String = (0u8..0x20)
        .map(char::from)
        .chain("\"\\/\u{7f}\u{2028}é".chars())
        .collect();
    let out = canonicalize(&Value::String(s)).unwrap();
    assert_eq!(
        out,
        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\u{7f}\u{2028}é\""
    );
}

#[test]
fn nested_and_idempotent() {
    let v = json!({"b": [{"z": 1, "a": {"y": null, "x": true}}], "a": "s", "tee-pubkey": {"kty": "EC", "crv": "P-256", "y": "Y", "x": "X", "alg": "ECDH-ES+A256KW"}, "nonce": "abc"});
    let once = canonicalize(&v).unwrap();
    assert_eq!(
        once,
        r#"{"a":"s","b":[{"a":{"x":true,"y":null},"z":1}],"nonce":"abc","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"X","y":"Y"}}"#
    );
    let reparsed: Value = serde_json::from_str(&once).unwrap();
    assert_eq!(canonicalize(&reparsed).unwrap(), once);
    assert_eq!(canonicalize_to_vec(&v).unwrap(), once.into_bytes());
}

#[test]
fn report_data_binding_is_sha384_of_jcs() {
    // The DESIGN binding: report_data = SHA-384(JCS({"nonce", "tee-pubkey"})).
    let runtime: Value = serde_json::from_str(
        r#"{ "tee-pubkey": {"y":"b","x":"a","crv":"P-256","kty":"EC"}, "nonce": "n0nce" }"#,
    )
    .unwrap();
    let bytes = canonicalize_to_vec(&runtime).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        r#"{"nonce":"n0nce","tee-pubkey":{"crv":"P-256","kty":"EC","x":"a","y":"b"}}"#
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &bytes);
    assert_eq!(digest.as_ref().len(), 48);
}

proptest::proptest! {
    #[test]
    fn doubles_round_trip_through_canonical_form(bits in proptest::prelude::any::<u64>()) {
        let f = f64::from_bits(bits);
        if let Some(n) = Number::from_f64(f) {
            let text = canonicalize(&Value::Number(n)).unwrap();
            let back: f64 = text.parse().unwrap();
            proptest::prop_assert!(back == f || (back == 0.0 && f == 0.0), "{} -> {}", f, text);
        }
    }
}

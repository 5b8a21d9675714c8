//! RFC 8785 JSON Canonicalization Scheme (JCS) for `serde_json::Value`.
//!
//! Mamori binds a TEE's key into hardware report data as
//! `SHA-384(JCS({"nonce": …, "tee-pubkey": <JWK>}))`; guests compute the same
//! bytes, so this must match RFC 8785 exactly:
//!
//! - object members sorted by their names as arrays of UTF-16 code units
//!   (RFC 8785 §3.2.3), recursively; arrays keep their order;
//! - strings escaped with the shortest JSON escapes: `\"`, `\\`, `\b`, `\f`,
//!   `\n`, `\r`, `\t`, other U+0000..U+001F as `\u00xx` (lowercase hex),
//!   everything else (including non-ASCII and U+007F) literally, as UTF-8;
//! - numbers serialised like ECMAScript `Number.prototype.toString` of the
//!   IEEE 754 double (RFC 8785 §3.2.2.3).
//!
//! Limits (documented, and tested): `serde_json::Value` (without the
//! `arbitrary_precision` feature) stores integers as `i64`/`u64` and other
//! numbers as `f64`, so
//! - integers with magnitude ≤ 2^53 are written as exact integers;
//! - larger integers are converted to the nearest double first, exactly as a
//!   JavaScript `JSON.parse` would, and then serialised ES-style (so
//!   `18446744073709551615` becomes `18446744073709552000`);
//! - non-integers are already doubles: their ES shortest round-trip form is
//!   produced (`1e21`, `1e-7`, `0.000001`, `-0` → `0` …);
//! - `NaN`/`Infinity` cannot occur in a `Value`;
//! - text is parsed to the correctly rounded double only with serde_json's
//!   `float_roundtrip` feature, which this crate enables (the default parser
//!   can be one ULP off: `333333333.33333329` would become `…33325`);
//! - duplicate member names cannot be detected here (the parser already kept
//!   the last one); callers that must refuse them have to parse strictly.

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// A value that RFC 8785 cannot canonicalise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// A number that is not a finite IEEE 754 double.
    #[error("number {0} is not a finite IEEE 754 double")]
    NonFiniteNumber(String),
}

/// The RFC 8785 canonical form of `value` as a string.
///
/// # Errors
/// [`JcsError::NonFiniteNumber`] (cannot happen for values parsed by serde_json,
/// kept so that future number representations fail closed).
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// The RFC 8785 canonical form of `value` as UTF-8 bytes (to hash).
///
/// # Errors
/// As [`canonicalize`].
pub fn canonicalize_to_vec(value: &Value) -> Result<Vec<u8>, JcsError> {
    canonicalize(value).map(String::into_bytes)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut String) -> Result<(), JcsError> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // UTF-16 code-unit order differs from UTF-8 byte order only when
    // supplementary-plane characters meet U+E000..U+FFFF.
    entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_value(item, out)?;
    }
    out.push('}');
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// 2^53: integers up to this magnitude are exact doubles.
const MAX_EXACT: u64 = 1 << 53;

fn write_number(n: &Number, out: &mut String) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        if u <= MAX_EXACT {
            let _ = write!(out, "{u}");
            return Ok(());
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_EXACT {
            let _ = write!(out, "{i}");
            return Ok(());
        }
    }
    // Large integers and non-integers: as the IEEE 754 double a JavaScript
    // reader would hold (`as_f64` rounds to nearest, as JSON.parse does).
    let f = n
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| JcsError::NonFiniteNumber(n.to_string()))?;
    write_es_double(f, out);
    Ok(())
}

/// ECMAScript Number::toString(10) for a finite double (ECMA-262 §6.1.6.1.20).
fn write_es_double(f: f64, out: &mut String) {
    if f == 0.0 {
        out.push('0'); // also for -0
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` prints the shortest digit string that round-trips (the
    // same digits ES requires: the smallest k), as `d[.ddd]e<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    tie_to_even(f.abs(), exp, &mut digits);
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // ES: value = 0.d1…dk × 10^n with n = exp + 1.
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).unwrap_or(0);
        let (int, frac) = digits.split_at(split.min(digits.len()));
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        let e = n - 1;
        if e >= 0 {
            out.push('+');
        }
        let _ = write!(out, "{e}");
    }
}

/// ECMA-262 picks, among the shortest digit strings that round-trip, the one
/// closest to the exact value, and on a tie the even one. Rust's shortest
/// formatting is closest but does not promise the even choice on an exact
/// tie (RFC 8785 Appendix B: 1424953923781206.25 must print as `…206.2`).
/// Two shortest candidates can only both round-trip with ≥ 16 digits (any
/// two distinct 15-digit decimals map to distinct doubles), so ties are only
/// looked for then.
///
/// A tie means `f` is exactly the midpoint `(L + ½) × 10^(exp−k+1)` of two
/// k-digit neighbours, one of which is the shortest form `D` (so `L` is `D`
/// or `D − 1`). That is decided in integers ([`is_exactly`]) rather than
/// from `f`'s full decimal expansion: printing hundreds of digits per
/// number would let a request full of 16-digit numbers (hashed as runtime
/// data before anything rejects it) cost seconds of CPU.
fn tie_to_even(f: f64, exp: i32, digits: &mut String) {
    let k = digits.len();
    // Below the normal range a double's exact expansion has hundreds of
    // significant digits: never a tie at 17 or 18.
    if !(16..=17).contains(&k) || f < f64::MIN_POSITIVE {
        return;
    }
    let Ok(d) = digits.parse::<u64>() else {
        return;
    };
    for low in [d, d.wrapping_sub(1)] {
        // `low` must keep k digits (no borrow into a shorter number).
        if low.to_string().len() != k {
            continue;
        }
        let midpoint = u128::from(low) * 10 + 5;
        if !is_exactly(midpoint, exp - i32::try_from(k).unwrap_or(i32::MAX), f) {
            continue;
        }
        // The even neighbour; rounding up out of k digits is left as is.
        let even = if low % 2 == 0 { low } else { low + 1 };
        let candidate = even.to_string();
        if candidate.len() == k && round_trips(&candidate, exp, f) {
            *digits = candidate;
        }
        return;
    }
}

/// Whether `n × 10^p` is exactly the double `f` (a normal, positive one).
/// It is when the value is a dyadic rational whose odd part fits in the
/// 53-bit significand — then parsing it (correctly rounded) gives it back
/// unchanged — and parses to `f`.
fn is_exactly(n: u128, p: i32, f: f64) -> bool {
    let scaled = if p >= 0 {
        // An integer: n × 5^p × 2^p.
        u32::try_from(p)
            .ok()
            .and_then(|p| 5u128.checked_pow(p))
            .and_then(|five| n.checked_mul(five))
    } else {
        // n / (5^q × 2^q): 5^q must divide n.
        u32::try_from(-i64::from(p))
            .ok()
            .and_then(|q| 5u128.checked_pow(q))
            .and_then(|five| n.is_multiple_of(five).then(|| n / five))
    };
    let Some(m) = scaled.filter(|m| *m != 0) else {
        return false;
    };
    let odd = m >> m.trailing_zeros();
    odd < (1u128 << 53) && format!("{n}e{p}").parse::<f64>().ok() == Some(f)
}

fn round_trips(digits: &str, exp: i32, f: f64) -> bool {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    format!("{first}.{rest}e{exp}").parse::<f64>().ok() == Some(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn es(f: f64) -> String {
        let mut s = String::new();
        write_es_double(f, &mut s);
        s
    }

    /// The earlier implementation, from `f`'s exact decimal expansion: the
    /// oracle the integer test is compared with.
    fn tie_to_even_by_expansion(f: f64, exp: i32, digits: &mut String) {
        let k = digits.len();
        if k < 16 {
            return;
        }
        let exact = format!("{f:.800e}");
        let Some((mantissa, exact_exp)) = exact.split_once('e') else {
            return;
        };
        if exact_exp.parse::<i32>().ok() != Some(exp) {
            return;
        }
        let exact_digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let (Some(low), Some(rest)) = (exact_digits.get(..k), exact_digits.get(k..)) else {
            return;
        };
        let is_midpoint = rest.first() == Some(&b'5') && rest.iter().skip(1).all(|b| *b == b'0');
        if !is_midpoint {
            return;
        }
        let last = low.last().copied().unwrap_or(b'0');
        let candidate = if last % 2 == 0 {
            String::from_utf8_lossy(low).into_owned()
        } else if last != b'9' {
            let mut up = low.to_vec();
            if let Some(d) = up.last_mut() {
                *d += 1;
            }
            String::from_utf8_lossy(&up).into_owned()
        } else {
            return;
        };
        if round_trips(&candidate, exp, f) {
            *digits = candidate;
        }
    }

    /// Both ways of settling ties, on `f`; and whether a tie changed the
    /// shortest digits.
    fn both(f: f64) -> (String, String, bool) {
        let sci = format!("{:e}", f);
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let exp: i32 = exp.parse().unwrap();
        let (mut a, mut b) = (digits.clone(), digits.clone());
        tie_to_even(f, exp, &mut a);
        tie_to_even_by_expansion(f, exp, &mut b);
        let changed = b != digits;
        (a, b, changed)
    }

    #[test]
    fn ties_are_settled_as_the_exact_expansion_settles_them() {
        // RFC 8785 Appendix B.
        let rfc: f64 = "1424953923781206.25".parse().unwrap();
        assert_eq!(es(rfc), "1424953923781206.2");
        // Exact quarter and half steps where doubles have 16 and 17
        // significant digits, around every power of ten they reach.
        let mut ties = 0;
        for e in -20..=22 {
            let base = 10f64.powi(e);
            for step in 0..100u32 {
                for frac in [0.25, 0.5, 0.75, 0.125, 0.375] {
                    let f = base * (1.0 + f64::from(step) * 1e-3) + frac * base * 1e-15;
                    let (new, old, _) = both(f);
                    assert_eq!(new, old, "{f:e}");
                }
            }
        }
        // Quarters above 2^50, where doubles have 16 significant digits
        // and every quarter step is a tie candidate.
        for n in (1u64 << 52)..(1u64 << 52) + 3_000 {
            let f = n as f64 / 4.0;
            let (new, old, changed) = both(f);
            assert_eq!(new, old, "{f:e}");
            ties += usize::from(changed);
        }
        assert!(ties > 100, "only {ties} ties exercised");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3_000))]
        #[test]
        fn any_double_is_settled_as_the_exact_expansion_settles_it(bits in proptest::prelude::any::<u64>()) {
            let f = f64::from_bits(bits);
            if f.is_finite() && f != 0.0 {
                let (new, old, _) = both(f.abs());
                proptest::prop_assert_eq!(new, old);
            }
        }
    }

    #[test]
    fn es_number_forms() {
        assert_eq!(es(1.0), "1");
        assert_eq!(es(-0.0), "0");
        assert_eq!(es(0.5), "0.5");
        assert_eq!(es(123.456), "123.456");
        assert_eq!(es(1e21), "1e+21");
        assert_eq!(es(1e20), "100000000000000000000");
        assert_eq!(es(1e-6), "0.000001");
        assert_eq!(es(1e-7), "1e-7");
        assert_eq!(es(-1.5e-7), "-1.5e-7");
        assert_eq!(es(4.5), "4.5");
        assert_eq!(es(0.002), "0.002");
        assert_eq!(es(333_333_333.333_333_3), "333333333.3333333");
    }
}

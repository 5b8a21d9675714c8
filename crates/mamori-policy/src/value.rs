//! Conversions between serde_json and regorus values, bounded so that no
//! input can exhaust the stack.

use crate::error::PolicyError;
use regorus::Value;
use std::collections::BTreeMap;

/// Deeper than any claims document we produce (serde_json's own parser stops
/// at 128); a value built in memory deeper than this is refused, not recursed.
const MAX_DEPTH: usize = 200;

/// A JSON document converted once into the policy engine's own form, so
/// that several evaluations can share it: the claims an appraisal policy
/// read are also the annotated evidence of the token a resource policy
/// reads later, and converting them is a large share of an evaluation's
/// cost. Cloning is cheap (members are shared, copied on write).
#[derive(Clone, Debug, PartialEq)]
pub struct Document(pub(crate) Value);

impl Document {
    pub fn from_json(v: &serde_json::Value) -> Result<Document, PolicyError> {
        Ok(Document(to_regorus(v)?))
    }

    /// What `from_json(&serde_json::to_value(x)?)` gives, without building
    /// the serde_json value first.
    pub fn from_serialize<T: serde::Serialize + ?Sized>(x: &T) -> Result<Document, PolicyError> {
        Ok(Document(crate::serialize::to_regorus(x)?))
    }

    /// Sets the member at `path` (a key in an object, in an object, …) to
    /// `value`, replacing what was there; the last object on the path must
    /// exist. Refused when a step is missing or is not an object.
    pub fn set(&mut self, path: &[&str], value: Document) -> Result<(), PolicyError> {
        let Some((last, parents)) = path.split_last() else {
            return Err(PolicyError::Input("an empty member path".into()));
        };
        let mut cur = &mut self.0;
        for (i, key) in parents.iter().enumerate() {
            cur = cur
                .as_object_mut()
                .ok()
                .and_then(|o| o.get_mut(&Value::from(*key)))
                .ok_or_else(|| {
                    PolicyError::Input(format!("no object at {}", path[..=i].join(".")))
                })?;
        }
        let object = cur
            .as_object_mut()
            .map_err(|_| PolicyError::Input(format!("{} is not an object", parents.join("."))))?;
        object.insert(Value::from(*last), value.0);
        Ok(())
    }
}

pub(crate) fn to_regorus(v: &serde_json::Value) -> Result<Value, PolicyError> {
    convert(v, 0)
}

fn convert(v: &serde_json::Value, depth: usize) -> Result<Value, PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::Input(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(f) = n.as_f64() {
                Value::from(f)
            } else {
                return Err(PolicyError::Input(format!("unrepresentable number {n}")));
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(
            a.iter()
                .map(|x| convert(x, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        serde_json::Value::Object(o) => {
            let mut m = BTreeMap::new();
            for (k, x) in o {
                m.insert(Value::from(k.as_str()), convert(x, depth + 1)?);
            }
            Value::from(m)
        }
    })
}

/// Build a regorus object from already-converted members.
pub(crate) fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::from(
        members
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Read the optional `reasons` output: a string, or an array or set of
/// strings. Bounded in count and length, because reasons end up in responses
/// and logs and a policy is not trusted to keep them small.
pub(crate) fn reasons(
    v: Option<&Value>,
    max_count: usize,
    max_len: usize,
) -> Result<Vec<String>, PolicyError> {
    let items: Vec<&Value> = match v {
        None | Some(Value::Undefined) | Some(Value::Null) => return Ok(Vec::new()),
        Some(s @ Value::String(_)) => vec![s],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Set(s)) => s.iter().collect(),
        Some(_) => {
            return Err(PolicyError::OutputShape {
                field: "reasons".into(),
                expected: "a string, or an array or set of strings".into(),
            })
        }
    };
    let total = items.len();
    let mut out = Vec::with_capacity(total.min(max_count + 1));
    for (i, item) in items.into_iter().enumerate() {
        let Value::String(s) = item else {
            return Err(PolicyError::OutputShape {
                field: format!("reasons[{i}]"),
                expected: "a string".into(),
            });
        };
        if i < max_count {
            out.push(truncate(s, max_len));
        }
    }
    if total > max_count {
        out.push(format!("… and {} more reasons", total - max_count));
    }
    Ok(out)
}

fn truncate(s: &str, max_len: usize) -> String {
    if s.len() <= max_len {
        return s.to_owned();
    }
    let mut end = max_len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Document {
        Document::from_json(&v).expect("converts")
    }

    #[test]
    fn set_replaces_a_nested_member_and_leaves_the_original_shared_copy_alone() {
        let original = doc(json!({"a": {"b": {"c": 1}}, "z": 2}));
        let mut d = original.clone();
        d.set(&["a", "b", "c"], doc(json!([true]))).expect("set");
        d.set(&["a", "new"], doc(json!("x"))).expect("added");
        assert_eq!(
            d,
            doc(json!({"a": {"b": {"c": [true]}, "new": "x"}, "z": 2}))
        );
        assert_eq!(original, doc(json!({"a": {"b": {"c": 1}}, "z": 2})));
    }

    #[test]
    fn set_refuses_paths_that_do_not_lead_to_an_object() {
        let mut d = doc(json!({"a": 1, "o": {}}));
        for path in [&[][..], &["missing", "x"], &["a", "x"], &["o", "x", "y"]] {
            assert!(
                matches!(d.set(path, doc(json!(0))), Err(PolicyError::Input(_))),
                "{path:?}"
            );
        }
        let mut not_object = doc(json!([1]));
        assert!(not_object.set(&["x"], doc(json!(0))).is_err());
    }
}

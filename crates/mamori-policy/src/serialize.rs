//! Any `Serialize` value straight into the policy engine's form, with the
//! result `Document::from_json(&serde_json::to_value(x)?)` would give but
//! without building the serde_json tree in between (allocating every key
//! and string twice, and dropping the first copy): the token's claims are
//! converted this way on every attestation. regorus's own deserializer is
//! not used, for the reason `value.rs` gives.

use crate::error::PolicyError;
use regorus::Value;
use serde::ser::{self, Serialize};
use std::collections::BTreeMap;

/// Deeper than any claims document we produce; as in `value.rs`.
const MAX_DEPTH: usize = 200;

/// serde_json's private struct names for a raw JSON value and, with its
/// `arbitrary_precision` feature, for a number kept as text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

pub(crate) fn to_regorus<T: Serialize + ?Sized>(
    value: &T,
) -> std::result::Result<Value, PolicyError> {
    Ok(value.serialize(ValueSerializer { depth: 0 })?)
}

#[derive(Debug)]
pub(crate) struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<Error> for PolicyError {
    fn from(e: Error) -> Self {
        PolicyError::Input(e.0)
    }
}

type Result<T> = std::result::Result<T, Error>;

#[derive(Clone, Copy)]
struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    fn nested(self) -> Result<ValueSerializer> {
        if self.depth >= MAX_DEPTH {
            return Err(Error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(ValueSerializer {
            depth: self.depth + 1,
        })
    }
}

/// `{variant: value}`, as serde_json represents enum variants with data.
fn tagged(variant: &str, value: Value) -> Value {
    Value::from(BTreeMap::from([(Value::from(variant), value)]))
}

/// A number serde_json kept as text (`arbitrary_precision`), read the way
/// `value.rs` reads a serde_json number.
fn number_from_text(text: &str) -> Result<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Value::from(u));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Value::from(f)),
        _ => Err(Error(format!("unrepresentable number {text}"))),
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = StructBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        // serde_json takes what fits 64 bits and refuses the rest.
        if let Ok(i) = i64::try_from(v) {
            Ok(Value::from(i))
        } else if let Ok(u) = u64::try_from(v) {
            Ok(Value::from(u))
        } else {
            Err(Error("number out of range".into()))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Value> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        // As `value.rs` does for a serde_json number: i64 when it fits.
        Ok(match i64::try_from(v) {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(v),
        })
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        match u64::try_from(v) {
            Ok(u) => self.serialize_u64(u),
            Err(_) => Err(Error("number out of range".into())),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        // serde_json has no non-finite numbers: they become null.
        Ok(if v.is_finite() {
            Value::from(v)
        } else {
            Value::Null
        })
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::from(v.encode_utf8(&mut [0; 4]) as &str))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(Value::from(
            v.iter()
                .map(|b| Value::from(i64::from(*b)))
                .collect::<Vec<_>>(),
        ))
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(tagged(variant, value.serialize(self.nested()?)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            inner: self.nested()?,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder> {
        let mut s = self.nested()?.serialize_seq(Some(len))?;
        s.variant = Some(variant);
        Ok(s)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder {
            inner: self.nested()?,
            map: BTreeMap::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<StructBuilder> {
        Ok(StructBuilder {
            map: self.serialize_map(None)?,
            special: match name {
                RAW_VALUE_TOKEN | NUMBER_TOKEN => Some(name),
                _ => None,
            },
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder> {
        let mut m = self.nested()?.serialize_map(None)?;
        m.variant = Some(variant);
        Ok(m)
    }
}

struct SeqBuilder {
    inner: ValueSerializer,
    items: Vec<Value>,
    /// For a tuple variant: its name, the key of the result.
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(self.inner)?);
        Ok(())
    }
    fn finish(self) -> Value {
        let array = Value::from(self.items);
        match self.variant {
            Some(v) => tagged(v, array),
            None => array,
        }
    }
}

/// The four sequence shapes of serde build the same array.
macro_rules! seq_shape {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for SeqBuilder {
            type Ok = Value;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.push(value)
            }
            fn end(self) -> Result<Value> {
                Ok(self.finish())
            }
        }
    };
}

seq_shape!(SerializeSeq, serialize_element);
seq_shape!(SerializeTuple, serialize_element);
seq_shape!(SerializeTupleStruct, serialize_field);
seq_shape!(SerializeTupleVariant, serialize_field);

struct MapBuilder {
    inner: ValueSerializer,
    map: BTreeMap<Value, Value>,
    key: Option<Value>,
    /// For a struct variant: its name, the key of the result.
    variant: Option<&'static str>,
}

impl MapBuilder {
    fn finish(self) -> Value {
        let object = Value::from(self.map);
        match self.variant {
            Some(v) => tagged(v, object),
            None => object,
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        self.map.insert(key, value.serialize(self.inner)?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.map
            .insert(Value::from(key), value.serialize(self.inner)?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

struct StructBuilder {
    map: MapBuilder,
    /// serde_json's private struct (raw value or number as text).
    special: Option<&'static str>,
}

impl ser::SerializeStruct for StructBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        ser::SerializeStructVariant::serialize_field(&mut self.map, key, value)
    }
    fn end(self) -> Result<Value> {
        let Some(token) = self.special else {
            return Ok(self.map.finish());
        };
        let text = self
            .map
            .map
            .get(&Value::from(token))
            .and_then(|v| v.as_string().ok())
            .ok_or_else(|| Error(format!("{token} without its text")))?;
        if token == NUMBER_TOKEN {
            return number_from_text(text);
        }
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error(format!("raw JSON value: {e}")))?;
        crate::value::to_regorus(&json).map_err(|e| Error(e.to_string()))
    }
}

/// Integer object keys become their decimal text, as in serde_json.
macro_rules! integer_keys {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<Value> {
            Ok(Value::from(v.to_string()))
        })*
    };
}

/// Object keys: strings, and the scalars serde_json writes as strings.
struct KeySerializer;

fn key_error() -> Error {
    Error("an object key must be a string".into())
}

impl ser::Serializer for KeySerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = ser::Impossible<Value, Error>;
    type SerializeTuple = ser::Impossible<Value, Error>;
    type SerializeTupleStruct = ser::Impossible<Value, Error>;
    type SerializeTupleVariant = ser::Impossible<Value, Error>;
    type SerializeMap = ser::Impossible<Value, Error>;
    type SerializeStruct = ser::Impossible<Value, Error>;
    type SerializeStructVariant = ser::Impossible<Value, Error>;

    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::from(v.encode_utf8(&mut [0; 4]) as &str))
    }
    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::from(if v { "true" } else { "false" }))
    }
    integer_keys!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128
    );
    fn serialize_f32(self, _v: f32) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Value> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_error())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    fn via_json<T: Serialize>(x: &T) -> Value {
        crate::value::to_regorus(&serde_json::to_value(x).unwrap()).unwrap()
    }

    #[derive(Serialize)]
    enum Kind {
        Unit,
        New(u8),
        Tuple(i32, String),
        Struct { a: bool, b: Option<u64> },
    }

    #[derive(Serialize)]
    struct Wrapper(u32);

    #[derive(Serialize)]
    struct Claims {
        name: &'static str,
        #[serde(rename = "ear.status")]
        status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u8>,
        present: Option<u8>,
        numbers: (i8, i64, u64, u128, i128, f32, f64),
        not_finite: f64,
        bytes: serde_bytes_like::Bytes,
        kinds: Vec<Kind>,
        wrapper: Wrapper,
        keyed: BTreeMap<u16, char>,
        json: serde_json::Value,
        unit: (),
    }

    /// `serialize_bytes` without a dependency for it.
    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    #[test]
    fn equals_the_conversion_through_serde_json() {
        let claims = Claims {
            name: "x",
            status: "affirming",
            absent: None,
            present: Some(7),
            numbers: (-8, i64::MIN, u64::MAX, 5, -6, 1.5, -0.25),
            not_finite: f64::NAN,
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            kinds: vec![
                Kind::Unit,
                Kind::New(1),
                Kind::Tuple(-1, "t".into()),
                Kind::Struct { a: true, b: None },
            ],
            wrapper: Wrapper(9),
            keyed: BTreeMap::from([(10, 'a'), (2, 'b')]),
            json: json!({"$serde_json::private::Number": "1e2000000000", "nested": [1, {"k": null}], "big": 18446744073709551615u64, "f": 2.5}),
            unit: (),
        };
        assert_eq!(to_regorus(&claims).unwrap(), via_json(&claims));
        // The marker key stays an ordinary key (as in `value.rs`).
        let v = to_regorus(&claims).unwrap();
        assert!(v["json"]["$serde_json::private::Number"]
            .as_string()
            .is_ok());
    }

    #[test]
    fn refuses_what_serde_json_refuses_and_deep_nesting() {
        let float_keys = BTreeMap::from([(vec![1u8], 1)]);
        assert!(to_regorus(&float_keys).is_err());
        assert!(serde_json::to_value(&float_keys).is_err());
        let mut deep = json!(1);
        for _ in 0..(MAX_DEPTH + 5) {
            deep = json!([deep]);
        }
        assert!(to_regorus(&deep).is_err());
        let mut ok = json!(1);
        for _ in 0..(MAX_DEPTH - 5) {
            ok = json!({"a": ok});
        }
        assert_eq!(to_regorus(&ok).unwrap(), via_json(&ok));
    }

    #[test]
    fn numbers_as_text_read_like_serde_json_numbers() {
        assert_eq!(number_from_text("-3").unwrap(), Value::from(-3i64));
        assert_eq!(
            number_from_text("18446744073709551615").unwrap(),
            Value::from(u64::MAX)
        );
        assert_eq!(number_from_text("0.5").unwrap(), Value::from(0.5));
        assert!(number_from_text("1e999").is_err());
    }
}

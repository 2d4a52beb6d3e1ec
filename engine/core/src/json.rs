//! JSON that means one thing to every reader.
//!
//! `serde_json` keeps the last of two equal keys in an object; other
//! parsers keep the first or refuse. A request, a context or a token's
//! claims with `"role": "admin"` twice could then mean one thing to the
//! gateway that checked it and another to Palisade. [`parse`] refuses
//! such input instead; depth stays bounded by `serde_json` (128 levels).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `text` as one JSON value; an object that names a key twice is
/// an error (with line and column, as every `serde_json` error).
///
/// # Errors
/// The `serde_json` error: malformed JSON, nesting deeper than 128
/// levels, or a duplicate key.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

/// What a `serde_json` error says, without the ` at line L column C` that
/// its `Display` appends (callers put the location first, once).
pub fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(m) => m.to_owned(),
        None => text,
    }
}

/// A JSON value deserialized with duplicate keys refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Strict(pub(crate) Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

/// A JSON object deserialized with duplicate keys refused (token claims):
/// `serde_json::from_str::<StrictObject>` or any serde format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrictObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StrictObject, D::Error> {
        match d.deserialize_map(StrictVisitor)? {
            Value::Object(m) => Ok(StrictObject(m)),
            _ => Err(de::Error::custom("expected a JSON object")),
        }
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; `from_f64` refuses only those.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    key.escape_debug()
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn equals_serde_json_where_keys_are_unique() {
        let text =
            r#"{"a":[1,-2,3.5,1e300,true,null,"é\u0000"],"b":{"c":{}},"d":18446744073709551615}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn a_key_twice_is_refused_at_any_depth() {
        for text in [
            r#"{"role":"user","role":"admin"}"#,
            r#"{"a":[{"x":1,"y":2,"x":3}]}"#,
            r#"{"a":{"b":{"c":1,"c":1}}}"#,
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains("duplicate key"), "{text}: {e}");
        }
        // Keys that differ only once unescaped are the same key.
        assert!(parse(r#"{"a":1,"\u0061":2}"#).is_err());
    }

    #[test]
    fn messages_say_their_location_once() {
        let e = parse("{\"a\":1,\n\"a\":2}").unwrap_err();
        assert_eq!((e.line(), message(&e).as_str()), (2, "duplicate key `a`"));
    }

    #[test]
    fn depth_stays_bounded() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&deep).unwrap_err().to_string().contains("recursion"));
        let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
        assert!(parse(&deep).is_err());
    }
}

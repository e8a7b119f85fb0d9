//! SCIM request bodies as JSON values, read strictly: a member name given
//! twice in one object, at any depth, is refused, as for every JSON body
//! revokd reads (two parsers that keep different duplicates would disagree
//! about what was asked).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::error::ScimError;

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
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
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "the member `{}` is given twice",
                    name.chars()
                        .filter(|c| !c.is_control())
                        .take(64)
                        .collect::<String>()
                )));
            }
            let Strict(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// Reads a request body.
///
/// # Errors
/// `invalidSyntax`: not JSON, or a member given twice.
pub fn parse(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice::<Strict>(body)
        .map(|s| s.0)
        .map_err(|e| {
            ScimError::InvalidSyntax(format!(
                "the body is not JSON with unique member names: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_given_twice_is_refused_at_any_depth() {
        for body in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"Operations": [{"op": "replace", "op": "remove"}]}"#,
            r#"{"x": {"y": {"z": 1, "z": 1}}}"#,
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.scim_type(), Some("invalidSyntax"), "{body}");
        }
    }

    #[test]
    fn json_reads_as_serde_json_reads_it() {
        let body = r#"{"a": [1, -2, 3.5, "s", true, null, {"b": {}}], "c": "\u00e9"}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
        assert!(parse(b"{").is_err());
        assert!(parse(b"").is_err());
    }
}

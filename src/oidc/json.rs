//! The JSON objects inside a compact JWS or JWE (headers and claims),
//! decoded strictly. Shared by [`super::jwe`] and [`super::logout_token`].

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::LogoutTokenError;

/// Decodes a base64url part holding a JSON object (RFC 7515 §5.2 steps 2–4,
/// RFC 7519 §7.2 step 10). Duplicate member names are refused, since
/// parsers that keep different duplicates disagree about the token.
pub(crate) fn decode_json_object(
    part: &str,
    part_name: JsonPart,
) -> Result<Map<String, Value>, LogoutTokenError> {
    let (not_base64, not_json, not_object) = match part_name {
        JsonPart::JwsHeader => (
            "JWS header is not base64url",
            "JWS header is not valid JSON (RFC 8259; a lone surrogate escape is invalid)",
            "JWS header is not a JSON object with unique member names",
        ),
        JsonPart::JweHeader => (
            "JWE header is not base64url",
            "JWE header is not valid JSON (RFC 8259; a lone surrogate escape is invalid)",
            "JWE header is not a JSON object with unique member names",
        ),
        JsonPart::Claims => (
            "claims are not base64url",
            "claims are not valid JSON (RFC 8259; a lone surrogate escape is invalid)",
            "claims are not a JSON object with unique member names",
        ),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| LogoutTokenError::Malformed { detail: not_base64 })?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map(|object| object.0)
        .map_err(|err| LogoutTokenError::Malformed {
            // Syntax (a lone surrogate included) is not JSON at all; a
            // well-formed value of another shape is not an object.
            detail: if err.is_syntax() || err.is_eof() {
                not_json
            } else {
                not_object
            },
        })
}

/// Which JSON part [`decode_json_object`] reads, for its error detail.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonPart {
    JwsHeader,
    JweHeader,
    Claims,
}

/// A JSON object with unique member names.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(name, value).is_some() {
                        return Err(de::Error::custom("duplicate member name"));
                    }
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

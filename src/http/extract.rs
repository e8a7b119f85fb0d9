//! Body and query extractors whose errors name the offending field.
//!
//! actix's own `Json` and `Query` report serde's message, which often does
//! not say *where* ("invalid digit found in string"). These wrap the same
//! parsing in `serde_path_to_error`, so a caller reads "`iat`: invalid
//! digit found in string" instead.
//!
//! They are also stricter than actix's: a JSON body with a repeated member
//! name anywhere (`{"jti":"a","jti":"b"}`) and a query string or form
//! whose percent-decoding is not UTF-8 (`jti=%FF`) are refused with 400,
//! rather than read as "the last one wins" or with U+FFFD in place of the
//! bytes: two parsers that resolve such input differently (a proxy and
//! revokd) would otherwise disagree about what was asked.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::ApiError;

fn with_path<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    if path == "." || path.is_empty() {
        err.inner().to_string()
    } else {
        format!("`{path}`: {}", err.inner())
    }
}

/// A JSON body of type `T`. Size limit, content type and syntax are checked
/// by actix's `Json` (configured in [`super::app`]); the mapping onto `T` by
/// `serde_path_to_error`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<StrictJson>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner().0;
            serde_path_to_error::deserialize(value)
                .map(JsonBody)
                .map_err(|e| {
                    ApiError::invalid(format!("malformed JSON body: {}", with_path(&e))).into()
                })
        })
    }
}

/// Query-string parameters of type `T`.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Err(why) = strict_urlencoded(req.query_string().as_bytes()) {
            return std::future::ready(Err(ApiError::invalid(format!(
                "malformed query string: {why}"
            ))));
        }
        let parse = || {
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(
                req.query_string().as_bytes(),
            ))
        };
        // Plain serde first (a check's query, on the hot path); only a
        // query it refuses is read again to name the offending field.
        let result = T::deserialize(parse()).map(QueryParams).or_else(|_| {
            serde_path_to_error::deserialize(parse())
                .map(QueryParams)
                .map_err(|e| {
                    ApiError::invalid(format!("malformed query string: {}", with_path(&e)))
                })
        });
        std::future::ready(result)
    }
}

/// An `application/x-www-form-urlencoded` body of type `T` (RFC 7662 and
/// OAuth endpoints take forms). The size limit is actix's `PayloadConfig`
/// (configured in [`super::app`]).
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for FormBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_form {
                return Err(ApiError::UnsupportedMediaType(
                    "send `Content-Type: application/x-www-form-urlencoded`".into(),
                )
                .into());
            }
            let bytes = bytes
                .await
                .map_err(|e| match e.as_response_error().status_code() {
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
                        "the body is larger than `http.body_limit`".into(),
                    ),
                    _ => ApiError::invalid(format!("unreadable body: {e}")),
                })?;
            strict_urlencoded(&bytes)
                .map_err(|why| ApiError::invalid(format!("malformed form body: {why}")))?;
            let parse = || serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
            // Plain serde first (an introspection's form, on a hot path:
            // the path-tracking parse was 6.1 % of an introspect profile);
            // only a form it refuses is read again to name the field.
            T::deserialize(parse()).map(FormBody).or_else(|_| {
                serde_path_to_error::deserialize(parse())
                    .map(FormBody)
                    .map_err(|e| {
                        ApiError::invalid(format!("malformed form body: {}", with_path(&e))).into()
                    })
            })
        })
    }
}

/// Checks that every name and value of an `application/x-www-form-urlencoded`
/// string (a query string or a form) decodes to UTF-8, so that
/// `form_urlencoded::parse`, which replaces bad bytes by U+FFFD, reads it
/// exactly.
///
/// # Errors
/// The offending name, or the name whose value is not UTF-8.
pub fn strict_urlencoded(input: &[u8]) -> Result<(), String> {
    // The common case, at no cost: nothing percent-encoded, so every name
    // and value is a slice of input that is UTF-8 as a whole.
    if !input.contains(&b'%') && std::str::from_utf8(input).is_ok() {
        return Ok(());
    }
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let mut halves = pair.splitn(2, |&b| b == b'=');
        let name = percent_decode(halves.next().unwrap_or_default());
        let value = percent_decode(halves.next().unwrap_or_default());
        let name = String::from_utf8(name)
            .map_err(|_| "a parameter name is not UTF-8 once percent-decoded".to_owned())?;
        if std::str::from_utf8(&value).is_err() {
            return Err(format!("`{name}` is not UTF-8 once percent-decoded"));
        }
    }
    Ok(())
}

/// `+` as space and `%XX` as its byte; a `%` without two hex digits stays
/// as it is (as `form_urlencoded` does).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// A JSON value whose objects, at every depth, have unique member names.
pub struct StrictJson(pub Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let StrictJson(value) = access.next_value()?;
            if map.contains_key(&name) {
                return Err(de::Error::custom(format_args!(
                    "`{name}` is given more than once"
                )));
            }
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        let parse = |s: &str| serde_json::from_str::<StrictJson>(s).map(|j| j.0);
        let err = parse(r#"{"jti":"a","jti":"b"}"#).unwrap_err().to_string();
        assert!(err.contains("`jti` is given more than once"), "{err}");
        let err = parse(r#"{"a":[{"x":1,"x":1}]}"#).unwrap_err().to_string();
        assert!(err.contains("`x`"), "{err}");
        assert_eq!(
            parse(r#"{"a":[1,2.5,"s",null,true,{"b":{}}],"c":-3}"#).unwrap(),
            serde_json::json!({"a":[1,2.5,"s",null,true,{"b":{}}],"c":-3})
        );
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        assert!(strict_urlencoded(b"jti=%FF").unwrap_err().contains("`jti`"));
        assert!(strict_urlencoded(b"%C3=x").is_err());
        assert!(strict_urlencoded(b"jti=%C3%A9&x=a+b&y=%&z=%4").is_ok());
        assert!(strict_urlencoded(b"").is_ok());
        assert_eq!(percent_decode(b"a+%41%zz%4"), b"a A%zz%4");
    }
}

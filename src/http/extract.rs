//! Body and query extractors whose errors name the offending field.
//!
//! actix's own `Json` and `Query` report serde's message, which often does
//! not say *where* ("invalid digit found in string"). These wrap the same
//! parsing in `serde_path_to_error`, so a caller reads "`iat`: invalid
//! digit found in string" instead.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

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
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
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
        let parsed = form_urlencoded::parse(req.query_string().as_bytes());
        let result = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parsed))
            .map(QueryParams)
            .map_err(|e| ApiError::invalid(format!("malformed query string: {}", with_path(&e))));
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
            let parsed = form_urlencoded::parse(&bytes);
            serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(parsed))
                .map(FormBody)
                .map_err(|e| {
                    ApiError::invalid(format!("malformed form body: {}", with_path(&e))).into()
                })
        })
    }
}

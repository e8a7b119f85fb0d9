//! Extractors that authenticate a request by its API key.
//!
//! Put them first in a handler's arguments: actix runs extractors in order,
//! so a caller without a key learns "401" before anything about its body.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::ApiError;
use super::state::AppState;
use crate::api_keys::{Principal, Role};

/// The key presented as `Authorization: Bearer <key>`; the scheme is
/// case-insensitive (RFC 7235 §2.1).
pub(super) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

fn state(req: &HttpRequest) -> Result<&AppState, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))
}

/// "an admin", "a client": the role with its indefinite article.
fn with_article(role: Role) -> String {
    let name = role.as_str();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// The caller's principal, borrowed: a check, which only needs to know
/// that the key is good, copies nothing.
fn authenticate(req: &HttpRequest, required: Role) -> Result<&Principal, ApiError> {
    let state = state(req)?;
    let key = bearer(req).ok_or(ApiError::Unauthorized)?;
    let principal = state.keys.authenticate(key).ok_or(ApiError::Unauthorized)?;
    if !principal.role.satisfies(required) {
        return Err(ApiError::Forbidden(format!(
            "{} key may not use this endpoint; it needs {} key",
            with_article(principal.role),
            with_article(required)
        )));
    }
    Ok(principal)
}

/// A caller holding an admin key.
pub struct AdminKey(pub Principal);

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req, Role::Admin).map(|p| Self(p.clone())))
    }
}

/// A caller holding a client (or admin) key: an application.
pub struct ClientKey(pub Principal);

impl FromRequest for ClientKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req, Role::Client).map(|p| Self(p.clone())))
    }
}

/// A caller allowed to check: anyone when `check.require_client_key` is
/// off, otherwise a holder of a client or admin key.
pub struct CheckCaller;

impl FromRequest for CheckCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = state(req).and_then(|state| {
            if state.check.require_client_key {
                authenticate(req, Role::Client).map(|_| Self)
            } else {
                Ok(Self)
            }
        });
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_key() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ];
        for (value, expected) in cases {
            let req = TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request();
            assert_eq!(bearer(&req), expected, "{value:?}");
        }
    }
}

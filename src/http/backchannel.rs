//! `POST /backchannel-logout`: where identity providers send logout tokens
//! (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use serde::Serialize;

use super::auth::AdminKey;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::backchannel::{LogoutRecord, ReceiveError, Received};
use crate::domain::UnixTime;

/// The form of §2.5: `logout_token` once; other parameters are ignored.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documents the form for the OpenAPI document only
pub struct LogoutForm {
    /// The logout token (a signed, possibly encrypted, JWT). Whether it is
    /// valid (signed by a configured provider's key, with the claims of
    /// §2.4) no schema can say: an invalid one is a `400` naming the rule.
    #[schema(min_length = 1)]
    logout_token: String,
}

/// What revokd did with a valid logout token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogoutResponse {
    /// `revoked`, or `already_processed` for a token seen before.
    #[schema(example = "revoked")]
    pub result: &'static str,
}

/// Receive a logout token.
///
/// Validates the token by every rule of OpenID Connect Back-Channel Logout
/// 1.0 §2.6 and, when valid, revokes the session (`sid`) or every token of
/// the subject issued until now (`sub` alone). The revocation is durable
/// before the `200` is sent; a session revokd never saw is still a success
/// (a later registration of it is refused). A replayed token is answered
/// `200` without a second effect. Errors follow §2.8: `400` with
/// `invalid_request` and the broken rule.
#[utoipa::path(
    tag = "backchannel",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or already processed)", body = LogoutResponse),
        (status = 400, description = "The token, or the request, breaks a rule: `error_description` names it", body = ErrorBody),
        (status = 413, description = "Body larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not a form, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "The store, or the provider's keys, are unavailable: retry. A token only its provider's keys are missing for is kept (`error_description` says so) and applied as soon as they can verify it", body = ErrorBody),
    )
)]
#[post("/backchannel-logout")]
pub async fn post_backchannel_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    receive(&req, &state, payload, None).await
}

/// Receive a logout token for one provider.
///
/// The same as `POST /backchannel-logout`, with the provider fixed by the
/// path: its name in the configuration. Needed for encrypted logout tokens
/// when several providers have decryption keys.
#[utoipa::path(
    tag = "backchannel",
    params(("provider" = String, Path, description = "The provider's `name` in the configuration")),
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or already processed)", body = LogoutResponse),
        (status = 400, description = "The token, or the request, breaks a rule: `error_description` names it", body = ErrorBody),
        (status = 404, description = "No provider has that name", body = ErrorBody),
        (status = 413, description = "Body larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not a form, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "The store, or the provider's keys, are unavailable: retry. A token only its provider's keys are missing for is kept (`error_description` says so) and applied as soon as they can verify it", body = ErrorBody),
    )
)]
#[post("/backchannel-logout/{provider}")]
pub async fn post_provider_backchannel_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    provider: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    receive(&req, &state, payload, Some(&provider)).await
}

async fn receive(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    pinned: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    // An unknown provider is a wrong URL: say so before reading, let alone
    // decoding, anything the client sent.
    if let Some(name) = pinned
        && state.logouts.providers().by_name(name).is_none()
    {
        return Err(ApiError::UnknownProvider(name.to_owned()));
    }
    let form = read_form(req, payload, state.body_limit).await?;
    let token = logout_token(&form)?;
    let result = match state.logouts.receive(pinned, &token, UnixTime::now()).await {
        Ok(Received::Revoked(_)) => "revoked",
        Ok(Received::Replayed) => "already_processed",
        Err(ReceiveError::Store(err)) => return Err(err.into()),
        Err(ReceiveError::UnknownProvider(name)) => {
            return Err(ApiError::UnknownProvider(name));
        }
        Err(err @ ReceiveError::KeysUnavailable { .. }) => {
            return Err(ApiError::Unavailable(err.to_string()));
        }
        // §2.8: 400, and the broken rule first, so that it reads as a code.
        Err(err) => return Err(ApiError::invalid(format!("{}: {err}", err.rule()))),
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(LogoutResponse { result }))
}

/// Reads an `application/x-www-form-urlencoded` body of at most `limit`
/// bytes.
async fn read_form(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::invalid(
            "send the logout token as application/x-www-form-urlencoded",
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The one `logout_token` parameter (§2.5); a repeated one is refused,
/// since two tokens in one request leave it unclear which to act on.
fn logout_token(form: &[u8]) -> Result<String, ApiError> {
    let mut tokens = form_urlencoded::parse(form)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, v)| v);
    match (tokens.next(), tokens.next()) {
        (None, _) => Err(ApiError::invalid("missing the `logout_token` parameter")),
        (Some(_), Some(_)) => Err(ApiError::invalid("`logout_token` is given more than once")),
        (Some(token), None) if token.is_empty() => {
            Err(ApiError::invalid("`logout_token` is empty"))
        }
        (Some(token), None) => Ok(token.into_owned()),
    }
}

/// The most recent logout tokens and what became of them.
///
/// Newest first, at most `backchannel.recent_tokens`, kept in memory by this
/// instance: why each was accepted or refused, and for valid ones the
/// session, subject and token id. Never the token itself.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "Recent logout tokens", body = Vec<LogoutRecord>),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[get("/v1/admin/logout-tokens")]
pub async fn get_recent_logout_tokens(
    _admin: AdminKey,
    state: web::Data<AppState>,
) -> HttpResponse {
    HttpResponse::Ok().json(state.logouts.recent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logout_token_parameter_must_appear_exactly_once() {
        assert_eq!(logout_token(b"logout_token=abc&state=x").unwrap(), "abc");
        assert_eq!(logout_token(b"x=1&logout_token=a%2Bb").unwrap(), "a+b");
        for (form, needle) in [
            (&b""[..], "missing"),
            (b"logout_token=a&logout_token=b", "more than once"),
            (b"logout_token=", "empty"),
            (b"token=abc", "missing"),
        ] {
            let err = logout_token(form).unwrap_err().to_string();
            assert!(err.contains(needle), "{form:?}: {err}");
        }
    }
}

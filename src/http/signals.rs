//! `POST /ssf/push/{stream}` (RFC 8935 push delivery of Security Event
//! Tokens) and `POST /global-token-revocation/{provider}` (Okta Universal
//! Logout, draft-parecki-oauth-global-token-revocation). Thin: read the
//! bounded body, hand it to [`crate::signals`], map the outcome.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use futures_util::StreamExt;

use super::auth::bearer;
use super::error::{ApiError, ErrorBody, SetErrorBody};
use super::state::AppState;
use crate::domain::UnixTime;
use crate::oidc::set::MAX_JWT_BYTES;
use crate::signals::{SET_MEDIA_TYPE, SignalError};

/// The `Content-Type` essence, lower-cased.
fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
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

/// Receive a Security Event Token pushed by a Shared Signals transmitter.
///
/// RFC 8935: the body is one SET (`Content-Type: application/secevent+jwt`),
/// the transmitter authenticates with the stream's bearer token. The SET is
/// validated (RFC 8417, SSF 1.0: signed by the stream's provider, `typ`
/// `secevent+jwt`, `iss`, `aud`, `iat` window, one event) and its CAEP or
/// RISC event applied once per `jti`; the change is durable before the
/// `202`. Unknown events, and known events that change nothing, are
/// acknowledged (`202`) and counted. Refusals carry RFC 8935's
/// `{"err", "description"}`.
#[utoipa::path(
    tag = "signals",
    params(("stream" = String, Path, description = "The stream's `name` in `[[streams]]`")),
    request_body(content = String, content_type = "application/secevent+jwt", description = "One SET (a signed JWT)"),
    responses(
        (status = 202, description = "Accepted: applied, already applied, or acknowledged without a change"),
        (status = 400, description = "The SET breaks a rule: `err` is `invalid_request`, `invalid_key`, `invalid_issuer` or `invalid_audience`", body = SetErrorBody),
        (status = 401, description = "No or a wrong bearer token: `authentication_failed`", body = SetErrorBody),
        (status = 404, description = "No stream has that name", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB or `http.body_limit`", body = ErrorBody),
        (status = 503, description = "The store, or the provider's keys, are unavailable: retry", body = ErrorBody),
    )
)]
#[post("/ssf/push/{stream}")]
pub async fn post_ssf_push(
    req: HttpRequest,
    state: web::Data<AppState>,
    stream: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let signals = &state.signals;
    if !signals.has_stream(&stream) {
        return Err(ApiError::from_push(SignalError::UnknownStream(
            stream.into_inner(),
        )));
    }
    // Authenticated before the body is read.
    signals
        .authenticate_push(&stream, bearer(&req))
        .map_err(ApiError::from_push)?;
    if media_type(&req) != SET_MEDIA_TYPE {
        return Err(ApiError::from_push(SignalError::BadRequest(format!(
            "send the SET as `Content-Type: {SET_MEDIA_TYPE}` (RFC 8935 §2)"
        ))));
    }
    let body = read_body(payload, state.body_limit.min(MAX_JWT_BYTES)).await?;
    let token = String::from_utf8(body).map_err(|_| {
        ApiError::from_push(SignalError::BadRequest("the body is not UTF-8 text".into()))
    })?;
    signals
        .push(&stream, bearer(&req), &token, UnixTime::now())
        .await
        .map_err(ApiError::from_push)?;
    Ok(HttpResponse::Accepted()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish())
}

/// Global Token Revocation (Okta Universal Logout).
///
/// The provider signs a JWT (`Authorization: Bearer <jwt>`: its issuer,
/// this endpoint as `aud`, within its lifetime, verified with the
/// provider's JWK Set) and names the person as `{"sub_id": {...}}` (RFC
/// 9493). Every token of that person issued until now is revoked, durably,
/// before the `204`; each caller token acts once (a replayed one is
/// answered `204` and changes nothing). revokd keeps no user directory, so a person it never
/// saw is revoked too (and `404` means no such caller, never no such user).
#[utoipa::path(
    tag = "signals",
    params(("provider" = String, Path, description = "The `provider` of a `[[global_token_revocation]]` entry")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "`{\"sub_id\": {\"format\": \"iss_sub\", \"iss\": \"…\", \"sub\": \"…\"}}`"),
    responses(
        (status = 204, description = "Every token of the person issued until now is revoked"),
        (status = 400, description = "Malformed body, or a `sub_id` revokd cannot map", body = ErrorBody),
        (status = 401, description = "No caller token, or it breaks a rule", body = ErrorBody),
        (status = 403, description = "The `sub_id` names another issuer's subject", body = ErrorBody),
        (status = 404, description = "No caller is configured for that provider", body = ErrorBody),
        (status = 413, description = "Body larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 503, description = "The store, or the provider's keys, are unavailable: retry", body = ErrorBody),
    )
)]
#[post("/global-token-revocation/{provider}")]
pub async fn post_global_token_revocation(
    req: HttpRequest,
    state: web::Data<AppState>,
    provider: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let signals = &state.signals;
    if !signals.has_caller(&provider) {
        return Err(ApiError::from_gtr(SignalError::UnknownCaller(
            provider.into_inner(),
        )));
    }
    if bearer(&req).is_none() {
        return Err(ApiError::from_gtr(SignalError::AuthenticationFailed));
    }
    if media_type(&req) != "application/json" {
        return Err(ApiError::UnsupportedMediaType(
            "send `Content-Type: application/json`".into(),
        ));
    }
    let body = read_body(payload, state.body_limit).await?;
    signals
        .global_token_revocation(&provider, bearer(&req), &body, UnixTime::now())
        .await
        .map_err(ApiError::from_gtr)?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish())
}

/// A verification asked of a managed stream's transmitter.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VerificationRequested {
    /// The stream's `name` in `[[streams]]`.
    pub stream: String,
    /// Unix time the request was sent. When the verification SET with its
    /// `state` comes back is `verified_at` on `/readyz`
    /// (`stream:{name}`) and
    /// `revokd_ssf_verification_timestamp_seconds{step="received"}`.
    pub requested_at: i64,
}

/// Ask a managed stream's transmitter for a verification event now.
///
/// OpenID SSF 1.0 §8.1.4.2: revokd posts `{stream_id, state}` to the
/// transmitter's `verification_endpoint`; the transmitter answers with a
/// verification SET carrying that `state`, which revokd records. Only for
/// a stream with `[streams.management]`.
#[utoipa::path(
    tag = "admin",
    params(("stream" = String, Path, description = "The stream's `name` in `[[streams]]`")),
    responses(
        (status = 202, description = "Asked; the answer arrives as a SET", body = VerificationRequested),
        (status = 400, description = "The stream is not managed (no `[streams.management]`)", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 404, description = "No stream has that name", body = ErrorBody),
        (status = 503, description = "The stream is not set up at the transmitter yet, or the transmitter failed", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/streams/{stream}/verify")]
pub async fn post_stream_verify(
    _admin: super::auth::AdminKey,
    state: web::Data<AppState>,
    stream: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stream = stream.into_inner();
    let requested_at = state
        .signals
        .request_verification(&stream)
        .await
        .map_err(ApiError::from_push)?;
    Ok(HttpResponse::Accepted()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(VerificationRequested {
            stream,
            requested_at: requested_at.as_secs(),
        }))
}

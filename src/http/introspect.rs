//! `POST /v1/introspect`: OAuth 2.0 Token Introspection (RFC 7662) for
//! resource servers that speak it instead of asking `/v1/check`.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, ContentType, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder, web};
use serde::{Deserialize, Serialize};

use super::auth::ClientKey;
use super::check::DEGRADED_HEADER;
use super::error::{ApiError, ErrorBody};
use super::extract::FormBody;
use super::hot_route;
use super::state::AppState;
use crate::domain::{UnixTime, Verdict};
use crate::gateway::{GateError, Identified, ProfileKind};
use crate::jwt::{Audience, numeric_date};

/// RFC 7662 §2.1. Unknown parameters, `token_type_hint` among them, are
/// ignored (RFC 6749 §3.2): revokd reads a token by its profile.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IntrospectForm {
    /// The token.
    #[schema(min_length = 1)]
    pub token: String,
    /// revokd's extension: the profile to read the token with; default
    /// `forward_auth.profile`.
    #[schema(value_type = ProfileName, required = false, example = "home-assistant")]
    pub profile: Option<ProfileKind>,
}

/// The names of [`ProfileKind`], for the OpenAPI document only (the
/// gateway module knows no OpenAPI).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum ProfileName {
    Jwt,
    HomeAssistant,
    Opaque,
}

/// RFC 7662 §2.2. An inactive token gets `{"active": false}` and nothing
/// else; an active one, the claims revokd read from it.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IntrospectResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The provider session (OIDC `sid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl IntrospectResponse {
    #[cfg(test)]
    fn inactive() -> Self {
        Self::default()
    }

    fn active(identified: Identified) -> Self {
        let Some(c) = identified.claims else {
            return Self {
                active: true,
                ..Self::default()
            };
        };
        let date = |t| numeric_date(t).map(UnixTime::as_secs);
        Self {
            active: true,
            exp: date(c.exp),
            iat: date(c.iat),
            nbf: date(c.nbf),
            scope: c.scope,
            client_id: c.client_id,
            username: c.username,
            sub: c.sub,
            aud: c.aud,
            iss: c.iss,
            jti: c.jti,
            sid: c.sid,
        }
    }
}

/// Is this token active? (RFC 7662)
///
/// Reads the token under its profile (`profile`, default
/// `forward_auth.profile`) and answers as RFC 7662 §2.2 says: a revoked,
/// expired, malformed or (where verification is configured) unverifiable
/// token is `{"active": false}`. The claims of an active token are read
/// from it; they are verified only where `[forward_auth.jwt]` configures
/// verification.
#[utoipa::path(
    post,
    path = "/v1/introspect",
    impl_for = PostIntrospect,
    tag = "gateway",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The answer", body = IntrospectResponse),
        (status = 400, description = "No `token`, or an unknown `profile`", body = ErrorBody),
        (status = 401, description = "A client key is required and none or a wrong one was given", body = ErrorBody),
        (status = 413, description = "The body is larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not a form, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "The store cannot be read, this instance's mirror is loading or behind the store, or a provider's keys are not loaded yet: treat the token as inactive", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
async fn post_introspect(
    _caller: ClientKey,
    state: web::Data<AppState>,
    form: FormBody<IntrospectForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.0;
    if form.token.is_empty() {
        return Err(ApiError::invalid("`token` is required"));
    }
    let profile = form.profile.unwrap_or(state.gate.settings().profile);
    let now = UnixTime::now();
    let mut response = HttpResponse::Ok();
    response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let identified = match state.gate.identify(profile, &form.token, now).await {
        Ok(identified) => identified,
        Err(GateError::Refused(_)) => return Ok(inactive(response)),
        Err(other) => return Err(other.into()),
    };
    let answer = state
        .revocations
        .answer(&identified.request, now)
        .await
        .map_err(ApiError::reading)?;
    if let Some(degraded) = answer.degraded() {
        response.insert_header((DEGRADED_HEADER, degraded.as_str()));
    }
    Ok(match answer.verdict() {
        Verdict::Active => response.json(IntrospectResponse::active(identified)),
        Verdict::Inactive(_) => inactive(response),
    })
}

/// The route of [`post_introspect`], with one cheap method guard
/// ([`hot_route`]) instead of actix's.
pub struct PostIntrospect;

impl HttpServiceFactory for PostIntrospect {
    fn register(self, config: &mut AppService) {
        hot_route::register(
            config,
            "post_introspect",
            "/v1/introspect",
            &[Method::POST],
            post_introspect,
        );
    }
}

/// [`IntrospectResponse::inactive`] as JSON, written once: half of all
/// answers under load, and always the same bytes.
const INACTIVE: &[u8] = br#"{"active":false}"#;

fn inactive(mut response: HttpResponseBuilder) -> HttpResponse {
    response
        .insert_header(ContentType::json())
        .body(Bytes::from_static(INACTIVE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_inactive_answer_is_the_serialised_one() {
        let serialised = serde_json::to_vec(&IntrospectResponse::inactive()).unwrap();
        assert_eq!(serialised, INACTIVE);
    }
}

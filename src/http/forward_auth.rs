//! `/v1/forward-auth`: the question a reverse proxy asks before every
//! request it forwards. Thin: the gateway module reads the request, the
//! revocations service answers, this maps the outcome to HTTP.

use std::borrow::Cow;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::check::DEGRADED_HEADER;
use super::error::{ApiError, ErrorBody};
use super::hot_route;
use super::state::AppState;
use crate::api_keys::Role;
use crate::domain::{UnixTime, Verdict};
use crate::gateway::{
    Admission, GateRequest, HeaderSettings, Identified, ProfileKind, TokenRefusal,
};

/// The original request's target, as nginx (`X-Original-URI`, set in the
/// configuration) or Caddy and Traefik (`X-Forwarded-Uri`) report it.
/// As header names made once: a name given as text is parsed, and a
/// custom one copied, at every look-up.
const ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
/// Where the route for Envoy's `path_prefix` starts.
const PREFIX: &str = "/v1/forward-auth";

/// Is the token of the request a proxy is about to forward still active?
///
/// For nginx `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth and
/// Envoy `ext_authz` (which appends the original path to this one). Any
/// method; the body is ignored. The token is read from `Authorization:
/// Bearer` (or the configured cookie or query parameter) under the profile
/// of the original path's route; `200` lets the request through, with the
/// configured identity headers when the token's signature was verified.
/// `401` refuses it, with `WWW-Authenticate` and `Revokd-Reason`.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    path = "/v1/forward-auth",
    impl_for = ForwardAuth,
    tag = "gateway",
    params(
        ("authorization" = Option<String>, Header, nullable = false, description = "`Bearer <token>`: the user's token"),
        ("x-original-uri" = Option<String>, Header, nullable = false, pattern = "^(/|[A-Za-z]+://)[\\t\\x20-\\x7E]*$", description = "The original request target (nginx). Visible ASCII; an origin-form target (`/path?query`) or an absolute URI, at most 8192 bytes, whose path percent-decodes to UTF-8 without control characters or `\\` (`400` otherwise: rules beyond a schema's `pattern`)"),
        ("x-forwarded-uri" = Option<String>, Header, nullable = false, pattern = "^(/|[A-Za-z]+://)[\\t\\x20-\\x7E]*$", description = "The original request target (Caddy, Traefik), under the rules of `X-Original-URI`. When both are sent they must be equal (`400` otherwise: a rule across two headers, which no schema can state)"),
    ),
    responses(
        (status = 200, description = "Active (or a skipped path, or no token with `missing_token = \"allow\"`): let the request through", headers(
            ("revokd-degraded" = String, description = "Present when `fail_mode = \"open\"` let the token through without the store"),
        )),
        (status = 400, description = "The original URI cannot be read unambiguously, the two URI headers disagree, or `Authorization`, `X-Original-URI`, `X-Forwarded-Uri` or the key header is sent more than once", body = ErrorBody),
        (status = 401, description = "`invalid_token`: revoked, malformed, expired or unverifiable; `missing_token`: none presented; `unauthorized`: the gateway's key is missing or wrong", body = ErrorBody, headers(
            ("www-authenticate" = String, description = "`Bearer error=\"invalid_token\", error_description=\"…\"`, or `Bearer` when no token was presented (RFC 6750 §3)"),
            ("revokd-reason" = String, description = "Why: `token_revoked`, `session_revoked`, `subject_disabled`, `subject_revoked_before`, `missing`, `malformed`, `expired`, `not_yet_valid`, `unverified`"),
        )),
        (status = 503, description = "The store cannot be read, this instance's mirror is loading or behind the store, or a provider's keys are not loaded yet: refuse the request", body = ErrorBody),
    ),
    security((), ("gateway_key" = []))
)]
async fn forward_auth(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(&req, &state, original_uri(&req)?.map(Cow::Borrowed)).await
}

/// `/v1/forward-auth` for Envoy's `ext_authz` `path_prefix`: the original
/// path follows the prefix.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    path = "/v1/forward-auth/{original_path}",
    impl_for = ForwardAuthPrefixed,
    tag = "gateway",
    params(
        ("original_path" = String, Path, pattern = "^[^\\u0000-\\u001F\\u007F\\\\]*$", description = "The original request path, without its leading `/`; no control characters or `\\`, once percent-decoded"),
        ("authorization" = Option<String>, Header, nullable = false, description = "`Bearer <token>`: the user's token"),
    ),
    responses(
        (status = 200, description = "As `/v1/forward-auth`"),
        (status = 400, description = "As `/v1/forward-auth`", body = ErrorBody),
        (status = 401, description = "As `/v1/forward-auth`", body = ErrorBody),
        (status = 503, description = "As `/v1/forward-auth`", body = ErrorBody),
    ),
    security((), ("gateway_key" = []))
)]
async fn forward_auth_prefixed(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let original = match original_uri(&req)? {
        Some(uri) => Cow::Borrowed(uri),
        None => {
            let tail = req.uri().path().strip_prefix(PREFIX).unwrap_or("/");
            Cow::Owned(match req.uri().query() {
                Some(query) => format!("{tail}?{query}"),
                None => tail.to_owned(),
            })
        }
    };
    answer(&req, &state, Some(original)).await
}

/// The methods both routes answer (`#[utoipa::path]` lists the same).
const METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The route of [`forward_auth`], with one cheap method guard
/// ([`hot_route`]) instead of actix's seven.
pub struct ForwardAuth;

impl HttpServiceFactory for ForwardAuth {
    fn register(self, config: &mut AppService) {
        hot_route::register(config, "forward_auth", PREFIX, METHODS, forward_auth);
    }
}

/// The route of [`forward_auth_prefixed`], as [`ForwardAuth`].
pub struct ForwardAuthPrefixed;

impl HttpServiceFactory for ForwardAuthPrefixed {
    fn register(self, config: &mut AppService) {
        hot_route::register(
            config,
            "forward_auth_prefixed",
            "/v1/forward-auth/{original_path:.*}",
            METHODS,
            forward_auth_prefixed,
        );
    }
}

/// The one value of a header this endpoint reads as single-valued. A
/// header sent twice is refused: a client may have added one that the
/// proxy appended to rather than replaced, and which one the proxy meant
/// cannot be known (taking the first would let the client choose).
fn single<'a>(
    req: &'a HttpRequest,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, ApiError> {
    let mut values = req.headers().get_all(name);
    match (values.next(), values.next()) {
        (first, None) => Ok(first),
        (Some(_), Some(_)) => Err(ApiError::invalid(format!(
            "`{name}` is sent more than once; send it once"
        ))),
        (None, Some(_)) => unreachable!("a second value without a first"),
    }
}

/// The original URI from the headers, borrowed (no copy per request); a
/// client could add one the proxy does not overwrite, so two that disagree
/// are refused.
fn original_uri(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let read = |name: HeaderName| -> Result<Option<&str>, ApiError> {
        single(req, &name)?
            .map(|value| {
                value
                    .to_str()
                    .map_err(|_| ApiError::invalid(format!("`{name}` is not visible ASCII")))
            })
            .transpose()
    };
    match (read(ORIGINAL_URI)?, read(FORWARDED_URI)?) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "`X-Original-URI` and `X-Forwarded-Uri` disagree",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn authenticate_gateway(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let settings = state.gate.settings();
    if !settings.require_client_key {
        return Ok(());
    }
    // A name the settings refused could never be sent: nothing presented.
    let presented = match HeaderName::from_bytes(settings.key_header.as_bytes()) {
        Ok(name) => single(req, &name)?.and_then(|v| v.to_str().ok()),
        Err(_) => None,
    };
    match presented.and_then(|key| state.keys.authenticate(key)) {
        Some(principal) if principal.role.satisfies(Role::Client) => Ok(()),
        _ => Err(ApiError::GatewayKeyRequired {
            header: settings.key_header.clone(),
        }),
    }
}

async fn answer(
    req: &HttpRequest,
    state: &AppState,
    original_uri: Option<Cow<'_, str>>,
) -> Result<HttpResponse, ApiError> {
    authenticate_gateway(req, state)?;
    let now = UnixTime::now();
    let cookies: Vec<&[u8]> = req
        .headers()
        .get_all(COOKIE)
        .map(HeaderValue::as_bytes)
        .collect();
    let request = GateRequest {
        authorization: single(req, &AUTHORIZATION)?.map(HeaderValue::as_bytes),
        cookies: &cookies,
        original_uri: original_uri.as_deref(),
    };
    let record = |profile: Option<ProfileKind>, outcome: &str| {
        state
            .metrics
            .forward_auth
            .with_label_values(&[profile.map_or("none", ProfileKind::as_str), outcome])
            .inc();
    };
    let (profile, identified) = match state.gate.admit(&request, now).await {
        Ok(Admission::Skipped) => {
            record(None, "skipped");
            return Ok(ok().finish());
        }
        Ok(Admission::Anonymous) => {
            record(None, "anonymous");
            return Ok(ok().finish());
        }
        Ok(Admission::Token {
            profile,
            identified,
        }) => (profile, identified),
        Err(err) => {
            let err = ApiError::from(err);
            let label = match &err {
                ApiError::InvalidToken(refusal) => refusal.label(),
                ApiError::Unavailable(_) => "unavailable",
                _ => "bad_request",
            };
            record(None, label);
            return Err(err);
        }
    };
    match state.revocations.answer(&identified.request, now).await {
        Ok(answer) => match (answer.verdict(), answer.degraded()) {
            (Verdict::Active, None) => {
                record(Some(profile), "active");
                let mut response = ok();
                if identified.verified {
                    identity_headers(&mut response, &state.gate.settings().headers, &identified);
                }
                Ok(response.finish())
            }
            (Verdict::Active, Some(degraded)) => {
                record(Some(profile), "degraded");
                let mut response = ok();
                response.insert_header((DEGRADED_HEADER, degraded.as_str()));
                Ok(response.finish())
            }
            (Verdict::Inactive(reason), _) => {
                let refusal = TokenRefusal::Revoked(reason);
                record(Some(profile), refusal.label());
                Err(ApiError::InvalidToken(refusal))
            }
        },
        Err(err) => {
            record(Some(profile), "unavailable");
            Err(ApiError::reading(err))
        }
    }
}

fn ok() -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    response
}

/// The configured identity headers, from a verified token's claims. A
/// claim that is not a valid header value is left out, never mangled.
fn identity_headers(
    response: &mut HttpResponseBuilder,
    names: &HeaderSettings,
    identified: &Identified,
) {
    let Some(claims) = &identified.claims else {
        return;
    };
    for (name, value) in [
        (&names.subject, &claims.sub),
        (&names.issuer, &claims.iss),
        (&names.session, &claims.sid),
        (&names.token_id, &claims.jti),
    ] {
        let (Ok(name), Some(Ok(value))) = (
            HeaderName::from_bytes(name.as_bytes()),
            value.as_deref().map(HeaderValue::from_str),
        ) else {
            continue;
        };
        response.insert_header((name, value));
    }
}

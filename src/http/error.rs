//! Every error an API caller can see, mapped to HTTP in this one place.
//!
//! Bodies always have the shape `{"error", "error_description"}` (RFC 6749
//! §5.2 field names, which OAuth and OIDC clients already parse). 4xx
//! descriptions say what was wrong with the request; 5xx descriptions are
//! generic, and the cause goes to the log instead.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::{CheckRequestError, ParseError, Reason};
use crate::events::StreamsFull;
use crate::gateway::{GateError, TokenRefusal};
use crate::mirror::MirrorError;
use crate::revocations::{LookupError, RegisterError, RevokeError};
use crate::scim::{ERROR_SCHEMA, SCIM_MEDIA_TYPE, ScimError};
use crate::signals::SignalError;
use crate::store::StoreError;

/// The error body of every endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: `invalid_request`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `payload_too_large`,
    /// `unsupported_media_type`, `request_timeout`, `too_many_requests`,
    /// `quota_exceeded`, `store_unavailable`, `mirror_unavailable`,
    /// `temporarily_unavailable`, `server_error`; `unknown_provider` or
    /// `unknown_stream` for a path naming nothing configured; for a refused session
    /// registration, `session_revoked` or `subject_disabled`; from
    /// `/v1/forward-auth`, `invalid_token` or `missing_token`.
    #[schema(example = "invalid_request")]
    pub error: &'static str,
    /// What went wrong, for people.
    #[schema(example = "`jti` must not be empty")]
    pub error_description: String,
}

/// The SCIM error response (RFC 7644 §3.12): `status` is the HTTP status
/// as a string, `scimType` is given where the RFC defines one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScimErrorBody {
    /// Always `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    pub schemas: [&'static str; 1],
    /// The HTTP status code, as a string.
    #[schema(example = "400")]
    pub status: String,
    /// `invalidFilter`, `invalidSyntax`, `invalidValue`, `invalidPath`,
    /// `noTarget`, `mutability` or `uniqueness`, where one applies.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<&'static str>,
    /// What went wrong, for people.
    pub detail: String,
}

impl ScimErrorBody {
    pub fn of(err: &ScimError) -> Self {
        Self {
            schemas: [ERROR_SCHEMA],
            status: err.status().to_string(),
            scim_type: err.scim_type(),
            detail: err.to_string(),
        }
    }
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Seconds a client should wait before opening an event stream again
/// after 429/503 at a stream cap.
pub const STREAM_RETRY_AFTER_SECS: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("a valid API key is required: `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// A session registration refused because of what is already known.
    #[error("{}", refusal(.0))]
    RegistrationRefused(Reason),
    /// `/v1/forward-auth`: the gateway did not present its key.
    #[error("a valid client key is required in the `{header}` header")]
    GatewayKeyRequired { header: String },
    /// `/v1/forward-auth`: the user's token is refused (RFC 6750 §3.1).
    #[error("{0}")]
    InvalidToken(TokenRefusal),
    #[error("no such endpoint")]
    NotFound,
    #[error("no provider is named `{0}`")]
    UnknownProvider(String),
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// `/v1/events`: a cap on open streams (429 per key, 503 instance).
    #[error("{0}")]
    TooManyStreams(StreamsFull),
    /// The body did not arrive within `http.body_timeout` (see `body.rs`).
    #[error("the request body did not arrive within {} (`http.body_timeout`)", humantime::format_duration(*.0))]
    BodyTimeout(std::time::Duration),
    /// A client key over its quota (`[sessions]`); answered 429 with
    /// `Retry-After`.
    #[error("{0}")]
    QuotaExceeded(#[from] crate::quota::QuotaExceeded),
    /// A client key holding as many live token ids as it may; answered 429
    /// without `Retry-After` (no short wait frees room).
    #[error("{0}")]
    VolumeExceeded(#[from] crate::quota::VolumeExceeded),
    /// The store could not be reached for a change. Nothing was recorded.
    #[error("the revocation store is unavailable; nothing was recorded, retry later")]
    StoreUnavailable(#[source] StoreError),
    /// The store could not be reached for a read (a check, a status, a
    /// page): there was nothing to record, so the write's wording is wrong.
    #[error("the revocation store is unavailable; no answer can be given, retry later")]
    StoreUnreadable(#[source] StoreError),
    /// This instance's in-memory mirror cannot vouch for a check: it is
    /// still loading, or behind the store (its change feed went quiet). The
    /// store may be up, and a check records nothing, so neither store
    /// wording would be true.
    #[error(
        "this instance's copy of the revocations is not current (still loading, or behind the store); no answer can be given, retry later"
    )]
    MirrorUnavailable(#[source] MirrorError),
    /// Something other than the store is not ready (a provider's keys).
    #[error("{0}")]
    Unavailable(String),
    /// A pushed SET refused (RFC 8935 §2.3): `status` with the RFC's
    /// `{"err", "description"}` body instead of [`ErrorBody`].
    #[error("{description}")]
    SetRefused {
        status: StatusCode,
        err: &'static str,
        description: String,
    },
    /// No `[[streams]]` or `[[global_token_revocation]]` entry at this
    /// path: `unknown_stream` or `unknown_provider` (the route exists).
    #[error("{message}")]
    UnknownSignalEndpoint { code: &'static str, message: String },
    /// A SCIM request refused: RFC 7644 §3.12's error body
    /// ([`ScimErrorBody`]) as `application/scim+json`.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// Global Token Revocation: the caller's token is missing or refused.
    #[error("{0}")]
    CallerUnauthorized(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The error body RFC 8935 §2.4 prescribes for a refused SET.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SetErrorBody {
    /// `invalid_request`, `invalid_key`, `invalid_issuer`,
    /// `invalid_audience`, `authentication_failed` or `access_denied`.
    #[schema(example = "invalid_key")]
    pub err: &'static str,
    /// Which rule the SET broke.
    pub description: String,
}

impl ApiError {
    /// A refused push (`POST /ssf/push/{stream}`), mapped to HTTP.
    pub fn from_push(err: SignalError) -> Self {
        let refused = |status, err: &'static str, description: String| Self::SetRefused {
            status,
            err,
            description,
        };
        match err {
            SignalError::UnknownStream(_) => Self::UnknownSignalEndpoint {
                code: "unknown_stream",
                message: err.to_string(),
            },
            SignalError::UnknownCaller(_) => Self::UnknownSignalEndpoint {
                code: "unknown_provider",
                message: err.to_string(),
            },
            SignalError::AuthenticationFailed => refused(
                StatusCode::UNAUTHORIZED,
                "authentication_failed",
                err.to_string(),
            ),
            SignalError::Jwt(jwt) | SignalError::CallerToken(jwt) => refused(
                StatusCode::BAD_REQUEST,
                jwt.set_error_code(),
                format!("{}: {jwt}", jwt.rule()),
            ),
            SignalError::BadRequest(why) => {
                refused(StatusCode::BAD_REQUEST, "invalid_request", why)
            }
            SignalError::KeysUnavailable(_) | SignalError::Transmitter(_) => {
                Self::Unavailable(err.to_string())
            }
            SignalError::NotManaged(_) => Self::invalid(err.to_string()),
            SignalError::Store(err) => err.into(),
        }
    }

    /// A refused Global Token Revocation call, mapped to HTTP as the draft
    /// asks: 400 malformed, 401 caller not authenticated, 403 a subject
    /// the caller may not name, 404 no such caller.
    pub fn from_gtr(err: SignalError) -> Self {
        use crate::oidc::set::JwtError;
        use crate::oidc::subject_id::SubjectError;
        match err {
            SignalError::UnknownStream(_) => Self::UnknownSignalEndpoint {
                code: "unknown_stream",
                message: err.to_string(),
            },
            SignalError::UnknownCaller(_) => Self::UnknownSignalEndpoint {
                code: "unknown_provider",
                message: err.to_string(),
            },
            SignalError::AuthenticationFailed => Self::CallerUnauthorized(
                "send the provider's signed JWT as `Authorization: Bearer <jwt>`".into(),
            ),
            SignalError::CallerToken(jwt) => {
                Self::CallerUnauthorized(format!("{}: {jwt}", jwt.rule()))
            }
            SignalError::Jwt(JwtError::Subject(SubjectError::ForeignIssuer)) => {
                Self::Forbidden(err.to_string())
            }
            SignalError::Jwt(jwt) => Self::invalid(format!("{}: {jwt}", jwt.rule())),
            SignalError::BadRequest(why) => Self::invalid(why),
            SignalError::KeysUnavailable(_) | SignalError::Transmitter(_) => {
                Self::Unavailable(err.to_string())
            }
            SignalError::NotManaged(_) => Self::invalid(err.to_string()),
            SignalError::Store(err) => err.into(),
        }
    }
}

impl ApiError {
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        Self::InvalidRequest(message.to_string())
    }

    /// `err` from a handler that only reads: an unreachable store is
    /// reported as "no answer", not "nothing was recorded".
    pub fn reading(err: impl Into<Self>) -> Self {
        match err.into() {
            Self::StoreUnavailable(cause) => Self::StoreUnreadable(cause),
            other => other,
        }
    }

    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unauthorized | Self::GatewayKeyRequired { .. } => "unauthorized",
            Self::InvalidToken(TokenRefusal::Missing) => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::Forbidden(_) => "forbidden",
            Self::RegistrationRefused(reason) => reason.as_str(),
            Self::NotFound => "not_found",
            // Its own code: the route exists, the provider does not.
            Self::UnknownProvider(_) => "unknown_provider",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::BodyTimeout(_) => "request_timeout",
            Self::TooManyStreams(StreamsFull::Key(_)) => "too_many_requests",
            Self::TooManyStreams(StreamsFull::Instance(_)) => "temporarily_unavailable",
            Self::QuotaExceeded(_) | Self::VolumeExceeded(_) => "quota_exceeded",
            Self::StoreUnavailable(_) | Self::StoreUnreadable(_) => "store_unavailable",
            Self::MirrorUnavailable(_) => "mirror_unavailable",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::SetRefused { err, .. } => err,
            Self::UnknownSignalEndpoint { code, .. } => code,
            Self::CallerUnauthorized(_) => "unauthorized",
            Self::Scim(err) => err.rule(),
            Self::Internal(_) => "server_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::GatewayKeyRequired { .. } | Self::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) | Self::RegistrationRefused(_) => StatusCode::FORBIDDEN,
            Self::NotFound | Self::UnknownProvider(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyStreams(StreamsFull::Key(_)) => StatusCode::TOO_MANY_REQUESTS,
            Self::TooManyStreams(StreamsFull::Instance(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::QuotaExceeded(_) | Self::VolumeExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable(_)
            | Self::StoreUnreadable(_)
            | Self::MirrorUnavailable(_)
            | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::SetRefused { status, .. } => *status,
            Self::UnknownSignalEndpoint { .. } => StatusCode::NOT_FOUND,
            Self::CallerUnauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Scim(err) => {
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::StoreUnavailable(cause) | Self::StoreUnreadable(cause) => {
                tracing::warn!(error.cause_chain = ?cause, "store unavailable");
            }
            Self::MirrorUnavailable(cause) => {
                tracing::warn!(error.cause_chain = ?cause, "revocation mirror not current");
            }
            Self::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, "internal error");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            Self::Unauthorized | Self::GatewayKeyRequired { .. } | Self::CallerUnauthorized(_) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"revokd\""),
                ));
            }
            Self::InvalidToken(refusal) => {
                response.insert_header((
                    HeaderName::from_static(REASON_HEADER),
                    HeaderValue::from_static(refusal.label()),
                ));
                if let Some(fixed) = fixed_refusal(refusal) {
                    response.insert_header((header::WWW_AUTHENTICATE, fixed.challenge.clone()));
                    return response
                        .insert_header(header::ContentType::json())
                        .body(fixed.body.clone());
                }
                response.insert_header((header::WWW_AUTHENTICATE, bearer_challenge(refusal)));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            Self::StoreUnavailable(_)
            | Self::StoreUnreadable(_)
            | Self::MirrorUnavailable(_)
            | Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            // A place frees when some stream ends: not within a second.
            Self::TooManyStreams(_) => {
                response.insert_header((header::RETRY_AFTER, STREAM_RETRY_AFTER_SECS));
            }
            Self::QuotaExceeded(exceeded) => {
                // Whole seconds, rounded up: never "retry at once".
                let secs = exceeded.retry_after.as_secs_f64().ceil().max(1.0);
                response.insert_header((header::RETRY_AFTER, format!("{secs:.0}")));
            }
            Self::SetRefused {
                err, description, ..
            } => {
                return response.json(SetErrorBody {
                    err,
                    description: description.clone(),
                });
            }
            Self::Scim(err) => {
                match err {
                    ScimError::Unauthorized => {
                        response.insert_header((
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Bearer realm=\"revokd-scim\""),
                        ));
                    }
                    ScimError::Store(_) => {
                        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
                    }
                    ScimError::MethodNotAllowed(allow) => {
                        response.insert_header((header::ALLOW, *allow));
                    }
                    _ => {}
                }
                let body = serde_json::to_vec(&ScimErrorBody::of(err)).unwrap_or_default();
                return response.content_type(SCIM_MEDIA_TYPE).body(body);
            }
            _ => {}
        }
        response.json(self.body())
    }
}

/// Header naming why `/v1/forward-auth` refused a token (`revoked`
/// reasons, `missing`, `malformed`, `expired`, …), for proxy logs.
pub const REASON_HEADER: &str = "revokd-reason";

/// The answer to a refusal whose wording never varies (a revoked, expired,
/// not yet valid or missing token: half of all forward-auth answers under
/// load), made once: its challenge and its JSON body, byte for byte what
/// [`bearer_challenge`] and [`ApiError::body`] give, without formatting and
/// serialising them per request.
struct FixedRefusal {
    refusal: TokenRefusal,
    challenge: HeaderValue,
    body: actix_web::web::Bytes,
}

fn fixed_refusal(refusal: &TokenRefusal) -> Option<&'static FixedRefusal> {
    static FIXED: std::sync::LazyLock<Vec<FixedRefusal>> = std::sync::LazyLock::new(|| {
        let revoked = [
            Reason::TokenRevoked,
            Reason::SessionRevoked,
            Reason::SubjectDisabled,
            Reason::SubjectRevokedBefore,
        ]
        .map(TokenRefusal::Revoked);
        [
            TokenRefusal::Missing,
            TokenRefusal::Expired,
            TokenRefusal::NotYetValid,
        ]
        .into_iter()
        .chain(revoked)
        .map(|refusal| {
            let err = ApiError::InvalidToken(refusal.clone());
            FixedRefusal {
                challenge: bearer_challenge(&refusal),
                body: serde_json::to_vec(&err.body())
                    .expect("an error body serialises")
                    .into(),
                refusal,
            }
        })
        .collect()
    });
    FIXED.iter().find(|fixed| fixed.refusal == *refusal)
}

/// RFC 6750 §3: no error code when no token was presented (§3.1), else
/// `invalid_token` with a description restricted to the characters the
/// grammar allows.
fn bearer_challenge(refusal: &TokenRefusal) -> HeaderValue {
    if *refusal == TokenRefusal::Missing {
        return HeaderValue::from_static("Bearer");
    }
    let description: String = refusal
        .to_string()
        .chars()
        .filter(|c| matches!(c, ' '..='~') && !matches!(c, '"' | '\\'))
        .collect();
    HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

fn refusal(reason: &Reason) -> &'static str {
    match reason {
        Reason::SessionRevoked => {
            "this session was already logged out at the provider; its token ids are now revoked"
        }
        Reason::SubjectDisabled => "this subject is disabled; its token ids are now revoked",
        Reason::TokenRevoked | Reason::SubjectRevokedBefore => "this login is already revoked",
    }
}

impl From<GateError> for ApiError {
    fn from(err: GateError) -> Self {
        match err {
            GateError::Refused(refusal) => Self::InvalidToken(refusal),
            GateError::BadUri(why) => Self::invalid(why),
            GateError::KeysUnavailable(why) => Self::Unavailable(why),
        }
    }
}

impl From<ParseError> for ApiError {
    fn from(err: ParseError) -> Self {
        Self::invalid(err)
    }
}

impl From<CheckRequestError> for ApiError {
    fn from(err: CheckRequestError) -> Self {
        Self::invalid(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => Self::invalid(err),
            StoreError::Unavailable(_) => Self::StoreUnavailable(err),
            StoreError::Corrupt(_) => Self::Internal(anyhow::Error::new(err)),
        }
    }
}

/// A check that cannot vouch for a token: always a read, so a store error
/// takes the read's wording ([`ApiError::reading`]); a mirror that is not
/// current has its own.
impl From<LookupError> for ApiError {
    fn from(err: LookupError) -> Self {
        match err {
            LookupError::Store(err) => Self::reading(err),
            LookupError::Mirror(err) => Self::MirrorUnavailable(err),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::Store(err) => err.into(),
            invalid => Self::invalid(invalid),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(err: RevokeError) -> Self {
        match err {
            RevokeError::Store(err) => err.into(),
            invalid => Self::invalid(invalid),
        }
    }
}

/// Turns actix's JSON extractor errors into [`ApiError`]s; `limit` is the
/// configured body limit, named in the 413 message.
pub fn json_error(
    limit: usize,
) -> impl Fn(actix_web::error::JsonPayloadError, &HttpRequest) -> actix_web::Error
+ Clone
+ Send
+ Sync
+ 'static {
    use actix_web::error::{JsonPayloadError as E, PayloadError};
    move |err, _req| match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } | E::Payload(PayloadError::Overflow) => {
            ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes")).into()
        }
        E::ContentType => {
            ApiError::UnsupportedMediaType("send `Content-Type: application/json`".into()).into()
        }
        E::Deserialize(e) => ApiError::invalid(format!("malformed JSON body: {e}")).into(),
        other => ApiError::invalid(format!("unreadable body: {other}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    /// A refusal answered from the table made at start-up is the answer
    /// formatted per request, header for header and byte for byte; one
    /// whose wording varies is formatted.
    #[actix_web::test]
    async fn fixed_refusals_answer_exactly_what_formatting_gives() {
        let revoked = TokenRefusal::Revoked(Reason::SessionRevoked);
        for refusal in [
            TokenRefusal::Missing,
            TokenRefusal::Expired,
            TokenRefusal::NotYetValid,
            revoked.clone(),
            TokenRefusal::Malformed("`iss`: too long".into()),
            TokenRefusal::Unverified("the signature does not verify".into()),
        ] {
            let formatted = matches!(
                refusal,
                TokenRefusal::Malformed(_) | TokenRefusal::Unverified(_)
            );
            assert_eq!(fixed_refusal(&refusal).is_none(), formatted, "{refusal:?}");
            let err = ApiError::InvalidToken(refusal.clone());
            let response = err.error_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let headers = response.headers();
            assert_eq!(
                headers.get(header::CONTENT_TYPE).unwrap(),
                "application/json"
            );
            assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
            assert_eq!(headers.get(REASON_HEADER).unwrap(), refusal.label());
            assert_eq!(
                headers.get(header::WWW_AUTHENTICATE).unwrap(),
                bearer_challenge(&refusal)
            );
            let body = actix_web::body::to_bytes(response.into_body())
                .await
                .unwrap();
            let expected = serde_json::json!({
                "error": err.code(),
                "error_description": refusal.to_string(),
            });
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                expected
            );
        }
        let challenge = bearer_challenge(&revoked);
        assert_eq!(
            challenge,
            "Bearer error=\"invalid_token\", error_description=\"the token was revoked (session_revoked)\""
        );
    }

    /// A mirror that is loading or stale answers as the store would have
    /// (503, `Retry-After`), but says what is true: the mirror is not
    /// current; it neither blames the store nor speaks of recording.
    #[test]
    fn a_mirror_that_is_not_current_is_not_reported_as_the_store() {
        for cause in [
            MirrorError::Loading,
            MirrorError::Stale(std::time::Duration::from_secs(5)),
        ] {
            let err = ApiError::reading(LookupError::Mirror(cause));
            let response = err.error_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(HeaderValue::as_bytes),
                Some(&b"1"[..])
            );
            let body = err.body();
            assert_eq!(body.error, "mirror_unavailable");
            assert!(
                body.error_description.contains("not current"),
                "{}",
                body.error_description
            );
            for wrong in ["store is unavailable", "recorded"] {
                assert!(
                    !body.error_description.contains(wrong),
                    "{}",
                    body.error_description
                );
            }
        }
    }

    #[test]
    fn a_check_the_store_cannot_answer_keeps_the_store_wording() {
        let err = ApiError::reading(LookupError::Store(StoreError::unavailable(
            std::io::Error::other("down"),
        )));
        assert_eq!(err.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code(), "store_unavailable");
        assert!(err.to_string().contains("no answer"), "{err}");
    }
}

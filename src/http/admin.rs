//! `/v1/admin/...`: what an operator does by hand. Every route needs an
//! admin key, and every change lands in the audit log with the key's name.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::auth::AdminKey;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use super::state::AppState;
use crate::domain::{
    Event, EventId, EventPage, Issuer, Note, Provenance, RegisteredToken, Session, SessionId,
    Subject, SubjectId, TokenId, UnixTime,
};

/// Largest page of audit events.
pub const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 50;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokenBody {
    /// The token id.
    #[schema(value_type = TokenId, example = "3f1c2a9e-5b7d-4d3e-9c1a-2b8e7f6d5c4b")]
    pub jti: String,
    /// The token's `exp`, if known: the revocation is kept until then (plus
    /// a minute for clock skew) instead of `lifetimes.token`. At most
    /// `lifetimes.max_token_exp` from now (`400` beyond: a bound relative
    /// to the clock and the configuration, which no schema can state).
    pub exp: Option<i64>,
    /// Why, for the audit log.
    #[schema(value_type = Option<Note>)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionBody {
    #[schema(
        value_type = Issuer,
        example = "https://auth.example.com/application/o/home-assistant/"
    )]
    pub iss: String,
    #[schema(value_type = SessionId)]
    pub sid: String,
    #[schema(value_type = Option<Note>)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    #[schema(
        value_type = Issuer,
        example = "https://auth.example.com/application/o/home-assistant/"
    )]
    pub iss: String,
    #[schema(value_type = SubjectId, example = "alice")]
    pub sub: String,
    #[schema(value_type = Option<Note>)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubjectParams {
    #[param(value_type = Issuer)]
    pub iss: String,
    #[param(value_type = SubjectId)]
    pub sub: String,
}

/// Largest list of a subject's registrations.
pub const MAX_REGISTRATIONS: usize = 500;
const DEFAULT_REGISTRATIONS: usize = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubjectSessionsParams {
    #[param(value_type = Issuer)]
    pub iss: String,
    #[param(value_type = SubjectId)]
    pub sub: String,
    /// At most this many registered token ids, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A subject's session registry: the token ids apps registered for its
/// logins and that are still bound.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectSessions {
    pub iss: Issuer,
    pub sub: SubjectId,
    /// The live registered token ids, the latest expiry first.
    pub registrations: Vec<RegisteredToken>,
    /// More live ids exist than `limit` (those expiring soonest are left
    /// out).
    pub truncated: bool,
}

/// A subject's standing now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectStatus {
    pub iss: Issuer,
    pub sub: SubjectId,
    /// Disabled until enabled again.
    pub disabled: bool,
    /// Tokens issued at or before this instant are dead, if set.
    pub revoked_before: Option<UnixTime>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Only events older than this id: the `next` of the previous page,
    /// never made up (`400` for a value this revokd did not hand out).
    #[param(min_length = 1)]
    pub before: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Pass as `before` to read the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<EventId>,
}

fn provenance(admin: &AdminKey, reason: Option<String>) -> Result<Provenance, ApiError> {
    Ok(Provenance {
        actor: admin.0.actor(),
        reason: reason.map(Note::parse).transpose()?,
    })
}

fn subject(iss: String, sub: String) -> Result<Subject, ApiError> {
    Ok(Subject {
        iss: Issuer::parse(iss)?,
        sub: SubjectId::parse(sub)?,
    })
}

impl SubjectBody {
    /// The subject, and who asks and why.
    fn parse(self, admin: &AdminKey) -> Result<(Subject, Provenance), ApiError> {
        Ok((
            subject(self.iss, self.sub)?,
            provenance(admin, self.reason)?,
        ))
    }
}

fn recorded(event: Event) -> HttpResponse {
    HttpResponse::Ok().json(event)
}

/// Revoke one token.
///
/// The token checks as `token_revoked` until its `exp` (or for
/// `lifetimes.token` when `exp` is not given). Idempotent.
#[utoipa::path(
    tag = "admin",
    request_body = RevokeTokenBody,
    responses(
        (status = 200, description = "Recorded durably; the audit event", body = Event),
        (status = 400, description = "Invalid body, or `exp` beyond `lifetimes.max_token_exp`", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/tokens/revoke")]
pub async fn post_revoke_token(
    admin: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<RevokeTokenBody>,
) -> Result<HttpResponse, ApiError> {
    let RevokeTokenBody { jti, exp, reason } = body.0;
    let jti = TokenId::parse(jti)?;
    let provenance = provenance(&admin, reason)?;
    let exp = exp.map(UnixTime::from_secs);
    Ok(recorded(
        state
            .revocations
            .revoke_token(jti, exp, provenance, UnixTime::now())
            .await?,
    ))
}

/// Revoke a provider session.
///
/// Every token bound to `(iss, sid)` checks as `session_revoked` for
/// `lifetimes.session`. Idempotent.
#[utoipa::path(
    tag = "admin",
    request_body = RevokeSessionBody,
    responses(
        (status = 200, description = "Recorded durably; the audit event", body = Event),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/sessions/revoke")]
pub async fn post_revoke_session(
    admin: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<RevokeSessionBody>,
) -> Result<HttpResponse, ApiError> {
    let RevokeSessionBody { iss, sid, reason } = body.0;
    let session = Session {
        iss: Issuer::parse(iss)?,
        sid: SessionId::parse(sid)?,
    };
    let provenance = provenance(&admin, reason)?;
    Ok(recorded(
        state
            .revocations
            .revoke_session(session, provenance, UnixTime::now())
            .await?,
    ))
}

/// Disable a subject.
///
/// Every token of `(iss, sub)` checks as `subject_disabled` until the
/// subject is enabled; tokens issued before the disable stay dead after it.
#[utoipa::path(
    tag = "admin",
    request_body = SubjectBody,
    responses(
        (status = 200, description = "Recorded durably; the audit event", body = Event),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/subjects/disable")]
pub async fn post_disable_subject(
    admin: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<SubjectBody>,
) -> Result<HttpResponse, ApiError> {
    let (subject, provenance) = body.0.parse(&admin)?;
    Ok(recorded(
        state
            .revocations
            .disable_subject(subject, provenance, UnixTime::now())
            .await?,
    ))
}

/// Enable a subject again.
///
/// New logins work again; tokens issued before the disable stay dead.
#[utoipa::path(
    tag = "admin",
    request_body = SubjectBody,
    responses(
        (status = 200, description = "Recorded durably; the audit event", body = Event),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/subjects/enable")]
pub async fn post_enable_subject(
    admin: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<SubjectBody>,
) -> Result<HttpResponse, ApiError> {
    let (subject, provenance) = body.0.parse(&admin)?;
    Ok(recorded(
        state
            .revocations
            .enable_subject(subject, provenance, UnixTime::now())
            .await?,
    ))
}

/// Revoke every token a subject holds now.
///
/// Tokens of `(iss, sub)` issued at or before now check as
/// `subject_revoked_before`; a login after now works by itself.
#[utoipa::path(
    tag = "admin",
    request_body = SubjectBody,
    responses(
        (status = 200, description = "Recorded durably; the audit event", body = Event),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[post("/v1/admin/subjects/revoke-tokens")]
pub async fn post_revoke_subject_tokens(
    admin: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<SubjectBody>,
) -> Result<HttpResponse, ApiError> {
    let (subject, provenance) = body.0.parse(&admin)?;
    Ok(recorded(
        state
            .revocations
            .revoke_subject_tokens(subject, provenance, UnixTime::now())
            .await?,
    ))
}

/// A subject's status.
#[utoipa::path(
    tag = "admin",
    params(SubjectParams),
    responses(
        (status = 200, description = "The subject's standing", body = SubjectStatus),
        (status = 400, description = "Missing or invalid `iss` / `sub`", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[get("/v1/admin/subjects/status")]
pub async fn get_subject_status(
    _admin: AdminKey,
    state: web::Data<AppState>,
    params: QueryParams<SubjectParams>,
) -> Result<HttpResponse, ApiError> {
    let SubjectParams { iss, sub } = params.0;
    let subject = subject(iss, sub)?;
    let facts = state
        .revocations
        .subject_facts(&subject, UnixTime::now())
        .await
        .map_err(ApiError::reading)?;
    Ok(HttpResponse::Ok().json(SubjectStatus {
        iss: subject.iss,
        sub: subject.sub,
        disabled: facts.subject_disabled,
        revoked_before: facts.subject_revoked_before,
    }))
}

/// A subject's session registry.
///
/// The token ids apps (Home Assistant, ...) registered through
/// `POST /v1/sessions` for `(iss, sub)` whose bindings are live: each with
/// its `sid`, the key that registered it, when, and until when. The
/// latest expiry first, at most `limit`; `truncated` says more exist.
/// Registrations made before revokd kept this registry are not listed.
#[utoipa::path(
    tag = "admin",
    params(SubjectSessionsParams),
    responses(
        (status = 200, description = "The subject's live registrations", body = SubjectSessions),
        (status = 400, description = "Missing or invalid `iss` / `sub`, or `limit` out of range", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[get("/v1/admin/subjects/sessions")]
pub async fn get_subject_sessions(
    _admin: AdminKey,
    state: web::Data<AppState>,
    params: QueryParams<SubjectSessionsParams>,
) -> Result<HttpResponse, ApiError> {
    let SubjectSessionsParams { iss, sub, limit } = params.0;
    let subject = subject(iss, sub)?;
    let limit = limit.unwrap_or(DEFAULT_REGISTRATIONS);
    if !(1..=MAX_REGISTRATIONS).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_REGISTRATIONS}"
        )));
    }
    let list = state
        .revocations
        .subject_registrations(&subject, limit, UnixTime::now())
        .await
        .map_err(ApiError::reading)?;
    Ok(HttpResponse::Ok().json(SubjectSessions {
        iss: subject.iss,
        sub: subject.sub,
        registrations: list.tokens,
        truncated: list.truncated,
    }))
}

/// The audit log, newest first.
///
/// What was revoked, when, by which key or input, and why. Page with
/// `before` = the previous page's `next`.
#[utoipa::path(
    tag = "admin",
    params(EventsParams),
    responses(
        (status = 200, description = "A page of events", body = EventsPage),
        (status = 400, description = "`limit` out of range or `before` not an event id", body = ErrorBody),
        (status = 401, description = "No or wrong admin key", body = ErrorBody),
        (status = 403, description = "A client key cannot use admin endpoints", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("admin_key" = []))
)]
#[get("/v1/admin/events")]
pub async fn get_events(
    _admin: AdminKey,
    state: web::Data<AppState>,
    params: QueryParams<EventsParams>,
) -> Result<HttpResponse, ApiError> {
    let EventsParams { limit, before } = params.0;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_PAGE}"
        )));
    }
    let page = EventPage {
        before: before.map(EventId),
        limit,
    };
    let events = state
        .revocations
        .events(&page)
        .await
        .map_err(ApiError::reading)?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(EventsPage { events, next }))
}

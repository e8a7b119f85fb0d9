//! `/v1/sessions`: what an application calls at login, so that revokd knows
//! which of the app's own tokens belong to which provider session.
//!
//! A registration belongs to the key that made it (see
//! [`crate::domain::registry`]): a client key registers and forgets its
//! own; an admin key may forget any key's by naming it (`key`).

use actix_web::{HttpResponse, delete, post, web};
use serde::{Deserialize, Serialize};

use super::auth::ClientKey;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use super::state::AppState;
use crate::api_keys::{Principal, Role};
use crate::domain::{
    Issuer, Owner, ParseError, Provenance, Registration, SessionId, SessionRegistration, SubjectId,
    TokenId, UnixTime,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterSessionBody {
    /// The identity provider's `iss`.
    #[schema(
        value_type = Issuer,
        example = "https://auth.example.com/application/o/home-assistant/"
    )]
    pub iss: String,
    /// The provider session (`sid` of the ID token), when the provider sends one.
    #[schema(value_type = Option<SessionId>)]
    pub sid: Option<String>,
    /// The person (`sub` of the ID token).
    #[schema(value_type = SubjectId, example = "alice")]
    pub sub: String,
    /// The app's own token ids for this login (e.g. Home Assistant's
    /// refresh-token id); 1 to `sessions.max_token_ids_per_registration`
    /// (default 100). Calling again adds ids (token refresh), up to
    /// `sessions.max_token_ids_per_session` (default 1000) per key and
    /// session.
    #[schema(value_type = HashSet<TokenId>, min_items = 1, max_items = 100)]
    pub token_ids: Vec<String>,
    /// When the app's tokens expire at the latest (seconds since the epoch):
    /// in the future, and at most `lifetimes.max_token_exp` from now (`400`
    /// otherwise: bounds relative to the clock and the configuration, which
    /// no schema can state).
    pub expires_at: i64,
}

/// The session is known to revokd.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub registered: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionParams {
    #[param(value_type = Issuer)]
    pub iss: String,
    #[param(value_type = SessionId)]
    pub sid: String,
    /// Whose registration to remove: the name of the key that made it.
    /// Only an admin key may name another key; by default, the caller's.
    #[param(max_length = 256)]
    pub key: Option<String>,
}

/// Whether a registration was removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unregistered {
    pub removed: bool,
}

/// Register a login.
///
/// Binds the app's token ids to the provider session and subject, so that a
/// check of a token id alone answers `session_revoked`, `subject_disabled`
/// or `subject_revoked_before` when the provider logs the session out or
/// the person is disabled. Idempotent. The registration belongs to the
/// calling key: a token id another key registered first stays that key's
/// and is left out. When the session was already logged out at the
/// provider (the logout token arrived first) or the subject is disabled,
/// the registration is refused with `403` and the error code
/// `session_revoked` or `subject_disabled` — and its token ids (except any
/// another key registered) are recorded as revoked anyway, so they are dead
/// even if the app ignores the answer.
#[utoipa::path(
    tag = "sessions",
    request_body = RegisterSessionBody,
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, description = "Invalid body (e.g. no token ids, too many token ids, `expires_at` in the past), or the session would hold more token ids than `sessions.max_token_ids_per_session`", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 403, description = "Refused: `error` is `session_revoked` or `subject_disabled`; the token ids are revoked", body = ErrorBody),
        (status = 429, description = "`quota_exceeded`: the client key registers faster than its quota (`sessions.client_token_ids_per_second`, `sessions.key_quotas`; retry after `Retry-After` seconds), or it holds as many live token ids as it may (`sessions.max_token_ids_per_key`; no `Retry-After`: room frees as its registrations expire or are deleted); nothing was stored", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "Store unavailable: nothing was recorded; retry", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[post("/v1/sessions")]
pub async fn post_session(
    client: ClientKey,
    state: web::Data<AppState>,
    body: JsonBody<RegisterSessionBody>,
) -> Result<HttpResponse, ApiError> {
    let RegisterSessionBody {
        iss,
        sid,
        sub,
        token_ids,
        expires_at,
    } = body.0;
    let now = UnixTime::now();
    let expires_at = state
        .revocations
        .registration_expiry(UnixTime::from_secs(expires_at), now)?;
    let limits = state
        .revocations
        .registration_limits(state.quotas.max_token_ids(&client.0.name));
    let registration = SessionRegistration::new(
        owner_of(&client.0)?,
        limits,
        Issuer::parse(iss)?,
        sid.map(SessionId::parse).transpose()?,
        SubjectId::parse(sub)?,
        token_ids
            .into_iter()
            .enumerate()
            .map(token_id_at)
            .collect::<Result<_, _>>()?,
        expires_at,
    )
    .map_err(ApiError::invalid)?;
    // Each token id is a cell of the key's quota, refused or not: a
    // refusal writes as much as a registration.
    state
        .quotas
        .take(&client.0.name, registration.token_ids().len())?;
    let provenance = Provenance {
        actor: client.0.actor(),
        reason: None,
    };
    match state
        .revocations
        .register_session(&registration, provenance, now)
        .await?
    {
        Registration::Registered => {
            if registration.max_per_key() != usize::MAX {
                // For `/metrics` only: a failed count costs the client nothing.
                if let Ok(held) = state
                    .revocations
                    .token_ids_held(registration.owner(), now)
                    .await
                {
                    state.quotas.record_held(&client.0.name, held);
                }
            }
            Ok(HttpResponse::Ok().json(Registered { registered: true }))
        }
        Registration::KeyFull { held, adding, max } => Err(state
            .quotas
            .volume_exceeded(&client.0.name, held, adding, max)
            .into()),
        Registration::Refused { reason, .. } => Err(ApiError::RegistrationRefused(reason)),
        Registration::SessionFull { held, adding, max } => Err(ApiError::invalid(format_args!(
            "this key's registration of the session holds {held} token ids and this request adds {adding}: \
             at most {max} per session (sessions.max_token_ids_per_session)"
        ))),
    }
}

/// The owner a key's registrations are kept under: its configured name.
fn owner_of(principal: &Principal) -> Result<Owner, ApiError> {
    Owner::parse(principal.name.as_str())
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("key name as owner: {err}")))
}

/// Forget a login (local logout).
///
/// Removes the calling key's registration of `(iss, sid)` and the bindings
/// of its token ids; another key's registration of the same session stays.
/// An admin key may remove any key's registration by naming it in `key`.
#[utoipa::path(
    tag = "sessions",
    params(SessionParams),
    responses(
        (status = 200, description = "Removed, or there was nothing to remove", body = Unregistered),
        (status = 400, description = "Missing or invalid `iss` / `sid`", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 403, description = "`key` names another key, and the caller is not an admin", body = ErrorBody),
        (status = 429, description = "The client key is over its quota; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[delete("/v1/sessions")]
pub async fn delete_session(
    client: ClientKey,
    state: web::Data<AppState>,
    params: QueryParams<SessionParams>,
) -> Result<HttpResponse, ApiError> {
    let SessionParams { iss, sid, key } = params.0;
    let (iss, sid) = (Issuer::parse(iss)?, SessionId::parse(sid)?);
    let owner = match key {
        None => owner_of(&client.0)?,
        Some(name) if name == client.0.name => owner_of(&client.0)?,
        Some(name) if client.0.role == Role::Admin => {
            Owner::parse(name).map_err(|_| ApiError::invalid("`key` is not a key name"))?
        }
        Some(_) => {
            return Err(ApiError::Forbidden(
                "a client key may only remove its own registrations; `key` names another key"
                    .into(),
            ));
        }
    };
    state.quotas.take(&client.0.name, 1)?;
    let removed = state
        .revocations
        .unregister_session(&owner, &iss, &sid, UnixTime::now())
        .await?;
    Ok(HttpResponse::Ok().json(Unregistered { removed }))
}

/// Item `index` of `token_ids`, refused under its own name (`token_ids[3]`)
/// rather than as `jti`, the name a token id has elsewhere.
fn token_id_at((index, value): (usize, String)) -> Result<TokenId, ApiError> {
    TokenId::parse(value).map_err(|err| {
        let field = format!("token_ids[{index}]");
        ApiError::invalid(match err {
            ParseError::Empty { .. } => format!("`{field}` must not be empty"),
            ParseError::TooLong { max, .. } => format!("`{field}` is longer than {max} bytes"),
            ParseError::ControlCharacter { .. } => {
                format!("`{field}` contains a control character")
            }
        })
    })
}

//! `/v1/check`: is this token still active? The hot path.

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::auth::CheckCaller;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use super::state::AppState;
use crate::config::FailMode;
use crate::domain::{
    CheckRequest, Issuer, Reason, SessionId, SubjectId, TokenId, UnixTime, Verdict,
};
use crate::jwt::check_request_from_jwt;

/// Header set on an answer given without the store, in `fail_mode = "open"`.
pub const DEGRADED_HEADER: &str = "revokd-degraded";

/// The identifiers of one token. `sid` and `sub` need `iss`.
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// Issuer of `sid` and `sub` (the identity provider's `iss`).
    #[param(max_length = 1024)]
    pub iss: Option<String>,
    /// Token id (`jti`, or Home Assistant's refresh-token id).
    #[param(max_length = 256)]
    pub jti: Option<String>,
    /// Provider session id.
    #[param(max_length = 256)]
    pub sid: Option<String>,
    /// Provider subject.
    #[param(max_length = 256)]
    pub sub: Option<String>,
    /// When the token was issued (seconds since the epoch). Without it, a
    /// subject's "revoked before" mark counts the token as revoked.
    pub iat: Option<i64>,
}

impl TryFrom<CheckParams> for CheckRequest {
    type Error = ApiError;

    fn try_from(p: CheckParams) -> Result<Self, ApiError> {
        Ok(CheckRequest::new(
            p.iss.map(Issuer::parse).transpose()?,
            p.jti.map(TokenId::parse).transpose()?,
            p.sid.map(SessionId::parse).transpose()?,
            p.sub.map(SubjectId::parse).transpose()?,
            p.iat.map(UnixTime::from_secs),
        )?)
    }
}

/// Either the identifiers of a token, or the token itself (a JWT whose
/// claims are read for look-up only; its signature is not checked).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// A JWT; excludes every other field.
    pub token: Option<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub iat: Option<i64>,
}

impl TryFrom<CheckBody> for CheckRequest {
    type Error = ApiError;

    fn try_from(b: CheckBody) -> Result<Self, ApiError> {
        let CheckBody {
            token,
            iss,
            jti,
            sid,
            sub,
            iat,
        } = b;
        match token {
            Some(token) => {
                if iss.is_some() || jti.is_some() || sid.is_some() || sub.is_some() || iat.is_some()
                {
                    return Err(ApiError::invalid(
                        "give either `token` or identifiers, not both",
                    ));
                }
                check_request_from_jwt(&token).map_err(ApiError::invalid)
            }
            None => CheckParams {
                iss,
                jti,
                sid,
                sub,
                iat,
            }
            .try_into(),
        }
    }
}

/// The answer: `active`, and when not, why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// Is this token active?
///
/// Answers from what revokd knows about the token id, the provider session
/// and the subject. Any answer other than `200` with `"active": true` means
/// the caller must not treat the token as active: with the default
/// `check.fail_mode = "closed"`, a store that cannot be read yields `503`.
#[utoipa::path(
    tag = "check",
    params(CheckParams),
    responses(
        (status = 200, description = "The answer", body = CheckResponse, headers(
            ("revokd-degraded" = String, description = "Present, as `store_unavailable`, when `fail_mode = \"open\"` let the token through without the store"),
        )),
        (status = 400, description = "No identifier, `sid`/`sub` without `iss`, an invalid value, or an unknown parameter", body = ErrorBody),
        (status = 401, description = "A client key is required and none or a wrong one was given", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`fail_mode = \"closed\"`): treat the token as inactive", body = ErrorBody),
    ),
    security((), ("client_key" = []))
)]
#[get("/v1/check")]
pub async fn get_check(
    _caller: CheckCaller,
    state: web::Data<AppState>,
    params: QueryParams<CheckParams>,
) -> Result<HttpResponse, ApiError> {
    answer(&state, params.0.try_into()?).await
}

/// Is this token active? (JSON body)
///
/// The same question as `GET /v1/check`, with the identifiers in a JSON
/// body, or with the token itself: `{"token": "<JWT>"}`.
#[utoipa::path(
    tag = "check",
    request_body = CheckBody,
    responses(
        (status = 200, description = "The answer", body = CheckResponse),
        (status = 400, description = "Malformed JSON, unknown field, no identifier, or a token whose claims cannot be read", body = ErrorBody),
        (status = 401, description = "A client key is required and none or a wrong one was given", body = ErrorBody),
        (status = 413, description = "The body is larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`fail_mode = \"closed\"`): treat the token as inactive", body = ErrorBody),
    ),
    security((), ("client_key" = []))
)]
#[post("/v1/check")]
pub async fn post_check(
    _caller: CheckCaller,
    state: web::Data<AppState>,
    body: JsonBody<CheckBody>,
) -> Result<HttpResponse, ApiError> {
    answer(&state, body.0.try_into()?).await
}

async fn answer(state: &AppState, request: CheckRequest) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Ok();
    response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let body = match state.revocations.check(&request, UnixTime::now()).await {
        Ok(Verdict::Active) => CheckResponse {
            active: true,
            reason: None,
        },
        Ok(Verdict::Inactive(reason)) => CheckResponse {
            active: false,
            reason: Some(reason),
        },
        Err(err) => match state.check.fail_mode {
            FailMode::Closed => return Err(ApiError::reading(err)),
            FailMode::Open => {
                tracing::warn!(error.cause_chain = ?err, "store unavailable; answering active (fail_mode = open)");
                response.insert_header((DEGRADED_HEADER, "store_unavailable"));
                CheckResponse {
                    active: true,
                    reason: None,
                }
            }
        },
    };
    Ok(response.json(body))
}

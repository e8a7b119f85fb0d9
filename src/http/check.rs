//! `/v1/check`: is this token still active? The hot path.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::auth::CheckCaller;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use super::hot_route;
use super::state::AppState;
use crate::domain::{
    CheckRequest, Issuer, Reason, SessionId, SubjectId, TokenId, UnixTime, Verdict,
};
use crate::jwt::check_request_from_jwt;

/// Header set on an answer given without the store, in `fail_mode = "open"`.
pub const DEGRADED_HEADER: &str = "revokd-degraded";

/// The identifiers of one token: at least one of `jti`, `sid`, `sub`; `sid`
/// and `sub` need `iss`.
#[derive(Debug, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// Issuer of `sid` and `sub` (the identity provider's `iss`).
    #[param(value_type = Option<Issuer>)]
    pub iss: Option<String>,
    /// Token id (`jti`, or Home Assistant's refresh-token id).
    #[param(value_type = Option<TokenId>)]
    pub jti: Option<String>,
    /// Provider session id; needs `iss`.
    #[param(value_type = Option<SessionId>)]
    pub sid: Option<String>,
    /// Provider subject; needs `iss`.
    #[param(value_type = Option<SubjectId>)]
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
/// Its schema is written out in [`check_body_schema`]: the rules span fields.
#[derive(Debug, Deserialize)]
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

impl utoipa::PartialSchema for CheckBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        check_body_schema()
    }
}

impl utoipa::ToSchema for CheckBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema as _;
        for (name, schema) in [
            ("Issuer", Issuer::schema()),
            ("TokenId", TokenId::schema()),
            ("SessionId", SessionId::schema()),
            ("SubjectId", SubjectId::schema()),
        ] {
            schemas.push((name.to_owned(), schema));
        }
    }
}

/// [`CheckBody`]'s rules as JSON Schema, so that a client generated from
/// the contract cannot send a body [`CheckRequest::try_from`] refuses:
/// `token` alone, or identifiers with at least one of `jti`, `sid`, `sub`,
/// where `sid` and `sub` need `iss`. A field the server reads as absent
/// when `null` may be `null` wherever it is not required.
fn check_body_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{
        AdditionalProperties, AnyOfBuilder, ObjectBuilder, OneOfBuilder, Ref, Type,
    };
    use utoipa::openapi::{RefOr, Schema};

    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let id = |name: &str| Ref::from_schema_name(name);
    let nullable = |name: &str| OneOfBuilder::new().item(null()).item(id(name));
    let iat = || {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::Integer,
                Type::Null,
            ]))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
    };
    let closed = |object: ObjectBuilder| {
        object
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let token = closed(ObjectBuilder::new())
        .title(Some("token"))
        .description(Some(
            "The token itself, a JWT (`header.claims.signature`) whose claims \
             revokd reads: alone, or with the identifiers only as `null`. \
             Whether its claims can be read no schema can say (`400`).",
        ))
        .property(
            "token",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        )
        .required("token")
        .property("iss", null())
        .property("jti", null())
        .property("sid", null())
        .property("sub", null())
        .property("iat", null());
    let variant = |title: &str, description: &str, required: &[&str]| {
        let mut object = closed(ObjectBuilder::new())
            .title(Some(title))
            .description(Some(description))
            .property("token", null());
        for (field, schema) in [
            ("iss", "Issuer"),
            ("jti", "TokenId"),
            ("sid", "SessionId"),
            ("sub", "SubjectId"),
        ] {
            let schema: RefOr<Schema> = if required.contains(&field) {
                id(schema).into()
            } else if field == "sid" || field == "sub" {
                // Only with `iss`: the variants that allow them require it.
                if required.contains(&"iss") {
                    nullable(schema).into()
                } else {
                    null().into()
                }
            } else {
                nullable(schema).into()
            };
            object = object.property(field, schema);
        }
        for field in required {
            object = object.required(*field);
        }
        object.property("iat", iat())
    };
    AnyOfBuilder::new()
        .description(Some(
            "Either `token` alone, or identifiers: at least one of `jti`, `sid`, \
             `sub`; `sid` and `sub` need `iss`. `iat`: when the token was issued \
             (seconds since the epoch).",
        ))
        .item(token)
        .item(variant(
            "token id",
            "A token id, without session or subject.",
            &["jti"],
        ))
        .item(variant(
            "session",
            "A provider session, and maybe more.",
            &["iss", "sid"],
        ))
        .item(variant(
            "subject",
            "A provider subject, and maybe more.",
            &["iss", "sub"],
        ))
        .into()
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
///
/// Give at least one of `jti`, `sid`, `sub`, and `iss` with `sid` or `sub`
/// (`400` otherwise): rules across query parameters, which OpenAPI cannot
/// state for them. `POST /v1/check` states them in its schema.
#[utoipa::path(
    get,
    path = "/v1/check",
    impl_for = GetCheck,
    tag = "check",
    params(CheckParams),
    responses(
        (status = 200, description = "The answer", body = CheckResponse, headers(
            ("revokd-degraded" = String, description = "Present, as `store_unavailable`, when `fail_mode = \"open\"` let the token through without the store"),
        )),
        (status = 400, description = "No identifier, `sid`/`sub` without `iss`, an invalid value, or an unknown parameter", body = ErrorBody),
        (status = 401, description = "A client key is required and none or a wrong one was given", body = ErrorBody),
        (status = 503, description = "The store cannot be read, or this instance's mirror is loading or behind the store (`fail_mode = \"closed\"`): treat the token as inactive", body = ErrorBody),
    ),
    security((), ("client_key" = []))
)]
async fn get_check(
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
    post,
    path = "/v1/check",
    impl_for = PostCheck,
    tag = "check",
    request_body = CheckBody,
    responses(
        (status = 200, description = "The answer", body = CheckResponse),
        (status = 400, description = "Malformed JSON, unknown field, no identifier, or a token whose claims cannot be read", body = ErrorBody),
        (status = 401, description = "A client key is required and none or a wrong one was given", body = ErrorBody),
        (status = 413, description = "The body is larger than `http.body_limit`", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`, or with a `Content-Encoding` (revokd decodes none)", body = ErrorBody),
        (status = 503, description = "The store cannot be read, or this instance's mirror is loading or behind the store (`fail_mode = \"closed\"`): treat the token as inactive", body = ErrorBody),
    ),
    security((), ("client_key" = []))
)]
async fn post_check(
    _caller: CheckCaller,
    state: web::Data<AppState>,
    body: JsonBody<CheckBody>,
) -> Result<HttpResponse, ApiError> {
    answer(&state, body.0.try_into()?).await
}

/// The route of [`get_check`], with one cheap method guard ([`hot_route`])
/// instead of actix's.
pub struct GetCheck;

impl HttpServiceFactory for GetCheck {
    fn register(self, config: &mut AppService) {
        hot_route::register(config, "get_check", "/v1/check", &[Method::GET], get_check);
    }
}

/// The route of [`post_check`], as [`GetCheck`].
pub struct PostCheck;

impl HttpServiceFactory for PostCheck {
    fn register(self, config: &mut AppService) {
        hot_route::register(
            config,
            "post_check",
            "/v1/check",
            &[Method::POST],
            post_check,
        );
    }
}

async fn answer(state: &AppState, request: CheckRequest) -> Result<HttpResponse, ApiError> {
    let mut response = HttpResponse::Ok();
    response.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let answer = state
        .revocations
        .answer(&request, UnixTime::now())
        .await
        .map_err(ApiError::reading)?;
    if let Some(degraded) = answer.degraded() {
        response.insert_header((DEGRADED_HEADER, degraded.as_str()));
    }
    let body = match answer.verdict() {
        Verdict::Active => CheckResponse {
            active: true,
            reason: None,
        },
        Verdict::Inactive(reason) => CheckResponse {
            active: false,
            reason: Some(reason),
        },
    };
    Ok(response.json(body))
}

//! `/scim/v2`: the SCIM 2.0 service provider (RFC 7644) identity providers
//! provision into. Thin: authenticate the client's bearer token before a
//! body is read, read the bounded body as `application/scim+json` (or
//! `application/json`), hand it to [`crate::scim`], and render the
//! resource with its `ETag` and `Location`. Every error under the scope,
//! including the 404 of an unknown path and the 405 of a method a path
//! does not serve, is RFC 7644 §3.12's error body.

use std::future::Future;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, delete, get, patch, post, put, web};
use futures_util::StreamExt;
use serde_json::Value;

use super::auth::bearer;
use super::error::{ApiError, ScimErrorBody};
use super::state::AppState;
use crate::domain::UnixTime;
use crate::scim::discovery::{self, LIST_SCHEMA};
use crate::scim::{Client, SCIM_MEDIA_TYPE, ScimError, user};
use crate::store::ScimUser;

/// Where the service provider lives.
pub const BASE_PATH: &str = "/scim/v2";

/// The service provider's base URL as the client reached it.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}{BASE_PATH}", info.scheme(), info.host())
}

fn scim_json(status: StatusCode, value: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type(SCIM_MEDIA_TYPE)
        .body(serde_json::to_vec(value).unwrap_or_default())
}

/// A user as a response: the resource, `ETag`, and for a create
/// `Location`.
fn user_response(req: &HttpRequest, status: StatusCode, user: &ScimUser) -> HttpResponse {
    let location = format!("{}/Users/{}", base_url(req), user.id);
    let mut resource = user::render(user, &location);
    let (attributes, excluded) = projection(req);
    user::project(&mut resource, &attributes, &excluded);
    let mut response = scim_json(status, &resource);
    if let Ok(tag) = HeaderValue::from_str(&user::etag(user.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The query parameters, names compared case-insensitively.
fn query(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

/// `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5).
fn projection(req: &HttpRequest) -> (Vec<String>, Vec<String>) {
    let list = |name: &str| {
        query(req, name)
            .map(|v| {
                v.split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("attributes"), list("excludedAttributes"))
}

fn if_match(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// Refuses a body that is not SCIM JSON (RFC 7644 §3.1; plain JSON is
/// accepted, as providers send it).
fn check_media_type(req: &HttpRequest) -> Result<(), ScimError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == SCIM_MEDIA_TYPE || essence == "application/json" {
        Ok(())
    } else {
        Err(ScimError::UnsupportedMediaType)
    }
}

/// The body as JSON, at most `limit` bytes.
async fn read_json(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    check_media_type(req)?;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ScimError::InvalidSyntax(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ScimError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    crate::scim::json::parse(&body)
}

/// Authenticates, runs `f` for the client, counts the outcome.
async fn serve<'a, F, Fut>(
    state: &'a AppState,
    req: &HttpRequest,
    operation: &'static str,
    f: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&'a Client) -> Fut,
    Fut: Future<Output = Result<HttpResponse, ScimError>>,
{
    let scim = &state.scim;
    let client = match scim.authenticate(bearer(req)) {
        Ok(client) => client,
        Err(err) => {
            let result: Result<(), ScimError> = Err(err);
            scim.count(None, operation, &result);
            return result
                .map(|()| HttpResponse::Ok().finish())
                .map_err(Into::into);
        }
    };
    let result = f(client).await;
    scim.count(Some(&client.name), operation, &result);
    Ok(result?)
}

/// Create a user.
///
/// RFC 7644 §3.3. The user maps to the client's issuer and the value of
/// its `subject_attribute`; created with `active: false`, its subject is
/// disabled and its tokens revoked before the `201`.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    request_body(content = ScimUserRequest, content_type = "application/scim+json"),
    responses(
        (status = 201, description = "Created", body = ScimUserResource, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The version"), ("Location" = String, description = "The user's URL"))),
        (status = 400, description = "`invalidSyntax`, `invalidValue`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`: the `userName` or `externalId` is another user's", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 413, description = "Body larger than `http.body_limit`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 415, description = "Not `application/scim+json` or `application/json`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable; nothing was changed", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[post("/Users")]
pub async fn post_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "create", |client| async {
        let body = read_json(&req, payload, state.body_limit).await?;
        let user = state.scim.create(client, &body, UnixTime::now()).await?;
        Ok(user_response(&req, StatusCode::CREATED, &user))
    })
    .await
}

/// List or look up users.
///
/// RFC 7644 §3.4.2: `filter` is `userName eq "…"`, `externalId eq "…"`
/// or `id eq "…"`; `startIndex` (1-based) and `count` page (at most 100).
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(
        ("filter" = Option<String>, Query, description = "`userName eq \"…\"`, `externalId eq \"…\"` or `id eq \"…\"`"),
        ("startIndex" = Option<i64>, Query, description = "1-based index of the first result (default 1; below 1 means 1)"),
        ("count" = Option<i64>, Query, description = "Results per page (default and at most 100; below 0 means 0)"),
        ("attributes" = Option<String>, Query, description = "Comma-separated attributes to return"),
        ("excludedAttributes" = Option<String>, Query, description = "Comma-separated attributes not to return"),
    ),
    responses(
        (status = 200, description = "A ListResponse", body = ScimListResponse, content_type = "application/scim+json"),
        (status = 400, description = "`invalidFilter`, or `invalidValue` for a `startIndex` or `count` that is not an integer", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/Users")]
pub async fn get_users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "list", |client| async {
        let number = |name: &str, default: i64| -> Result<i64, ScimError> {
            match query(&req, name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| ScimError::InvalidValue(format!("`{name}` must be an integer"))),
            }
        };
        let max = discovery::MAX_RESULTS as i64;
        let start = usize::try_from(number("startIndex", 1)?.max(1)).unwrap_or(1);
        let count = usize::try_from(number("count", max)?.clamp(0, max)).unwrap_or(0);
        let filter = query(&req, "filter");
        let page = state
            .scim
            .list(client, filter.as_deref(), start, count)
            .await?;
        let base = base_url(&req);
        let (attributes, excluded) = projection(&req);
        let resources: Vec<Value> = page
            .users
            .iter()
            .map(|u| {
                let mut r = user::render(u, &format!("{base}/Users/{}", u.id));
                user::project(&mut r, &attributes, &excluded);
                r
            })
            .collect();
        Ok(scim_json(
            StatusCode::OK,
            &serde_json::json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": page.total,
                "itemsPerPage": resources.len(),
                "startIndex": page.start_index,
                "Resources": resources,
            }),
        ))
    })
    .await
}

/// Read one user.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(("id" = String, Path, description = "The user's `id`")),
    responses(
        (status = 200, description = "The user", body = ScimUserResource, content_type = "application/scim+json",
            headers(("ETag" = String, description = "The version"))),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such user of this client", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/Users/{id}")]
pub async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "get", |client| async {
        let user = state.scim.get(client, &id).await?;
        Ok(user_response(&req, StatusCode::OK, &user))
    })
    .await
}

/// Replace a user.
///
/// RFC 7644 §3.5.1. A change of `active` disables (true → false: its
/// tokens revoked too) or enables the subject before the `200`.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The user's `id`"),
        ("If-Match" = Option<String>, Header, description = "An `ETag` of the user: the change is made only to that version"),
    ),
    request_body(content = ScimUserRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "The user as replaced", body = ScimUserResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`, `invalidValue`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such user of this client", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` names another version", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 413, description = "Body larger than `http.body_limit`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 415, description = "Not `application/scim+json` or `application/json`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable; nothing was changed", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[put("/Users/{id}")]
pub async fn put_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "replace", |client| async {
        let body = read_json(&req, payload, state.body_limit).await?;
        let user = state
            .scim
            .replace(client, &id, &body, if_match(&req), UnixTime::now())
            .await?;
        Ok(user_response(&req, StatusCode::OK, &user))
    })
    .await
}

/// Change a user.
///
/// RFC 7644 §3.5.2 `PatchOp`: `add`/`replace` with or without `path`
/// (Okta's `{"op": "replace", "value": {"active": false}}`, Entra ID's
/// `{"op": "Replace", "path": "active", "value": "False"}`), `remove`.
/// Attributes of the User schema that revokd does not keep are accepted
/// and ignored.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The user's `id`"),
        ("If-Match" = Option<String>, Header, description = "An `ETag` of the user: the change is made only to that version"),
    ),
    request_body(content = ScimPatchRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "The user as changed", body = ScimUserResource, content_type = "application/scim+json"),
        (status = 400, description = "`invalidSyntax`, `invalidValue`, `invalidPath`, `noTarget`, `mutability`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such user of this client", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 409, description = "`uniqueness`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` names another version", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 413, description = "Body larger than `http.body_limit`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 415, description = "Not `application/scim+json` or `application/json`", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable; nothing was changed", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[patch("/Users/{id}")]
pub async fn patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "patch", |client| async {
        let body = read_json(&req, payload, state.body_limit).await?;
        let user = state
            .scim
            .patch(client, &id, &body, if_match(&req), UnixTime::now())
            .await?;
        Ok(user_response(&req, StatusCode::OK, &user))
    })
    .await
}

/// Delete a user.
///
/// RFC 7644 §3.6. The subject is disabled and every token it holds
/// revoked before the `204`; the user is forgotten.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The user's `id`"),
        ("If-Match" = Option<String>, Header, description = "An `ETag` of the user: deleted only at that version"),
    ),
    responses(
        (status = 204, description = "Deleted; the subject is disabled and its tokens revoked"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such user of this client", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 412, description = "`If-Match` names another version", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 503, description = "The store is unavailable; nothing was changed", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[delete("/Users/{id}")]
pub async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "delete", |client| async {
        state
            .scim
            .delete(client, &id, if_match(&req), UnixTime::now())
            .await?;
        Ok(HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish())
    })
    .await
}

/// What the service provider supports (RFC 7644 §4).
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    responses(
        (status = 200, description = "The ServiceProviderConfig", body = Object, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/ServiceProviderConfig")]
pub async fn get_service_provider_config(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "discovery", |_| async {
        Ok(scim_json(
            StatusCode::OK,
            &discovery::service_provider_config(&base_url(&req)),
        ))
    })
    .await
}

/// The resource types (RFC 7644 §4): `User`.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    responses(
        (status = 200, description = "A ListResponse of ResourceTypes", body = ScimListResponse, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/ResourceTypes")]
pub async fn get_resource_types(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "discovery", |_| async {
        let types = vec![discovery::user_resource_type(&base_url(&req))];
        Ok(scim_json(StatusCode::OK, &discovery::list(types)))
    })
    .await
}

/// One resource type.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(("id" = String, Path, description = "`User`")),
    responses(
        (status = 200, description = "The ResourceType", body = Object, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such resource type", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/ResourceTypes/{id}")]
pub async fn get_resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "discovery", |_| async {
        if id.as_str() != "User" {
            return Err(ScimError::NotFound(
                "the one resource type is `User`".into(),
            ));
        }
        Ok(scim_json(
            StatusCode::OK,
            &discovery::user_resource_type(&base_url(&req)),
        ))
    })
    .await
}

/// The schemas (RFC 7644 §4).
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    responses(
        (status = 200, description = "A ListResponse of Schemas", body = ScimListResponse, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/Schemas")]
pub async fn get_schemas(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "discovery", |_| async {
        Ok(scim_json(
            StatusCode::OK,
            &discovery::list(discovery::schemas(&base_url(&req))),
        ))
    })
    .await
}

/// One schema, by its URN.
#[utoipa::path(
    tag = "scim",
    security(("scim_token" = [])),
    params(("id" = String, Path, description = "The schema's URN")),
    responses(
        (status = 200, description = "The Schema", body = Object, content_type = "application/scim+json"),
        (status = 401, description = "No or an unknown SCIM client token", body = ScimErrorBody, content_type = "application/scim+json"),
        (status = 404, description = "No such schema", body = ScimErrorBody, content_type = "application/scim+json"),
    )
)]
#[get("/Schemas/{id}")]
pub async fn get_schema(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "discovery", |_| async {
        discovery::schemas(&base_url(&req))
            .into_iter()
            .find(|s| s["id"].as_str() == Some(id.as_str()))
            .map(|s| scim_json(StatusCode::OK, &s))
            .ok_or_else(|| ScimError::NotFound("no such schema".into()))
    })
    .await
}

/// The methods a path under the scope serves, if it is one of them.
fn allowed(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(BASE_PATH)?.trim_start_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["Users"] => Some("GET, POST"),
        ["Users", id] if !id.is_empty() => Some("GET, PUT, PATCH, DELETE"),
        ["ServiceProviderConfig" | "ResourceTypes" | "Schemas"] => Some("GET"),
        ["ResourceTypes" | "Schemas", id] if !id.is_empty() => Some("GET"),
        _ => None,
    }
}

/// What no route under the scope serves: a SCIM 405 for a known path
/// (the discovery endpoints serve GET only), else a SCIM 404.
pub async fn no_scim_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(match allowed(req.path()) {
        Some(allow) => ScimError::MethodNotAllowed(allow),
        None => ScimError::NotFound("no such SCIM endpoint".into()),
    }
    .into())
}

/// Middleware on the scope: an error answered without a SCIM body (a 405
/// of actix's router, an extractor's error) gets one.
pub async fn scim_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    let status = response.status();
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(SCIM_MEDIA_TYPE));
    if status.as_u16() < 400 || is_scim {
        return Ok(response.map_into_left_body());
    }
    let err = match status.as_u16() {
        404 => ScimError::NotFound("no such SCIM endpoint".into()),
        405 => ScimError::MethodNotAllowed(allowed(&path).unwrap_or("GET")),
        413 => ScimError::TooLarge(0),
        415 => ScimError::UnsupportedMediaType,
        400 => ScimError::InvalidSyntax(
            response
                .response()
                .error()
                .map_or_else(|| "bad request".to_owned(), ToString::to_string),
        ),
        _ => {
            // Keep what was answered (a 503 with its Retry-After, …).
            return Ok(response.map_into_left_body());
        }
    };
    let (req, _) = response.into_parts();
    let answer = ApiError::Scim(err).error_response();
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

/// The documented shape of a User in a request (what revokd reads; other
/// core and enterprise attributes are accepted and ignored).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ScimUserRequest {
    /// Must list `urn:ietf:params:scim:schemas:core:2.0:User`.
    #[schema(min_items = 1)]
    schemas: Vec<ScimUserSchemaUrn>,
    #[schema(min_length = 1, max_length = 256)]
    userName: String,
    #[schema(min_length = 1, max_length = 256)]
    externalId: Option<String>,
    /// A boolean, or `"True"`/`"False"` (Entra ID).
    active: Option<bool>,
}

/// The schemas a User request may name: the core User schema (required)
/// and the enterprise extension (its attributes are accepted and not
/// kept).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum ScimUserSchemaUrn {
    #[serde(rename = "urn:ietf:params:scim:schemas:core:2.0:User")]
    Core,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    Enterprise,
}

/// A User as revokd returns it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ScimUserResource {
    schemas: Vec<String>,
    id: String,
    userName: String,
    externalId: Option<String>,
    active: bool,
    /// `resourceType`, `created`, `lastModified`, `location`, `version`.
    meta: Object,
}

/// A `PatchOp` request (RFC 7644 §3.5.2).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ScimPatchRequest {
    /// `["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`.
    #[schema(min_items = 1)]
    schemas: Vec<ScimPatchSchemaUrn>,
    #[schema(min_items = 1)]
    Operations: Vec<ScimPatchOperation>,
}

/// One PATCH operation (RFC 7644 §3.5.2): `op` is compared
/// case-insensitively (Entra ID sends `Replace`); a `remove` needs a
/// `path`; without a `path`, `value` is an object of attributes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ScimPatchOperation {
    op: ScimPatchOp,
    /// An attribute (`active`, `userName`, `externalId`, optionally
    /// schema-qualified), or a path into one revokd does not keep.
    path: Option<String>,
    value: Option<Value>,
}

/// A PATCH operation's `op`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ScimPatchOp {
    Add,
    Replace,
    Remove,
}

/// The schema of a PATCH request.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum ScimPatchSchemaUrn {
    #[serde(rename = "urn:ietf:params:scim:api:messages:2.0:PatchOp")]
    PatchOp,
}

/// A `ListResponse` (RFC 7644 §3.4.2).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
pub struct ScimListResponse {
    schemas: Vec<String>,
    totalResults: u64,
    itemsPerPage: u64,
    startIndex: u64,
    Resources: Vec<Object>,
}

/// Any JSON object.
type Object = serde_json::Map<String, Value>;

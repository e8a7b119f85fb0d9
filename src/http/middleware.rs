//! Request logging and metrics, and JSON answers for requests that match
//! no route.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use tracing::Instrument;

use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::metrics::{HttpMetrics, RouteMetrics};

/// Routes that would only add noise to the request metrics.
const UNMEASURED: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

/// Gives each request a span, logs how it ended and counts it in the
/// request metrics, in a form fit for a hot path and free of secrets.
///
/// The span and the line carry the method, the route *pattern* and the
/// status, never the request target: a query string or a path can hold a
/// token (`?logout_token=`, `/v1/forward-auth/...?authSig=`), and so can
/// headers, which are not logged either. A refusal (4xx) is logged at
/// DEBUG with its error code only (descriptions may quote the client's
/// input); refusals are counted in the request metrics (and, at
/// forward-auth, by outcome). 5xx is logged at WARN; its cause was logged
/// where it happened.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = method_label(req.method());
    let span = tracing::info_span!("request", method, route = tracing::field::Empty);
    let started = Instant::now();
    let outcome = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let (request, status, code) = match &outcome {
        Ok(response) => (
            Some(response.request()),
            response.status(),
            response.response().error().and_then(error_code),
        ),
        Err(err) => (None, err.as_response_error().status_code(), error_code(err)),
    };
    // A route without parameters is found by its path in the table built
    // at start-up, with its metric handles: no walk of the router, no
    // allocation. Others (and unmatched requests) take the router's
    // pattern, once, for the metrics and the span alike.
    let fixed = request.and_then(|request| {
        let known = request.app_data::<web::Data<KnownRoutes>>()?;
        known.fixed.get_key_value(request.path())
    });
    let route: Cow<'_, str> = match fixed {
        Some((path, _)) => Cow::Borrowed(path.as_str()),
        None => Cow::Owned(
            request
                .and_then(HttpRequest::match_pattern)
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
    };
    if let Some(request) = request {
        match fixed {
            Some((_, Some(metrics))) => metrics.observe(method, status.as_u16(), elapsed),
            Some((_, None)) => {}
            None if UNMEASURED.contains(&route.as_ref()) => {}
            None => {
                if let Some(state) = request.app_data::<web::Data<AppState>>() {
                    state
                        .metrics
                        .http
                        .observe(&route, method, status.as_str(), elapsed);
                }
            }
        }
    }
    if !span.is_disabled() {
        span.record("route", route.as_ref());
    }
    let _entered = span.enter();
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(status, error = code, micros, "request failed");
    } else if status >= 400 {
        tracing::debug!(status, error = code, micros, "request refused");
    } else {
        tracing::trace!(status, micros, "request answered");
    }
    outcome
}

/// The `error` code of an [`ApiError`] answer (not its description).
fn error_code(err: &actix_web::Error) -> Option<&'static str> {
    err.as_error::<ApiError>().map(ApiError::code)
}

/// Gives every error answered inside the application the JSON error body,
/// including errors that actix-web answers itself (an extractor's
/// plain-text error, a guard) rather than an [`ApiError`]. Errors that
/// actix-http answers before the application is reached (an unparsable
/// request line or header, a head over its size limit: 400, 431, a head
/// timeout: 408) cannot be reached from here and keep an empty body.
pub async fn json_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let response = next.call(req).await?;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with(crate::scim::SCIM_MEDIA_TYPE)
        });
    if status.as_u16() < 400 || is_json {
        return Ok(response.map_into_left_body());
    }
    let description = match response.response().error() {
        Some(err) if status.is_client_error() => err.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (req, old) = response.into_parts();
    let mut new = HttpResponse::build(status);
    new.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = old.headers().get(&name) {
            new.insert_header((name, value.clone()));
        }
    }
    let body = ErrorBody {
        error: code_for(status),
        error_description: description,
    };
    Ok(ServiceResponse::new(req, new.json(body)).map_into_right_body())
}

/// The `error` code of a status answered without an [`ApiError`].
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "too_many_requests",
        503 => "temporarily_unavailable",
        500..=599 => "server_error",
        _ => "invalid_request",
    }
}

fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The paths served by one app and their methods, taken from the same
/// registrations as the routes, to tell "no such path" (404) from "wrong
/// method" (405).
///
/// Also the request metrics of each route without parameters, by its path
/// (`None`: not measured), resolved once per app.
#[derive(Default)]
pub struct KnownRoutes {
    paths: BTreeMap<String, Vec<String>>,
    fixed: HashMap<String, Option<RouteMetrics>>,
}

impl KnownRoutes {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi, metrics: &HttpMetrics) -> Self {
        let fixed = spec
            .paths
            .paths
            .keys()
            .filter(|path| !path.contains('{'))
            .map(|path| {
                let measured = !UNMEASURED.contains(&path.as_str());
                (path.clone(), measured.then(|| metrics.route(path)))
            })
            .collect();
        let paths = spec
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter(|&(_, present)| present)
                .map(|(m, _)| m.to_owned())
                .collect();
                (path.clone(), methods)
            })
            .collect();
        Self { paths, fixed }
    }

    /// The methods allowed on `path`, if it is a known path.
    fn allowed(&self, path: &str) -> Option<&[String]> {
        self.paths
            .iter()
            .find(|(template, _)| matches_template(template, path))
            .map(|(_, m)| m.as_slice())
    }
}

/// `/a/{x}/b` matches `/a/anything/b`.
fn matches_template(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps))
                if ts == ps || (ts.starts_with('{') && ts.ends_with('}') && !ps.is_empty()) => {}
            _ => return false,
        }
    }
}

/// The default service: 405 with `Allow` for a known path, 404 otherwise.
pub async fn no_route(
    req: HttpRequest,
    known: web::Data<KnownRoutes>,
) -> Result<HttpResponse, ApiError> {
    Err(match known.allowed(req.path()) {
        Some(methods) => ApiError::MethodNotAllowed {
            allow: methods.join(", "),
        },
        None => ApiError::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn errors_answered_without_an_api_error_get_the_json_body() {
        use actix_web::{App, test};
        let app = test::init_service(
            App::new()
                .route(
                    "/plain",
                    web::get().to(|| async {
                        HttpResponse::BadRequest()
                            .insert_header((header::RETRY_AFTER, "3"))
                            .body("plain text")
                    }),
                )
                .route(
                    "/extractor",
                    web::get().to(
                        |_: web::Query<std::collections::HashMap<String, u8>>| async {
                            HttpResponse::Ok().finish()
                        },
                    ),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                )
                .wrap(actix_web::middleware::from_fn(json_errors)),
        )
        .await;

        let response =
            test::call_service(&app, test::TestRequest::get().uri("/plain").to_request()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "3");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "invalid_request");

        let request = test::TestRequest::get().uri("/extractor?n=x").to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("Query"),
            "{body}"
        );

        let request = test::TestRequest::get().uri("/fine").to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(test::read_body(response).await, "ok");
    }

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches_template("/v1/check", "/v1/check"));
        assert!(matches_template("/bcl/{provider}", "/bcl/authentik"));
        assert!(!matches_template("/bcl/{provider}", "/bcl/"));
        assert!(!matches_template("/bcl/{provider}", "/bcl/a/b"));
        assert!(!matches_template("/v1/check", "/v1/checks"));
    }
}

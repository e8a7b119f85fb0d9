//! Request metrics, and JSON answers for requests that match no route.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use super::state::AppState;

/// Routes that would only add noise to the request metrics.
const UNMEASURED: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

/// Counts every request by route pattern, method and status. Labels come
/// from closed sets: the registered pattern (never the raw path), a known
/// method or `other`.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        if !UNMEASURED.contains(&route.as_str()) {
            let method = method_label(response.request().method());
            let status = response.status();
            state
                .metrics
                .http
                .requests
                .with_label_values(&[&route, method, status.as_str()])
                .inc();
            state
                .metrics
                .http
                .duration
                .with_label_values(&[&route])
                .observe(started.elapsed().as_secs_f64());
        }
    }
    Ok(response)
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
#[derive(Debug, Default)]
pub struct KnownRoutes {
    paths: BTreeMap<String, Vec<String>>,
}

impl KnownRoutes {
    pub fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
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
        Self { paths }
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

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches_template("/v1/check", "/v1/check"));
        assert!(matches_template("/bcl/{provider}", "/bcl/authentik"));
        assert!(!matches_template("/bcl/{provider}", "/bcl/"));
        assert!(!matches_template("/bcl/{provider}", "/bcl/a/b"));
        assert!(!matches_template("/v1/check", "/v1/checks"));
    }
}

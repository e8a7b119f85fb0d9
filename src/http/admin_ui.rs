//! `/admin/`: the admin web page (issue 16), when `admin_ui = true`.
//!
//! Three hand-written files built into the binary, so the page works with
//! no network beyond revokd itself and cannot be changed on disk. The page
//! is only a client of the admin API (`openapi/revokd.yaml`): it holds the
//! admin key in the tab's memory and sends it as `Authorization: Bearer`
//! from its own script. No cookie is ever set, so another site cannot make
//! the browser act with the key (CSRF), and the strict
//! Content-Security-Policy below lets nothing run but these files.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::state::AppState;

/// Only this origin's own files: no inline script or style, no
/// framing, no form posts, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// One embedded file with its strong validator.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        Self {
            name,
            content_type,
            body: body.as_bytes(),
            // A strong ETag: the content's hash, the same for every
            // instance running this build.
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
        }
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        Asset::new(
            "index.html",
            "text/html; charset=utf-8",
            include_str!("admin_ui/index.html"),
        ),
        Asset::new(
            "admin.css",
            "text/css; charset=utf-8",
            include_str!("admin_ui/admin.css"),
        ),
        Asset::new(
            "admin.js",
            "text/javascript; charset=utf-8",
            include_str!("admin_ui/admin.js"),
        ),
    ]
});

/// The asset a path under `/admin/` names: `""` is the page itself.
fn asset(file: &str) -> Option<&'static Asset> {
    let name = if file.is_empty() { "index.html" } else { file };
    ASSETS.iter().find(|a| a.name == name)
}

/// Whether `If-None-Match` already holds this ETag (RFC 9110 §13.1.2:
/// weak comparison, `*` matches any).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

fn hardened(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .insert_header((
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ));
}

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.admin_ui {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /admin`: to the page, whose relative asset paths need the slash.
pub async fn redirect(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    Ok(HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/admin/"))
        .finish())
}

/// `GET /admin/{file}`: the page and its files. Revalidated on every use
/// (`no-cache` with a strong ETag, so an upgrade is seen at once and an
/// unchanged file costs a `304`).
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let asset = asset(&path).ok_or(ApiError::NotFound)?;
    let unchanged = not_modified(&req, &asset.etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    hardened(&mut response);
    response
        .insert_header((header::ETAG, asset.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.body))
}

/// Registers the page's routes (outside the OpenAPI document: they are
/// not part of the API, only a client of it).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin")
            .route(web::get().to(redirect))
            .route(web::head().to(redirect)),
    )
    .service(
        web::resource("/admin/")
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(
        web::resource("/admin/{file}")
            .route(web::get().to(file))
            .route(web::head().to(file)),
    );
}

/// `GET /admin/`.
async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    file(req, state, web::Path::from(String::new())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn each_file_has_a_strong_etag_of_its_content() {
        let page = asset("").unwrap();
        assert_eq!(page.name, "index.html");
        assert!(page.etag.starts_with('"') && !page.etag.starts_with("W/"));
        assert_ne!(page.etag, asset("admin.js").unwrap().etag);
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("missing.js").is_none());
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_accepts_lists() {
        let etag = "\"abc\"";
        for (value, expected) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
        ] {
            let req = TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request();
            assert_eq!(not_modified(&req, etag), expected, "{value}");
        }
        assert!(!not_modified(
            &TestRequest::default().to_http_request(),
            etag
        ));
    }

    #[test]
    fn no_file_holds_inline_script_or_style() {
        let page = std::str::from_utf8(asset("").unwrap().body).unwrap();
        assert!(!page.contains("<script>"), "inline script");
        assert!(!page.contains("style="), "inline style");
        assert!(!page.contains("<style"), "inline style");
        for remote in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!page.contains(remote), "no CDN: {remote}");
        }
        let script = std::str::from_utf8(asset("admin.js").unwrap().body).unwrap();
        assert!(
            !script.contains("innerHTML"),
            "data goes through textContent"
        );
        assert!(!script.contains("document.cookie"), "no cookie");
        assert!(!script.contains("eval("), "no eval");
    }
}

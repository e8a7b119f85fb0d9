//! `/admin/`, the admin web page (`admin_ui`): what the server promises
//! about it. The page itself is exercised in a real browser by
//! tests/browser (scripts/test browser).

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use serde_json::Value;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FILES: [(&str, &str); 3] = [
    ("/admin/", "text/html"),
    ("/admin/admin.js", "text/javascript"),
    ("/admin/admin.css", "text/css"),
];

#[tokio::test]
async fn the_page_is_not_served_by_default() {
    let app = spawn_app(Backend::Embedded).await;
    for path in ["/admin", "/admin/", "/admin/admin.js", "/admin/admin.css"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn each_file_is_served_with_the_strict_policy_and_a_strong_validator() {
    let app = spawn_app_with(Backend::Embedded, |s| s.admin_ui = true).await;
    for (path, kind) in FILES {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[CONTENT_SECURITY_POLICY], CSP, "{path}");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[CACHE_CONTROL], "no-cache", "{path}");
        assert!(headers.get(SET_COOKIE).is_none(), "{path}");
        assert!(
            headers[CONTENT_TYPE].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let etag = headers[ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        assert!(!response.bytes().await.unwrap().is_empty());

        let again = app
            .client
            .get(app.url(path))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()[ETAG].to_str().unwrap(), etag);
        assert_eq!(again.headers()[CONTENT_SECURITY_POLICY], CSP);

        let other = app
            .client
            .get(app.url(path))
            .header(IF_NONE_MATCH, "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{path}");

        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn only_the_embedded_files_and_only_get() {
    let app = spawn_app_with(Backend::Embedded, |s| s.admin_ui = true).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[LOCATION], "/admin/");
    for path in [
        "/admin/index.js",
        "/admin/..%2FCargo.toml",
        "/admin/admin.js/x",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = app.client.post(app.url("/admin/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn the_operations_listener_never_serves_the_page() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.admin_ui = true;
        s.ops_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let ops = app.ops_address.clone().unwrap();
    let response = app
        .client
        .get(format!("{ops}/admin/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

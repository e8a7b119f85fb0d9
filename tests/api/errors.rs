//! Bad input in general: bodies, media types, routes, methods.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .client
        .post(app.url("/v1/admin/tokens/revoke"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{\"jti\": ")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "malformed JSON body",
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .client
        .post(app.url("/v1/admin/tokens/revoke"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "text/plain")
        .body("jti=t")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "application/json",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_records_nothing() {
    let app = spawn_app(Backend::Embedded).await;
    let huge = json!({"jti": "t", "reason": "x".repeat(70 * 1024)});
    let response = app.admin_post("/v1/admin/tokens/revoke", &huge).await;
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "65536 bytes",
    )
    .await;

    // Streamed without a length, the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"jti\":\"t\",\"reason\":\"".to_vec()),
        Ok(vec![b'x'; 80 * 1024]),
        Ok(b"\"}".to_vec()),
    ];
    let response = app
        .client
        .post(app.url("/v1/admin/tokens/revoke"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "bytes",
    )
    .await;

    let events: serde_json::Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"], json!([]));
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let app = spawn_app_with(Backend::Embedded, |s| s.http.body_limit = 2048).await;
    let response = app
        .admin_post(
            "/v1/admin/tokens/revoke",
            &json!({"jti": "t", "reason": "x".repeat(3000)}),
        )
        .await;
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "2048 bytes",
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_are_a_json_404() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app.client.get(app.url("/v1/nope")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_naming_the_allowed_ones() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .client
        .delete(app.url("/v1/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method",
    )
    .await;

    let response = app
        .client
        .get(app.url("/v1/admin/tokens/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The hot routes are registered with revokd's own method guard
/// (`http::hot_route`): a method it does not list still falls through to
/// the 405 of the default service.
#[tokio::test]
async fn hot_routes_refuse_an_unlisted_method_with_a_405() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .client
        .get(app.url("/v1/introspect"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method",
    )
    .await;

    for path in ["/v1/forward-auth", "/v1/forward-auth/states"] {
        let response = app
            .client
            .request(reqwest::Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(
            response.headers()["allow"],
            "GET, POST, PUT, DELETE, PATCH",
            "{path}"
        );
    }
}

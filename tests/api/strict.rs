//! Ambiguous input is refused, not resolved silently (issue 17, item 11),
//! and error answers say what happened (item 15).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    ADMIN_KEY, Backend, CLIENT_KEY, ISS, assert_error, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn a_repeated_json_member_is_refused_on_every_json_route() {
    let app = spawn_app(Backend::Embedded).await;
    let routes = [
        ("/v1/check", CLIENT_KEY, r#"{"jti":"a","jti":"b"}"#, "jti"),
        (
            "/v1/admin/tokens/revoke",
            ADMIN_KEY,
            r#"{"jti":"a","jti":"b"}"#,
            "jti",
        ),
        (
            "/v1/admin/sessions/revoke",
            ADMIN_KEY,
            r#"{"iss":"x","sid":"s","sid":"t"}"#,
            "sid",
        ),
        (
            "/v1/admin/subjects/disable",
            ADMIN_KEY,
            r#"{"iss":"x","sub":"a","sub":"b"}"#,
            "sub",
        ),
        (
            "/v1/admin/subjects/enable",
            ADMIN_KEY,
            r#"{"iss":"x","sub":"a","sub":"b"}"#,
            "sub",
        ),
        (
            "/v1/admin/subjects/revoke-tokens",
            ADMIN_KEY,
            r#"{"iss":"x","sub":"a","sub":"b"}"#,
            "sub",
        ),
        (
            "/v1/sessions",
            CLIENT_KEY,
            r#"{"iss":"x","sub":"a","token_ids":["t"],"expires_at":1,"token_ids":["u"]}"#,
            "token_ids",
        ),
    ];
    for (path, key, body, member) in routes {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains(&format!("`{member}` is given more than once")),
            "{path}: {description}"
        );
    }
    // Nothing was revoked by the refused request.
    assert_eq!(app.verdict(&[("jti", "b")]).await["active"], true);
}

#[tokio::test]
async fn a_query_string_that_is_not_utf8_is_refused() {
    let app = spawn_app(Backend::Embedded).await;
    for (path, key) in [
        ("/v1/check?jti=%FF", CLIENT_KEY),
        ("/v1/check?jti=ok&%C3=x", CLIENT_KEY),
        ("/v1/revocations?cursor=%FF", CLIENT_KEY),
        ("/v1/admin/events?before=%FF", ADMIN_KEY),
        ("/v1/admin/subjects/status?iss=x&sub=%FE", ADMIN_KEY),
        ("/v1/sessions?iss=x&sid=%FF", CLIENT_KEY),
    ] {
        let request = if path.starts_with("/v1/sessions") {
            app.client.delete(app.url(path))
        } else {
            app.client.get(app.url(path))
        };
        let response = request.bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("not UTF-8"),
            "{path}: {body}"
        );
    }
    // Valid percent-encoded UTF-8 still reads.
    assert_eq!(app.verdict(&[("jti", "caf\u{e9}")]).await["active"], true);
}

#[tokio::test]
async fn a_compressed_body_is_a_415() {
    let app = spawn_app(Backend::Embedded).await;
    for (coding, path, content_type, key) in [
        ("gzip", "/v1/check", "application/json", CLIENT_KEY),
        (
            "br",
            "/v1/admin/tokens/revoke",
            "application/json",
            ADMIN_KEY,
        ),
        (
            "gzip",
            "/backchannel-logout",
            "application/x-www-form-urlencoded",
            CLIENT_KEY,
        ),
    ] {
        let body = if content_type == "application/json" {
            r#"{"jti":"t"}"#
        } else {
            "logout_token=x.y.z"
        };
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(key)
            .header("content-type", content_type)
            .header("content-encoding", coding)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("`Content-Encoding: {coding}`"),
        )
        .await;
    }
    // `identity` is no coding at all.
    let response = app
        .client
        .post(app.url("/v1/check"))
        .bearer_auth(CLIENT_KEY)
        .header("content-encoding", "identity")
        .json(&json!({"jti": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn forward_auth_refuses_a_repeated_single_valued_header() {
    let app = spawn_app(Backend::Embedded).await;
    for (name, first, second) in [
        ("authorization", "Bearer a", "Bearer b"),
        ("x-original-uri", "/a", "/b"),
        ("x-forwarded-uri", "/a", "/a"),
        ("x-revokd-key", CLIENT_KEY, CLIENT_KEY),
    ] {
        let mut request = app.client.get(app.url("/v1/forward-auth"));
        if name != "x-revokd-key" {
            request = request.header("x-revokd-key", CLIENT_KEY);
        }
        let response = request
            .header(name, first)
            .header(name, second)
            .send()
            .await
            .unwrap();
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("`{name}` is sent more than once"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_client_key_at_an_admin_route_is_told_it_needs_an_admin_key() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .client
        .post(app.url("/v1/admin/tokens/revoke"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"jti": "t"}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "forbidden",
        "a client key may not use this endpoint; it needs an admin key",
    )
    .await;
}

#[tokio::test]
async fn an_over_long_token_id_in_a_registration_is_named_by_its_place() {
    let app = spawn_app(Backend::Embedded).await;
    let expires_at = revokd::domain::UnixTime::now().as_secs() + 600;
    let response = app
        .client
        .post(app.url("/v1/sessions"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({
            "iss": ISS, "sid": "s1", "sub": "alice",
            "token_ids": ["fine", "x".repeat(300)],
            "expires_at": expires_at,
        }))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "`token_ids[1]` is longer than 256 bytes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_the_store_cannot_answer_does_not_speak_of_recording() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.check.source = revokd::config::CheckSource::Store;
    })
    .await;
    app.infra.stop_redis();
    let response = app.check(&[("jti", "t")]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert_eq!(body["error"], "store_unavailable");
    assert!(!description.contains("recorded"), "{description}");
    assert!(description.contains("no answer"), "{description}");
}

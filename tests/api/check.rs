//! `/v1/check` end to end: every reason, every way of asking, every refusal.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, ISS, assert_error, spawn_app, spawn_app_with};
use crate::on_both_stores;

async fn a_token_nobody_revoked_is_active(backend: Backend) {
    let app = spawn_app(backend).await;
    let verdict = app
        .verdict(&[
            ("iss", ISS),
            ("jti", "t1"),
            ("sid", "s1"),
            ("sub", "alice"),
            ("iat", "100"),
        ])
        .await;
    assert_eq!(verdict, json!({"active": true}));
}

async fn each_revocation_yields_its_reason(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "tok-1"}))
        .await;
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "ses-1"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "mallory"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/revoke-tokens",
        &json!({"iss": ISS, "sub": "bob"}),
    )
    .await;

    // Act and assert
    let cases: [(&[(&str, &str)], serde_json::Value); 6] = [
        (
            &[("jti", "tok-1")],
            json!({"active": false, "reason": "token_revoked"}),
        ),
        (&[("jti", "tok-2")], json!({"active": true})),
        (
            &[("iss", ISS), ("sid", "ses-1")],
            json!({"active": false, "reason": "session_revoked"}),
        ),
        (
            &[("iss", ISS), ("sub", "mallory"), ("iat", "4102444800")],
            json!({"active": false, "reason": "subject_disabled"}),
        ),
        (
            &[("iss", ISS), ("sub", "bob"), ("iat", "1000")],
            json!({"active": false, "reason": "subject_revoked_before"}),
        ),
        (
            &[("iss", ISS), ("sub", "bob"), ("iat", "4102444800")],
            json!({"active": true}),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(app.verdict(query).await, expected, "{query:?}");
    }
}

async fn a_subject_of_another_issuer_is_unaffected(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;
    let other = app
        .verdict(&[
            ("iss", "https://other.example"),
            ("sub", "alice"),
            ("iat", "1"),
        ])
        .await;
    assert_eq!(other, json!({"active": true}));
    let same = app
        .verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "1")])
        .await;
    assert_eq!(same["reason"], "subject_disabled");
}

async fn post_accepts_identifiers_or_a_jwt(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s9"}),
    )
    .await;

    let by_fields = app.post_check(&json!({"iss": ISS, "sid": "s9"})).await;
    assert_eq!(by_fields.status(), StatusCode::OK);
    assert_eq!(
        by_fields.json::<serde_json::Value>().await.unwrap()["reason"],
        "session_revoked"
    );

    let token =
        jwt(&json!({"iss": ISS, "sid": "s9", "sub": "alice", "jti": "j", "iat": 5, "exp": 9}));
    let by_token = app.post_check(&json!({"token": token})).await;
    assert_eq!(by_token.status(), StatusCode::OK);
    assert_eq!(
        by_token.json::<serde_json::Value>().await.unwrap()["reason"],
        "session_revoked"
    );

    let other = jwt(&json!({"iss": ISS, "sid": "s10", "sub": "alice", "jti": "k"}));
    let active = app.post_check(&json!({"token": other})).await;
    assert_eq!(
        active.json::<serde_json::Value>().await.unwrap(),
        json!({"active": true})
    );
}

async fn enable_lets_new_logins_in_but_keeps_old_tokens_dead(backend: Backend) {
    let app = spawn_app(backend).await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/enable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;
    let old = app
        .verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "1000")])
        .await;
    assert_eq!(old["reason"], "subject_revoked_before");
    let new = app
        .verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "4102444800")])
        .await;
    assert_eq!(new, json!({"active": true}));
}

on_both_stores!(
    a_token_nobody_revoked_is_active,
    each_revocation_yields_its_reason,
    a_subject_of_another_issuer_is_unaffected,
    post_accepts_identifiers_or_a_jwt,
    enable_lets_new_logins_in_but_keeps_old_tokens_dead,
);

fn jwt(claims: &serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    format!(
        "{header}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[tokio::test]
async fn bad_check_requests_are_refused_precisely() {
    let app = spawn_app(Backend::Embedded).await;
    let long = "x".repeat(257);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "at least one of"),
        (vec![("iat", "5")], "at least one of"),
        (vec![("sid", "s")], "`iss`"),
        (vec![("sub", "u")], "`iss`"),
        (vec![("jti", "")], "`jti` must not be empty"),
        (vec![("jti", &long)], "`jti` is longer than 256 bytes"),
        (vec![("jti", "a\u{7}b")], "control character"),
        (vec![("jti", "t"), ("bogus", "1")], "unknown field `bogus`"),
        (vec![("jti", "t"), ("iat", "yesterday")], "iat"),
    ];
    for (query, needle) in cases {
        let response = app.check(&query).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
}

#[tokio::test]
async fn bad_check_bodies_are_refused_precisely() {
    let app = spawn_app(Backend::Embedded).await;
    let cases = [
        (json!({}), "at least one of"),
        (json!({"token": "abc"}), "not a JWT"),
        (json!({"token": "a.b.c.d.e"}), "encrypted"),
        (
            json!({"token": jwt(&json!({"jti": "x"})), "jti": "x"}),
            "not both",
        ),
        (json!({"jti": 5}), "malformed JSON body"),
        (json!({"jti": "x", "extra": 1}), "unknown field `extra`"),
    ];
    for (body, needle) in cases {
        let response = app.post_check(&body).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
}

#[tokio::test]
async fn checks_need_a_client_key_by_default() {
    let app = spawn_app(Backend::Embedded).await;
    let no_key = app
        .client
        .get(app.url("/v1/check?jti=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        no_key.headers()["www-authenticate"],
        "Bearer realm=\"revokd\""
    );
    assert_error(no_key, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;

    let wrong = app
        .client
        .get(app.url("/v1/check?jti=t"))
        .bearer_auth("wrong-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;

    let admin = app
        .client
        .get(app.url("/v1/check?jti=t"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK, "admin keys may check too");
}

#[tokio::test]
async fn checks_can_be_opened_to_callers_without_a_key() {
    let app = spawn_app_with(Backend::Embedded, |s| s.check.require_client_key = false).await;
    let response = app
        .client
        .get(app.url("/v1/check?jti=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn check_answers_are_not_cacheable() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app.check(&[("jti", "t")]).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
}

//! The forged-token suite: revokd's back-channel logout endpoint against an
//! in-process identity provider that can forge every kind of bad token.
//! Each rule of OpenID Connect Back-Channel Logout 1.0 §2.6 has a case that
//! breaks exactly it and asserts 400, the rule named, and nothing revoked.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use revokd::oidc::{JwsAlg, KeyKind};
use serde_json::{Value, json};

use crate::backchannel::{provider, wait_for_provider};
use crate::common::forging_idp::{LogoutTokenBuilder, TestIdp, unix_now};
use crate::helpers::{Backend, ISS, TestApp, spawn_app_with};
use revokd::oidc::testkit::RelyingPartyKey;

async fn app_for(idp: &TestIdp, backend: Backend) -> TestApp {
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let app = spawn_app_with(backend, move |s| s.providers = vec![settings]).await;
    wait_for_provider(&app, "idp").await;
    app
}

async fn post_token(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .post(app.url(path))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
}

async fn events(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

/// Asserts a 400 naming `rule`, and that nothing was revoked.
async fn assert_refused(app: &TestApp, response: Response, rule: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "rule {rule}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("{rule}: ")),
        "{description:?} should name {rule}"
    );
    assert!(
        events(app).await.is_empty(),
        "a token breaking {rule} revoked something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_has_a_token_that_breaks_it() {
    let idp = TestIdp::start();
    let app = app_for(&idp, Backend::Embedded).await;
    let now = unix_now();
    let unpublished = idp.add_key_not_published(KeyKind::Rsa);
    let valid = || idp.logout_token().sid("s1");
    let cases: Vec<(&str, LogoutTokenBuilder)> = vec![
        ("alg_none", valid().unsigned()),
        ("alg_symmetric", valid().hs256_with_public_key()),
        ("bad_signature", valid().corrupt_signature()),
        ("unknown_kid", valid().signing_key(&unpublished)),
        ("alg_not_allowed", valid().alg(JwsAlg::Ps512)),
        ("alg_key_mismatch", valid().header("alg", "ES256")),
        ("unsupported_type", valid().header("typ", "at+jwt")),
        (
            "unsupported_critical",
            valid().header("crit", json!(["exp"])),
        ),
        ("unknown_issuer", valid().iss("https://evil.example")),
        ("audience_mismatch", valid().aud("someone-else")),
        ("missing_iat", valid().without_claim("iat")),
        ("issued_in_future", valid().iat(now + 3600).exp(now + 7200)),
        ("too_old", valid().iat(now - 3600).exp(now + 60)),
        ("expired", valid().iat(now - 30).exp(now - 120)),
        ("missing_jti", valid().without_claim("jti")),
        (
            "bad_events",
            valid().claim(
                "events",
                json!({"http://schemas.openid.net/event/other": {}}),
            ),
        ),
        (
            "bad_events",
            valid().claim(
                "events",
                json!({"http://schemas.openid.net/event/backchannel-logout": "yes"}),
            ),
        ),
        (
            "missing_sub_and_sid",
            idp.logout_token().without_claim("sub"),
        ),
        ("nonce_forbidden", valid().claim("nonce", "n-0S6_WzA2Mj")),
        ("malformed", valid().header("kid", 5)),
    ];
    for (rule, token) in cases {
        let response = post_token(&app, "/backchannel-logout", &token.sign()).await;
        assert_refused(&app, response, rule).await;
    }
    let recent = app.logout_tokens().await;
    assert!(
        recent
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "rejected")
    );
    assert_eq!(recent[0]["rule"], "malformed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_provider_is_refused_on_a_pinned_endpoint() {
    let idp = TestIdp::start();
    let other = TestIdp::start();
    let (a, b) = (
        provider("a", idp.issuer(), idp.client_id()),
        provider("b", other.issuer(), other.client_id()),
    );
    let app = spawn_app_with(Backend::Embedded, move |s| s.providers = vec![a, b]).await;
    wait_for_provider(&app, "a").await;
    wait_for_provider(&app, "b").await;

    let response = post_token(&app, "/backchannel-logout/b", &idp.logout_token().sign()).await;
    assert_refused(&app, response, "wrong_provider").await;
    let response = post_token(
        &app,
        "/backchannel-logout/nobody",
        &idp.logout_token().sign(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = post_token(&app, "/backchannel-logout/a", &idp.logout_token().sign()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Issue 17 item 11: the path is judged before the body, so an unknown
/// provider is a 404 whatever (or however much) was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_provider_is_404_before_the_token_is_read() {
    let idp = TestIdp::start();
    let app = app_for(&idp, Backend::Embedded).await;
    let url = app.url("/backchannel-logout/nobody");
    let requests = [
        app.client.post(&url).form(&[("logout_token", "not-a-jwt")]),
        app.client.post(&url).form(&[("logout_token", "a.b.c.d.e")]),
        app.client
            .post(&url)
            .form(&[("logout_token", idp.logout_token().sign())]),
        app.client.post(&url).form(&[("state", "x")]),
        app.client.post(&url).json(&json!({"logout_token": "x"})),
        app.client.post(&url),
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "request {i}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unknown_provider", "request {i}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("nobody"),
            "{body}"
        );
    }
    assert!(events(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused() {
    let idp = TestIdp::start();
    let app = app_for(&idp, Backend::Embedded).await;
    let token = idp.logout_token().sign();
    let url = app.url("/backchannel-logout");
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            app.client.post(&url).form(&[("state", "x")]),
            "missing the `logout_token`",
        ),
        (
            app.client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("logout_token={token}&logout_token={token}")),
            "more than once",
        ),
        (
            app.client.post(&url).json(&json!({"logout_token": token})),
            "x-www-form-urlencoded",
        ),
        (
            app.client.post(&url).form(&[("logout_token", "not-a-jwt")]),
            "malformed",
        ),
    ];
    for (request, needle) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{needle}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    let huge = "a".repeat(70 * 1024);
    let response = app
        .client
        .post(&url)
        .form(&[("logout_token", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(events(&app).await.is_empty());
}

async fn a_valid_token_revokes_its_session_once(backend: Backend) {
    let idp = TestIdp::start();
    let app = app_for(&idp, backend).await;
    let token = idp.logout_token().sid("s-1").sign();

    let first = post_token(&app, "/backchannel-logout", &token).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"result": "revoked"})
    );
    let replay = post_token(&app, "/backchannel-logout", &token).await;
    assert_eq!(
        replay.json::<Value>().await.unwrap(),
        json!({"result": "already_processed"})
    );

    assert_eq!(events(&app).await.len(), 1, "a replay has no second effect");
    let verdict = app.verdict(&[("iss", idp.issuer()), ("sid", "s-1")]).await;
    assert_eq!(verdict["reason"], "session_revoked");
    let other = app.verdict(&[("iss", idp.issuer()), ("sid", "s-2")]).await;
    assert_eq!(other, json!({"active": true}));
}

async fn a_hundred_concurrent_copies_make_one_revocation(backend: Backend) {
    let idp = TestIdp::start();
    let app = app_for(&idp, backend).await;
    let token = idp.logout_token().sid("s-1").sign();

    let responses = futures_util::future::join_all(
        (0..100).map(|_| post_token(&app, "/backchannel-logout", &token)),
    )
    .await;

    let mut results = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
        results.push(
            response.json::<Value>().await.unwrap()["result"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        results.iter().filter(|r| *r == "revoked").count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| *r == "already_processed").count(),
        99
    );
    assert_eq!(events(&app).await.len(), 1);
}

async fn a_token_with_only_sub_revokes_every_token_of_the_subject_until_now(backend: Backend) {
    let idp = TestIdp::start();
    let app = app_for(&idp, backend).await;
    let before = (unix_now() - 10).to_string();

    let response = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sub("carol").sign(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let old = app
        .verdict(&[("iss", idp.issuer()), ("sub", "carol"), ("iat", &before)])
        .await;
    assert_eq!(old["reason"], "subject_revoked_before");
    let later = (unix_now() + 5).to_string();
    let new = app
        .verdict(&[("iss", idp.issuer()), ("sub", "carol"), ("iat", &later)])
        .await;
    assert_eq!(
        new,
        json!({"active": true}),
        "a login after the logout works by itself"
    );
    let unrelated = app
        .verdict(&[("iss", ISS), ("sub", "carol"), ("iat", &before)])
        .await;
    assert_eq!(
        unrelated,
        json!({"active": true}),
        "another issuer's carol is someone else"
    );
}

crate::on_both_stores!(
    a_valid_token_revokes_its_session_once,
    a_hundred_concurrent_copies_make_one_revocation,
    a_token_with_only_sub_revokes_every_token_of_the_subject_until_now,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_is_picked_up_and_unknown_kids_cannot_flood_the_provider() {
    let idp = TestIdp::start();
    let app = spawn_app_with(Backend::Embedded, {
        let settings = provider("idp", idp.issuer(), idp.client_id());
        move |s| {
            s.providers = vec![settings];
            s.backchannel.jwks_min_refetch_interval = Duration::from_secs(3600);
        }
    })
    .await;
    wait_for_provider(&app, "idp").await;
    let fetches = idp.jwks_fetch_count();

    // The provider rotates its keys: the first token with the new kid
    // makes revokd fetch the keys again, and it is accepted.
    idp.rotate();
    let response = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sid("after-rotation").sign(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(idp.jwks_fetch_count(), fetches + 1);

    // A flood of unknown kids fetches nothing more within the interval.
    // Each might be signed by a key published since (DESIGN 10): kept and
    // answered 503, bounded by backchannel.pending_max_tokens.
    for _ in 0..20 {
        let kid = idp.add_key_not_published(KeyKind::Rsa);
        let response = post_token(
            &app,
            "/backchannel-logout",
            &idp.logout_token().signing_key(&kid).sign(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error_description"].as_str().unwrap().contains("kept"),
            "{body}"
        );
    }
    assert_eq!(
        idp.jwks_fetch_count(),
        fetches + 1,
        "unknown kids are rate-limited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_at_start_up_is_retried_until_it_answers() {
    let idp = TestIdp::start();
    idp.set_down(true);
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let app = spawn_app_with(Backend::Embedded, move |s| s.providers = vec![settings]).await;

    let response = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sid("s").sign(),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "keys never loaded: the provider retries"
    );
    assert!(events(&app).await.is_empty());

    idp.set_down(false);
    wait_for_provider(&app, "idp").await;
    let response = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sid("s").sign(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_tokens_are_opened_and_plain_ones_refused_when_encryption_is_required() {
    let idp = TestIdp::start();
    let rp_key = RelyingPartyKey::rsa(Some("rp-enc-1"));
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("rp.pem");
    rp_key.write_private_pem(&key_file);
    let mut settings = provider("idp", idp.issuer(), idp.client_id());
    settings.decryption_key_file = Some(key_file);
    settings.decryption_alg = Some("RSA-OAEP-256".into());
    settings.require_encryption = true;
    let app = spawn_app_with(Backend::Embedded, move |s| s.providers = vec![settings]).await;
    wait_for_provider(&app, "idp").await;

    let plain = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sid("s-plain").sign(),
    )
    .await;
    assert_refused(&app, plain, "encryption_required").await;

    let sealed = idp
        .logout_token()
        .sid("s-sealed")
        .encrypt_for(&rp_key, "RSA-OAEP-256", "A256GCM")
        .sign();
    let response = post_token(&app, "/backchannel-logout", &sealed).await;
    assert_eq!(response.status(), StatusCode::OK);
    let verdict = app
        .verdict(&[("iss", idp.issuer()), ("sid", "s-sealed")])
        .await;
    assert_eq!(verdict["reason"], "session_revoked");
}

async fn a_logout_before_the_login_is_registered_still_wins(backend: Backend) {
    // Arrange: the provider's logout token arrives first.
    let idp = TestIdp::start();
    let app = app_for(&idp, backend).await;
    let response = post_token(
        &app,
        "/backchannel-logout",
        &idp.logout_token().sid("early").sign(),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a session revokd never saw is still a success"
    );

    // Act: the app registers the login afterwards.
    let response =
        crate::backchannel::register(&app, idp.issuer(), "early", "alice", "late-token").await;

    // Assert: refused, and the token is born revoked.
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "session_revoked", "{body}");
    assert_eq!(
        app.verdict(&[("jti", "late-token")]).await["reason"],
        "token_revoked"
    );
}

async fn disabling_a_subject_kills_its_registered_tokens_and_refuses_new_logins(backend: Backend) {
    let idp = TestIdp::start();
    let app = app_for(&idp, backend).await;
    let iss = idp.issuer().to_owned();
    let ok = crate::backchannel::register(&app, &iss, "s-1", "dave", "dave-token-1").await;
    assert_eq!(ok.status(), StatusCode::OK);

    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": iss, "sub": "dave"}),
    )
    .await;

    assert_eq!(
        app.verdict(&[("jti", "dave-token-1")]).await["reason"],
        "subject_disabled"
    );
    let refused = crate::backchannel::register(&app, &iss, "s-2", "dave", "dave-token-2").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "subject_disabled"
    );
    assert_eq!(
        app.verdict(&[("jti", "dave-token-2")]).await["reason"],
        "token_revoked"
    );

    app.admin_ok(
        "/v1/admin/subjects/enable",
        &json!({"iss": iss, "sub": "dave"}),
    )
    .await;
    let again = crate::backchannel::register(&app, &iss, "s-3", "dave", "dave-token-3").await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "enabled again: new logins register"
    );
    assert_eq!(
        app.verdict(&[("jti", "dave-token-1")]).await["reason"],
        "subject_revoked_before"
    );
}

mod registry {
    use super::*;
    crate::on_both_stores!(
        a_logout_before_the_login_is_registered_still_wins,
        disabling_a_subject_kills_its_registered_tokens_and_refuses_new_logins,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_and_record_nothing() {
    let app = crate::helpers::spawn_app(Backend::Embedded).await;
    let now = unix_now();
    let cases = [
        (
            json!({"iss": ISS, "sid": "s", "sub": "u", "token_ids": [], "expires_at": now + 60}),
            "token",
        ),
        (
            json!({"iss": ISS, "sid": "s", "sub": "u", "token_ids": ["a", "a"], "expires_at": now + 60}),
            "more than once",
        ),
        (
            json!({"iss": ISS, "sid": "s", "sub": "u", "token_ids": ["a"], "expires_at": now - 60}),
            "in the past",
        ),
        (
            json!({"iss": ISS, "sid": "s", "sub": "u", "token_ids": ["a"], "expires_at": now + 500 * 86_400}),
            "max_token_exp",
        ),
        (
            json!({"iss": ISS, "sub": "u", "token_ids": [""], "expires_at": now + 60}),
            "`token_ids[0]` must not be empty",
        ),
        (
            json!({"iss": ISS, "sub": "u", "token_ids": ["a"]}),
            "missing field `expires_at`",
        ),
    ];
    for (body, needle) in cases {
        let response = app
            .client
            .post(app.url("/v1/sessions"))
            .bearer_auth(crate::helpers::CLIENT_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        let description = error["error_description"].as_str().unwrap();
        assert!(description.contains(needle), "{body}: {description}");
    }
    let no_key = app
        .client
        .post(app.url("/v1/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.verdict(&[("jti", "a")]).await, json!({"active": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_key_set_is_not_loaded() {
    let idp = TestIdp::start();
    idp.set_jwks_body(vec![b' '; 300 * 1024]);
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let app = spawn_app_with(Backend::Embedded, move |s| s.providers = vec![settings]).await;

    let mut error = Value::Null;
    for _ in 0..50 {
        let ready = app.readiness().await;
        error = ready["checks"]["provider:idp"]["error"].clone();
        if error.as_str().is_some_and(|e| e.contains("larger than")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        error
            .as_str()
            .unwrap_or_default()
            .contains("larger than 262144 bytes"),
        "{error}"
    );

    let response = post_token(&app, "/backchannel-logout", &idp.logout_token().sign()).await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no keys were ever loaded"
    );
}

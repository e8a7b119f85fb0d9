//! `/v1/forward-auth` and `/v1/introspect` over HTTP, on both stores: the
//! answers a reverse proxy acts on. The same endpoint behind real nginx and
//! Caddy is tested in `tests/gateway.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Response, StatusCode};
use revokd::config::{FailMode, Settings};
use revokd::gateway::settings::RouteSettings;
use revokd::gateway::{MissingToken, ProfileKind};
use serde_json::{Value, json};

use crate::backchannel::{provider, register, wait_for_provider};
use crate::common::forging_idp::{TestIdp, unix_now};
use crate::helpers::{ADMIN_KEY, Backend, CLIENT_KEY, ISS, TestApp, assert_error, spawn_app_with};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-app-secret";

/// A Home Assistant access token: HS256 with HA's key (unknown to revokd),
/// claims `iss` = refresh-token id, `iat`, `exp`.
pub fn ha_token(refresh_token_id: &str) -> String {
    let now = unix_now();
    sign_hs256(
        &json!({"iss": refresh_token_id, "iat": now, "exp": now + 1800}),
        b"home-assistant-own-signing-key-0123456789",
    )
}

/// An HS256 JWT of an app's, from the crate's forging kit.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    revokd::oidc::testkit::hs256_jws(&json!({"typ": "JWT", "alg": "HS256"}), claims, secret)
}

/// Home Assistant's layout: `/api/` guarded with the HA profile, the login
/// flow and webhooks open.
fn home_assistant(s: &mut Settings) {
    s.forward_auth.skip = vec!["/auth/".into(), "/api/webhook/".into()];
    s.forward_auth.routes = vec![RouteSettings {
        prefix: "/api/".into(),
        profile: ProfileKind::HomeAssistant,
    }];
}

async fn ask(app: &TestApp, uri: &str, token: Option<&str>) -> Response {
    let mut request = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("x-original-uri", uri);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Asserts a refusal: 401, the RFC 6750 challenge, the reason header and
/// the JSON body.
async fn assert_refused(response: Response, reason: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{reason}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["revokd-reason"], reason);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    if reason == "missing" {
        assert_eq!(challenge, "Bearer");
        assert_eq!(body["error"], "missing_token", "{body}");
    } else {
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert_eq!(body["error"], "invalid_token", "{body}");
    }
}

async fn a_revoked_home_assistant_token_is_refused_and_others_pass(backend: Backend) {
    let app = spawn_app_with(backend, home_assistant).await;
    let (revoked, other) = (ha_token("ha-refresh-1"), ha_token("ha-refresh-2"));
    assert_eq!(
        ask(&app, "/api/states", Some(&revoked)).await.status(),
        StatusCode::OK
    );

    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "ha-refresh-1"}))
        .await;

    assert_refused(
        ask(&app, "/api/states", Some(&revoked)).await,
        "token_revoked",
    )
    .await;
    let ok = ask(&app, "/api/states", Some(&other)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert!(ok.headers().get("x-auth-subject").is_none());
    assert_eq!(ok.text().await.unwrap(), "", "a 200 carries no body");
    // Skipped paths pass without a token; no smuggling past the skip list.
    for open in ["/auth/authorize", "/auth/token", "/api/webhook/abc"] {
        assert_eq!(
            ask(&app, open, None).await.status(),
            StatusCode::OK,
            "{open}"
        );
    }
    for guarded in [
        "/auth/../api/states",
        "/auth/%2e%2e/api/states",
        "/api/webhookx",
    ] {
        assert_refused(ask(&app, guarded, None).await, "missing").await;
    }
    assert_refused(ask(&app, "/api/states", None).await, "missing").await;
}

async fn a_registered_home_assistant_login_dies_with_its_provider_session(backend: Backend) {
    let app = spawn_app_with(backend, home_assistant).await;
    assert_eq!(
        register(&app, ISS, "sid-1", "alice", "ha-rt-alice")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        register(&app, ISS, "sid-2", "bob", "ha-rt-bob")
            .await
            .status(),
        StatusCode::OK
    );
    let (alice, bob) = (ha_token("ha-rt-alice"), ha_token("ha-rt-bob"));
    assert_eq!(
        ask(&app, "/api/states", Some(&alice)).await.status(),
        StatusCode::OK
    );

    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "sid-1"}),
    )
    .await;
    assert_refused(
        ask(&app, "/api/states", Some(&alice)).await,
        "session_revoked",
    )
    .await;
    assert_eq!(
        ask(&app, "/api/states", Some(&bob)).await.status(),
        StatusCode::OK
    );

    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "bob"}),
    )
    .await;
    assert_refused(
        ask(&app, "/api/states", Some(&bob)).await,
        "subject_disabled",
    )
    .await;
}

async fn jwt_and_opaque_profiles_find_what_was_revoked(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.forward_auth.routes = vec![RouteSettings {
            prefix: "/opaque".into(),
            profile: ProfileKind::Opaque,
        }];
    })
    .await;
    let now = unix_now();
    let jwt = |sub: &str, sid: &str| {
        sign_hs256(
            &json!({"iss": ISS, "sub": sub, "sid": sid, "jti": format!("{sub}-{sid}"), "iat": now, "exp": now + 600}),
            SECRET,
        )
    };
    let (alice, carol) = (jwt("alice", "s1"), jwt("carol", "s2"));
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s1"}),
    )
    .await;
    assert_refused(ask(&app, "/x", Some(&alice)).await, "session_revoked").await;
    assert_eq!(ask(&app, "/x", Some(&carol)).await.status(), StatusCode::OK);
    app.admin_ok(
        "/v1/admin/subjects/revoke-tokens",
        &json!({"iss": ISS, "sub": "carol"}),
    )
    .await;
    assert_refused(
        ask(&app, "/x", Some(&carol)).await,
        "subject_revoked_before",
    )
    .await;

    let opaque = "an-opaque-api-key-the-app-never-shows-as-a-jwt";
    assert_eq!(
        ask(&app, "/opaque/x", Some(opaque)).await.status(),
        StatusCode::OK
    );
    let digest = revokd::api_keys::sha256_hex(opaque);
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": digest}))
        .await;
    assert_refused(ask(&app, "/opaque/x", Some(opaque)).await, "token_revoked").await;
    // Under the jwt profile, an opaque string is malformed, not let through.
    assert_refused(ask(&app, "/x", Some(opaque)).await, "malformed").await;
}

async fn a_store_that_is_down_fails_closed_or_flagged_open(backend: Backend) {
    let stale_after = std::time::Duration::from_millis(500);
    let closed = spawn_app_with(backend, |s| {
        home_assistant(s);
        s.mirror.max_staleness = stale_after;
    })
    .await;
    let open = spawn_app_with(backend, |s| {
        home_assistant(s);
        s.check.fail_mode = FailMode::Open;
        s.mirror.max_staleness = stale_after;
    })
    .await;
    let token = ha_token("rt");
    if backend == Backend::Redis {
        closed.infra.stop_redis();
        open.infra.stop_redis();
        // Past the staleness bound (plus a feed read), the mirror is unusable.
        tokio::time::sleep(stale_after * 4).await;
        let refused = ask(&closed, "/api/states", Some(&token)).await;
        // The mirror is what is behind (the check path reads it).
        assert_error(
            refused,
            StatusCode::SERVICE_UNAVAILABLE,
            "mirror_unavailable",
            "not current",
        )
        .await;
        let flagged = ask(&open, "/api/states", Some(&token)).await;
        assert_eq!(flagged.status(), StatusCode::OK);
        assert_eq!(flagged.headers()["revokd-degraded"], "store_unavailable");
        // Skipped paths never needed the store.
        assert_eq!(
            ask(&closed, "/auth/token", None).await.status(),
            StatusCode::OK
        );
    }
}

crate::on_both_stores!(
    a_revoked_home_assistant_token_is_refused_and_others_pass,
    a_registered_home_assistant_login_dies_with_its_provider_session,
    jwt_and_opaque_profiles_find_what_was_revoked,
    a_store_that_is_down_fails_closed_or_flagged_open,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_must_present_its_key() {
    let app = spawn_app_with(Backend::Embedded, home_assistant).await;
    let token = ha_token("rt");
    let url = app.url("/v1/forward-auth");
    for key in [None, Some("wrong-key-0123456789abcdef")] {
        let mut request = app
            .client
            .get(&url)
            .bearer_auth(&token)
            .header("x-original-uri", "/api/states");
        if let Some(key) = key {
            request = request.header("x-revokd-key", key);
        }
        assert_error(
            request.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "x-revokd-key",
        )
        .await;
    }
    let admin = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .header("x-original-uri", "/api/states")
        .header("x-revokd-key", ADMIN_KEY);
    assert_eq!(admin.send().await.unwrap().status(), StatusCode::OK);

    let open = spawn_app_with(Backend::Embedded, |s| {
        home_assistant(s);
        s.forward_auth.require_client_key = false;
    })
    .await;
    let keyless = open
        .client
        .get(open.url("/v1/forward-auth"))
        .bearer_auth(&token)
        .header("x-original-uri", "/api/states");
    assert_eq!(keyless.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_and_the_envoy_path_prefix_are_answered() {
    let app = spawn_app_with(Backend::Embedded, home_assistant).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "dead"}))
        .await;
    let dead = ha_token("dead");
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url("/v1/forward-auth/api/states"))
            .header("x-revokd-key", CLIENT_KEY)
            .bearer_auth(&dead)
            .body("ignored body")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method}");
        let skipped = app
            .client
            .request(method.clone(), app.url("/v1/forward-auth/auth/token?x=1"))
            .header("x-revokd-key", CLIENT_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(skipped.status(), StatusCode::OK, "{method}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_signed_urls_and_missing_token_policy() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        home_assistant(s);
        s.forward_auth.cookie = "ha_token".into();
        s.forward_auth.query_param = "authSig".into();
        s.forward_auth.missing_token = MissingToken::Allow;
    })
    .await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "dead"}))
        .await;
    let dead = ha_token("dead");
    let by_cookie = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("x-original-uri", "/api/states")
        .header("cookie", format!("other=1; ha_token={dead}"))
        .send()
        .await
        .unwrap();
    assert_refused(by_cookie, "token_revoked").await;
    let signed = format!("/api/camera_proxy/camera.door?authSig={dead}");
    assert_refused(ask(&app, &signed, None).await, "token_revoked").await;
    let live = format!("/api/camera_proxy/camera.door?authSig={}", ha_token("live"));
    assert_eq!(ask(&app, &live, None).await.status(), StatusCode::OK);
    // No token at all: allowed by policy; a present but broken one is not.
    assert_eq!(
        ask(&app, "/api/states", None).await.status(),
        StatusCode::OK
    );
    assert_refused(ask(&app, "/api/states", Some("a.b")).await, "malformed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_precise_refusals() {
    let app = spawn_app_with(Backend::Embedded, home_assistant).await;
    let bomb = format!(
        "e30.{}.c2ln",
        URL_SAFE_NO_PAD.encode(format!("{{\"iss\":{}}}", "[".repeat(10_000)))
    );
    for token in [
        "not-a-jwt",
        "a.!!!.c",
        "a.b.c.d.e",
        bomb.as_str(),
        &"x".repeat(20_000),
    ] {
        assert_refused(ask(&app, "/api/states", Some(token)).await, "malformed").await;
    }
    let now = unix_now();
    let expired = sign_hs256(
        &json!({"iss": "rt", "iat": now - 4000, "exp": now - 3600}),
        SECRET,
    );
    assert_refused(ask(&app, "/api/states", Some(&expired)).await, "expired").await;
    // A header over the server's limit is refused by the HTTP layer, never
    // let through.
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    // Its own client: the server may close the connection on such a request.
    let response = reqwest::Client::new()
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("authorization", huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // Two original URIs that disagree: a client tried to smuggle one.
    let smuggled = app
        .client
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("x-original-uri", "/api/states")
        .header("x-forwarded-uri", "/auth/token")
        .send()
        .await
        .unwrap();
    assert_error(
        smuggled,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "disagree",
    )
    .await;
    assert_error(
        ask(&app, "/api/%zz", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "original URI",
    )
    .await;

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"revokd_forward_auth_total{outcome="malformed",profile="none"} 5"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"revokd_forward_auth_total{outcome="expired",profile="none"} 1"#));
}

async fn verified_app(idp: &TestIdp) -> TestApp {
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let client_id = idp.client_id().to_owned();
    let app = spawn_app_with(Backend::Embedded, move |s| {
        s.providers = vec![settings];
        s.backchannel.jwks_min_refetch_interval = std::time::Duration::from_secs(1);
        s.forward_auth.jwt.provider = "idp".into();
        s.forward_auth.jwt.audiences = vec![client_id];
        s.forward_auth.headers.subject = "x-auth-subject".into();
        s.forward_auth.headers.session = "x-auth-session".into();
    })
    .await;
    wait_for_provider(&app, "idp").await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_jwts_pass_with_identity_headers_and_forgeries_do_not() {
    let idp = TestIdp::start();
    let app = verified_app(&idp).await;
    let token = || {
        idp.logout_token()
            .without_claim("events")
            .sid("s-9")
            .sub("alice")
    };
    let ok = ask(&app, "/x", Some(&token().sign())).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-auth-subject"], "alice");
    assert_eq!(ok.headers()["x-auth-session"], "s-9");

    let unpublished = idp.add_key_not_published(revokd::oidc::KeyKind::Rsa);
    for forged in [
        token().unsigned().sign(),
        token().corrupt_signature().sign(),
        token().hs256_with_public_key().sign(),
        token().hs256_with_secret(SECRET.to_vec()).sign(),
        token().signing_key(&unpublished).sign(),
        token().iss("https://evil.example").sign(),
        token().aud("another-app").sign(),
        token().header("crit", json!(["exp"])).sign(),
    ] {
        let response = ask(&app, "/x", Some(&forged)).await;
        assert!(response.headers().get("x-auth-subject").is_none());
        assert_refused(response, "unverified").await;
    }
    // A key the provider publishes later is fetched on first sight.
    idp.publish_key(&unpublished);
    let rotated = token().signing_key(&unpublished).sign();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = ask(&app, "/x", Some(&rotated)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.headers().get("www-authenticate")
    );
    // Verified, but revoked: still refused.
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": idp.issuer(), "sid": "s-9"}),
    )
    .await;
    assert_refused(
        ask(&app, "/x", Some(&token().sign())).await,
        "session_revoked",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmac_secret_verifies_hs256_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, SECRET).unwrap();
    let app = spawn_app_with(Backend::Embedded, move |s| {
        s.forward_auth.jwt.hmac_secret_file = Some(path);
        s.forward_auth.jwt.issuer = ISS.into();
        s.forward_auth.headers.subject = "x-auth-subject".into();
    })
    .await;
    let claims = json!({"iss": ISS, "sub": "alice", "jti": "j1", "exp": unix_now() + 60});
    let ok = ask(&app, "/x", Some(&sign_hs256(&claims, SECRET))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-auth-subject"], "alice");
    let forged = sign_hs256(&claims, b"not-the-secret-0123456789abcdef-xyz");
    assert_refused(ask(&app, "/x", Some(&forged)).await, "unverified").await;
    let other_issuer = sign_hs256(&json!({"iss": "https://evil", "sub": "a"}), SECRET);
    assert_refused(ask(&app, "/x", Some(&other_issuer)).await, "unverified").await;
}

async fn introspect(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url("/v1/introspect"))
        .bearer_auth(CLIENT_KEY)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_follows_rfc_7662() {
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let now = unix_now();
    let claims = json!({
        "iss": ISS, "sub": "alice", "sid": "s1", "jti": "j1", "aud": "app",
        "scope": "openid", "client_id": "app", "iat": now, "exp": now + 600, "extra": 1
    });
    let token = sign_hs256(&claims, SECRET);
    let active = introspect(
        &app,
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(active.status(), StatusCode::OK);
    assert_eq!(active.headers()["cache-control"], "no-store");
    let mut expected = claims.clone();
    expected.as_object_mut().unwrap().remove("extra");
    expected["active"] = json!(true);
    assert_eq!(active.json::<Value>().await.unwrap(), expected);

    let ha = introspect(
        &app,
        &[("token", &ha_token("rt")), ("profile", "home-assistant")],
    )
    .await;
    let ha: Value = ha.json().await.unwrap();
    assert_eq!(
        (ha["active"].clone(), ha["iss"].clone()),
        (json!(true), json!("rt"))
    );

    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "j1"}))
        .await;
    let expired = sign_hs256(&json!({"jti": "j2", "exp": now - 3600}), SECRET);
    for inactive in [token.as_str(), "garbage", expired.as_str()] {
        let response = introspect(&app, &[("token", inactive)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"active": false}),
            "{inactive}"
        );
    }

    assert_error(
        introspect(&app, &[("token", "")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "token",
    )
    .await;
    assert_error(
        introspect(&app, &[("nothing", "x")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "token",
    )
    .await;
    assert_error(
        introspect(&app, &[("token", "x"), ("profile", "magic")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "profile",
    )
    .await;
    let json_body = app
        .client
        .post(app.url("/v1/introspect"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(
        json_body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "form",
    )
    .await;
    let no_key = app
        .client
        .post(app.url("/v1/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_error(no_key, StatusCode::UNAUTHORIZED, "unauthorized", "key").await;
    let big = "x".repeat(70_000);
    assert_error(
        introspect(&app, &[("token", &big)]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "larger",
    )
    .await;
}

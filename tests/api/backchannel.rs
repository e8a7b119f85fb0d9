//! Back-channel logout end to end, against a real, certified OpenID
//! Provider (panva's oidc-provider, started per test): the provider's own
//! logout token reaches revokd and revokes exactly that session.

use std::time::Duration;

use reqwest::StatusCode;
use revokd::providers::ProviderSettings;
use serde_json::{Value, json};

use crate::common::certified_idp::{ClientConfig, TestOidcProvider};
use crate::helpers::{Backend, TestApp, spawn_app_with};

/// A free loopback port: the provider must know revokd's URL before revokd
/// knows the provider's issuer.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn provider(name: &str, issuer: &str, client_id: &str) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        issuer: issuer.into(),
        client_ids: vec![client_id.into()],
        jwks_uri: None,
        algorithms: None,
        decryption_key_file: None,
        decryption_alg: None,
        require_encryption: false,
        allow_insecure_http: false,
    }
}

/// Waits until `/readyz` reports the provider's keys as loaded.
pub async fn wait_for_provider(app: &TestApp, name: &str) {
    let check = format!("provider:{name}");
    for _ in 0..100 {
        let ready = app.readiness().await;
        if ready["checks"][&check]["status"] == "up" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("provider {name} never loaded its keys");
}

/// Polls a check until it reports `reason`, for at most five seconds.
async fn eventually_inactive(app: &TestApp, query: &[(&str, &str)], reason: &str) {
    let mut last = Value::Null;
    for _ in 0..50 {
        last = app.verdict(query).await;
        if last["reason"] == reason {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query:?} never became {reason}: last answer {last}");
}

/// The real test provider, with a client whose back-channel logout URI is
/// revokd on the returned port (free until revokd listens there).
pub async fn provider_posting_to_a_free_port() -> (u16, TestOidcProvider) {
    let port = free_port();
    let idp = tokio::task::spawn_blocking(move || {
        TestOidcProvider::start(ClientConfig::confidential(format!(
            "http://127.0.0.1:{port}/backchannel-logout"
        )))
    })
    .await
    .unwrap();
    (port, idp)
}

async fn start(backend: Backend) -> (TestApp, TestOidcProvider) {
    let (port, idp) = provider_posting_to_a_free_port().await;
    let issuer = idp.issuer().to_owned();
    let client_id = idp.client().client_id.clone();
    let app = spawn_app_with(backend, move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.providers = vec![provider("test-idp", &issuer, &client_id)];
    })
    .await;
    wait_for_provider(&app, "test-idp").await;
    (app, idp)
}

async fn a_logout_at_the_provider_revokes_that_session_and_no_other(backend: Backend) {
    // Arrange: two people signed in through the provider.
    let (app, idp) = start(backend).await;
    let alice = idp.login("alice").await;
    let bob = idp.login("bob").await;
    let (alice_sid, bob_sid) = (alice.sid.clone().unwrap(), bob.sid.clone().unwrap());
    let iss = idp.issuer().to_owned();
    // The app registers each login with the token id it issued for it.
    for (sid, sub, token) in [
        (&alice_sid, "alice", "alice-app-refresh"),
        (&bob_sid, "bob", "bob-app-refresh"),
    ] {
        assert_eq!(
            register(&app, &iss, sid, sub, token).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.verdict(&[("jti", "alice-app-refresh")]).await,
        json!({"active": true})
    );

    // Act: alice logs out at the provider, which sends its own logout token.
    idp.logout(&alice).await;

    // Assert: what revokd received and revoked, not the provider's status.
    eventually_inactive(&app, &[("jti", "alice-app-refresh")], "session_revoked").await;
    assert_eq!(
        app.verdict(&[("iss", &iss), ("sid", &alice_sid)]).await["reason"],
        "session_revoked"
    );
    assert_eq!(
        app.verdict(&[("jti", "bob-app-refresh")]).await,
        json!({"active": true})
    );
    assert_eq!(
        app.verdict(&[("iss", &iss), ("sid", &bob_sid)]).await,
        json!({"active": true})
    );
    let recent = app.logout_tokens().await;
    let records = recent.as_array().unwrap();
    assert_eq!(records.len(), 1, "{recent}");
    assert_eq!(records[0]["outcome"], "revoked");
    assert_eq!(records[0]["provider"], "test-idp");
    assert_eq!(records[0]["sid"], alice_sid.as_str());
    assert_eq!(records[0]["sub"], "alice");
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"][0]["kind"], "session_revoked");
    assert_eq!(events["events"][0]["actor"], "backchannel:test-idp");
}

/// `POST /v1/sessions` as an app does after a login.
pub async fn register(
    app: &TestApp,
    iss: &str,
    sid: &str,
    sub: &str,
    token_id: &str,
) -> reqwest::Response {
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let body = json!({"iss": iss, "sid": sid, "sub": sub, "token_ids": [token_id], "expires_at": expires_at});
    app.client
        .post(app.url("/v1/sessions"))
        .bearer_auth(crate::helpers::CLIENT_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

crate::on_both_stores!(a_logout_at_the_provider_revokes_that_session_and_no_other);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_at_start_up_does_not_stop_revokd() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.providers = vec![provider("gone", "http://127.0.0.1:9/", "app")];
    })
    .await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "checks do not depend on providers"
    );
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["provider:gone"]["status"], "down");

    // A token whose claims could never be accepted is refused at once,
    // keys or not (only `iss` here)...
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjkvIn0.c2ln";
    let response = app
        .client
        .post(app.url("/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // ...while a well-formed one waits for the keys: 503, and kept.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": "http://127.0.0.1:9/", "aud": "app", "iat": now, "exp": now + 120,
        "jti": "j-1", "sid": "s-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let token = format!("{}.{}.c2ln", b64(&json!({"alg": "RS256"})), b64(&claims));
    let response = app
        .client
        .post(app.url("/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the provider may retry"
    );
    assert_eq!(response.headers()["retry-after"], "1");
}

/// A logout token with only `sub` marks every token of the subject issued
/// up to now as dead. A session the app registered before it, checked by
/// `(iss, sid)` alone, belongs to that subject: the check finds it through
/// the registration, from the mirror and from the store alike.
async fn a_sub_only_logout_reaches_a_registered_session_checked_by_sid(
    backend: Backend,
    source: revokd::config::CheckSource,
) {
    // Arrange: erin's login registered, then a sub-only logout for her.
    let idp = crate::common::forging_idp::TestIdp::start();
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let app = spawn_app_with(backend, move |s| {
        s.providers = vec![settings];
        s.check.source = source;
    })
    .await;
    wait_for_provider(&app, "idp").await;
    let iss = idp.issuer().to_owned();
    assert_eq!(
        register(&app, &iss, "erin-sid", "erin", "erin-token")
            .await
            .status(),
        StatusCode::OK
    );
    register(&app, &iss, "frank-sid", "frank", "frank-token").await;
    let by_sid = [("iss", iss.as_str()), ("sid", "erin-sid")];
    assert_eq!(app.verdict(&by_sid).await, json!({"active": true}));

    // Act
    let response = app
        .client
        .post(app.url("/backchannel-logout"))
        .form(&[("logout_token", idp.logout_token().sub("erin").sign())])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    eventually_inactive(&app, &by_sid, "subject_revoked_before").await;
    assert_eq!(
        app.verdict(&by_sid).await,
        json!({"active": false, "reason": "subject_revoked_before"})
    );
    assert_eq!(
        app.verdict(&[("iss", iss.as_str()), ("sid", "frank-sid")])
            .await,
        json!({"active": true}),
        "another subject's session"
    );
    // A disabled subject reaches the session the same way.
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": iss, "sub": "frank"}),
    )
    .await;
    eventually_inactive(
        &app,
        &[("iss", iss.as_str()), ("sid", "frank-sid")],
        "subject_disabled",
    )
    .await;
}

mod sid_checks {
    use super::*;

    async fn from_the_mirror(backend: Backend) {
        a_sub_only_logout_reaches_a_registered_session_checked_by_sid(
            backend,
            revokd::config::CheckSource::Mirror,
        )
        .await;
    }

    async fn from_the_store(backend: Backend) {
        a_sub_only_logout_reaches_a_registered_session_checked_by_sid(
            backend,
            revokd::config::CheckSource::Store,
        )
        .await;
    }

    crate::on_both_stores!(from_the_mirror, from_the_store);
}

//! Real nginx and real Caddy in front of a stand-in Home Assistant, with
//! revokd as their auth service, each running the committed `deploy/`
//! configuration (addresses and key replaced): what a user copies is what
//! is tested.

use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use reqwest::StatusCode;
use revokd::gateway::ForwardAuthSettings;
use serde_json::{Value, json};

use crate::backchannel::{provider, register, wait_for_provider};
use crate::common::forging_idp::TestIdp;
use crate::common::gateway::{
    Placeholders, Proxy, ProxyKind, Upstream, raw_get, websocket_roundtrip,
};
use crate::gateway::ha_token;
use crate::helpers::{Backend, CLIENT_KEY, TestApp, spawn_app_with};

/// `[forward_auth]` of `deploy/revokd-home-assistant.toml`, over the defaults.
fn deployed_forward_auth() -> ForwardAuthSettings {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/revokd-home-assistant.toml");
    Figment::from(Toml::string(revokd::config::DEFAULT_TOML))
        .merge(Toml::file_exact(path))
        .extract_inner("forward_auth")
        .expect("the deployed [forward_auth] is valid")
}

struct Stack {
    app: TestApp,
    idp: TestIdp,
    upstream: Upstream,
    proxy: Proxy,
    client: reqwest::Client,
}

async fn stack(kind: ProxyKind, backend: Backend) -> Stack {
    let idp = TestIdp::start();
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let app = spawn_app_with(backend, move |s| {
        s.forward_auth = deployed_forward_auth();
        s.providers = vec![settings];
    })
    .await;
    wait_for_provider(&app, "idp").await;
    let upstream = Upstream::start();
    let revokd = app.address.trim_start_matches("http://").to_owned();
    let vars = Placeholders::new(&revokd, &upstream.addr(), CLIENT_KEY);
    let proxy = tokio::task::spawn_blocking(move || Proxy::home_assistant(kind, &vars))
        .await
        .unwrap();
    Stack {
        app,
        idp,
        upstream,
        proxy,
        client: reqwest::Client::new(),
    }
}

impl Stack {
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.proxy.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Asserts the request reached the upstream, exactly once.
    async fn assert_passes(&self, path: &str, token: Option<&str>) -> Value {
        let before = self.upstream.hits();
        let response = self.get(path, token).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {body}\n{}",
            self.proxy.log()
        );
        assert_eq!(
            self.upstream.hits(),
            before + 1,
            "{path} reached upstream once"
        );
        serde_json::from_str(&body).unwrap()
    }

    /// Asserts the proxy refused with 401 and revokd's challenge, without
    /// touching the upstream.
    async fn assert_refused(&self, path: &str, token: &str, reason: &str) {
        let before = self.upstream.hits();
        let response = self.get(path, Some(token)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{path}\n{}",
            self.proxy.log()
        );
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
        assert_eq!(response.headers()["revokd-reason"], reason);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(
            self.upstream.hits(),
            before,
            "{path} must not reach upstream"
        );
    }
}

async fn revocations_are_enforced_at_the_proxy(kind: ProxyKind) {
    let s = stack(kind, Backend::Embedded).await;
    let (token, other) = (ha_token("rt-1"), ha_token("rt-2"));
    let seen = s.assert_passes("/api/states", Some(&token)).await;
    assert_eq!(seen["uri"], "/api/states");
    assert_eq!(
        seen["headers"]["x-revokd-key"],
        Value::Null,
        "the proxy's key stays with the proxy"
    );

    s.app
        .admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "rt-1"}))
        .await;

    s.assert_refused("/api/states", &token, "token_revoked")
        .await;
    s.assert_refused("/api/services/light/turn_on", &token, "token_revoked")
        .await;
    s.assert_passes("/api/states", Some(&other)).await;
    // Paths that carry no bearer token pass without one.
    for open in [
        "/auth/authorize?client_id=x",
        "/auth/token",
        "/frontend_latest/app.js",
        "/manifest.json",
        "/api/webhook/some-webhook-id",
        "/api/websocket",
    ] {
        s.assert_passes(open, None).await;
    }
}

async fn a_logout_at_the_provider_is_enforced_at_the_proxy(kind: ProxyKind) {
    let s = stack(kind, Backend::Redis).await;
    let iss = s.idp.issuer().to_owned();
    for (sid, sub, refresh) in [
        ("sid-a", "alice", "ha-rt-alice"),
        ("sid-b", "bob", "ha-rt-bob"),
    ] {
        let registered = register(&s.app, &iss, sid, sub, refresh).await;
        assert_eq!(registered.status(), StatusCode::OK);
    }
    let (alice, bob) = (ha_token("ha-rt-alice"), ha_token("ha-rt-bob"));
    s.assert_passes("/api/states", Some(&alice)).await;

    // The provider sends a signed logout token for alice's session.
    let logout = s.idp.logout_token().sid("sid-a").sub("alice").sign();
    let response = s
        .app
        .client
        .post(s.app.url("/backchannel-logout"))
        .form(&[("logout_token", logout)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    s.assert_refused("/api/states", &alice, "session_revoked")
        .await;
    s.assert_passes("/api/states", Some(&bob)).await;
}

async fn revokd_down_means_the_proxy_refuses(kind: ProxyKind) {
    let s = stack(kind, Backend::Embedded).await;
    let token = ha_token("rt");
    s.assert_passes("/api/states", Some(&token)).await;
    let Stack {
        app,
        upstream,
        proxy,
        client,
        ..
    } = s;
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let before = upstream.hits();
    let response = client
        .get(proxy.url("/api/states"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_server_error(),
        "fail closed: {}",
        response.status()
    );
    assert_eq!(upstream.hits(), before, "nothing reached upstream");
    // What needs no revokd still works.
    let open = client.get(proxy.url("/auth/token")).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
}

/// The shipped files hold `/auth/token` and `/api/websocket` back until the
/// Home Assistant integration says it is set up (`/api/revokd/ready`), and
/// nothing else.
async fn logins_and_websockets_wait_for_the_home_assistant_integration(kind: ProxyKind) {
    // Arrange: Home Assistant is up, the integration not set up yet.
    let s = stack(kind, Backend::Embedded).await;
    s.upstream.set_ha_ready(false);
    let before = s.upstream.hits();

    // Act
    let login = s
        .client
        .post(s.proxy.url("/auth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    let addr = s.proxy.addr();
    let socket = tokio::task::spawn_blocking(move || {
        raw_get(
            addr,
            "/api/websocket",
            &[
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
        )
    })
    .await
    .unwrap();

    // Assert: refused as "still starting", and neither reached Home
    // Assistant; the readiness view was asked each time.
    let (status, retry_after) = (login.status(), login.headers().get("retry-after").cloned());
    match kind {
        ProxyKind::Nginx => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", s.proxy.log());
            assert_eq!(retry_after.unwrap(), "5");
            assert_eq!(socket.status, 503, "{}", socket.head);
        }
        // Caddy passes Home Assistant's own answer on.
        ProxyKind::Caddy => {
            assert_eq!(status, StatusCode::NOT_FOUND, "{}", s.proxy.log());
            assert_eq!(socket.status, 404, "{}", socket.head);
        }
    }
    assert_eq!(s.upstream.hits(), before, "nothing reached Home Assistant");
    assert_eq!(s.upstream.ha_ready_probes(), 2);
    // The frontend and the login flow's first steps do not wait.
    s.assert_passes("/frontend_latest/app.js", None).await;
    s.assert_passes("/auth/login_flow", None).await;

    // Once the integration is set up, both pass (the websocket upgraded).
    s.upstream.set_ha_ready(true);
    let seen = s.assert_passes("/auth/token", None).await;
    assert_eq!(seen["uri"], "/auth/token");
    let addr = s.proxy.addr();
    tokio::task::spawn_blocking(move || {
        websocket_roundtrip(addr, "/api/websocket", &[], b"hello through the gate")
    })
    .await
    .unwrap();
    assert_eq!(s.upstream.ha_ready_probes(), 4);
}

macro_rules! on_both_proxies {
    ($($name:ident),* $(,)?) => {
        mod nginx {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::ProxyKind::Nginx).await;
                }
            )*
        }
        mod caddy {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::ProxyKind::Caddy).await;
                }
            )*
        }
    };
}

on_both_proxies!(
    logins_and_websockets_wait_for_the_home_assistant_integration,
    revocations_are_enforced_at_the_proxy,
    a_logout_at_the_provider_is_enforced_at_the_proxy,
    revokd_down_means_the_proxy_refuses,
);

//! The gateway harness and the committed proxy configurations, proven
//! against real nginx and Caddy processes and the real revokd binary.
//!
//! `/v1/forward-auth` is not needed here: the proxies are aimed (through
//! [`Placeholders::auth_path`]) at routes revokd already has, whose answers
//! are known whatever the request carries:
//!
//! - [`ALWAYS_ALLOWS`], `/healthz`: `200` to everyone;
//! - [`ALWAYS_REFUSES`], `/v1/check`: `401` unless `Authorization` holds a
//!   client key, which no test request does (the proxy's key travels in
//!   `X-Revokd-Key`, which `/v1/check` does not read);
//! - `/readyz` on Redis with `check.source = "store"`: `200`, then `503`
//!   once Redis is stopped (with the mirror, readiness would outlast a
//!   Redis outage for `mirror.max_staleness`).
//!
//! So these tests prove the wiring (what is guarded, what stays open,
//! what a refusal and an outage become at the proxy) whatever the endpoint
//! decides. Two scenarios run the real `/v1/forward-auth`:
//! [`the_real_endpoint_names_verified_subjects_and_refuses_revoked_tokens`],
//! and [`installed_as_documented_only_revokd_names_the_user`], which installs
//! the files with deploy/README.md's own `sed` commands first;
//! `tests/api/proxies.rs` has the Home Assistant ones.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::gateway::{
    FORWARD_AUTH_PATH, Nginx, Placeholders, Proxy, ProxyKind, Revokd, Seen, Upstream, deploy_file,
    placeholders_in, raw_get, render, websocket_roundtrip,
};
use crate::common::redis_server::RedisServer;

const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
const GATEWAY_KEY: &str = "gateway-key-0123456789abcdef";
/// A user's token as the client sends it; never a key revokd knows.
const USER_TOKEN: &str = "user-token-not-a-key";

/// A revokd route that answers `200` to any request.
const ALWAYS_ALLOWS: &str = "/healthz";
/// A revokd route that answers `401` to every request the tests send.
const ALWAYS_REFUSES: &str = "/v1/check";

/// Paths of the Home Assistant examples that go straight to Home
/// Assistant: the frontend and its files, the login flow, webhooks, the
/// WebSocket API and add-on ingress.
const OPEN: &[&str] = &[
    "/",
    "/lovelace/0",
    "/auth/authorize?response_type=code&client_id=x",
    "/auth/token",
    "/auth/login_flow",
    "/frontend_latest/app.js",
    "/static/icons/favicon.ico",
    "/manifest.json",
    "/sw-modern.js",
    "/local/floorplan.png",
    "/api/webhook/abc123",
    "/api/websocket",
    "/api/hassio_ingress/Xy12/index.html",
];

/// Paths of the Home Assistant examples that revokd must be asked about,
/// including near misses of the open prefixes.
const GUARDED: &[&str] = &[
    "/api/",
    "/api/states",
    "/api/states?filter=light",
    "/api/services/light/turn_on",
    "/api/hassio/addons",
    "/api/camera_proxy/camera.door?token=x",
    "/api/webhooks",
    "/api/websocket/extra",
    "/api/hassio_ingressx/a",
];

/// Request targets that try to reach a guarded path through an open
/// prefix, or to hide the guarded prefix, with dot segments, doubled
/// slashes and percent-encoding.
const TRICKS: &[&str] = &[
    "/api/webhook/../states",
    "/api/webhook/%2e%2e/states",
    "/api/webhook/%2E%2E/states",
    "/api/webhook/..%2fstates",
    "/api/webhook%2f..%2fstates",
    "/api/webhook/x/../../states",
    "/api/hassio_ingress/../states",
    "/api/websocket/../states",
    "/api/websocket%2f..%2fstates",
    "/auth/../api/states",
    "/auth/%2e%2e/api/states",
    "/static/..%2fapi/states",
    "//api/states",
    "/api//states",
    "/./api/states",
    "/api/./states",
    "/%61pi/states",
];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

fn keys_env() -> String {
    format!(
        r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, {{name="gateway", role="client", key="{GATEWAY_KEY}"}}]"#
    )
}

/// revokd on its embedded store, the app, and a proxy between them that
/// asks revokd at `auth_path`.
struct Gateway {
    proxy: Proxy,
    app: Upstream,
    revokd: Revokd,
}

impl Gateway {
    fn start(kind: ProxyKind, auth_path: &str) -> Self {
        let revokd = Revokd::start(&[("REVOKD_KEYS", &keys_env())]);
        Self::start_with(kind, revokd, auth_path)
    }

    fn start_with(kind: ProxyKind, revokd: Revokd, auth_path: &str) -> Self {
        let app = Upstream::start();
        let vars = Placeholders::new(&revokd.addr(), &app.addr(), GATEWAY_KEY).auth_path(auth_path);
        let proxy = Proxy::home_assistant(kind, &vars);
        Self { proxy, app, revokd }
    }

    /// `GET path` through the proxy with the user's bearer token.
    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(self.proxy.url(path))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }
}

/// What each proxy answers when revokd cannot be reached.
fn status_when_revokd_is_down(kind: ProxyKind) -> StatusCode {
    match kind {
        // auth_request turns any subrequest failure into 500.
        ProxyKind::Nginx => StatusCode::INTERNAL_SERVER_ERROR,
        // forward_auth is a reverse_proxy: a failed dial is a 502.
        ProxyKind::Caddy => StatusCode::BAD_GATEWAY,
    }
}

/// What each proxy answers when revokd answers `503`.
fn status_when_revokd_answers_503(kind: ProxyKind) -> StatusCode {
    match kind {
        // auth_request passes 401 and 403 on; anything else is a 500.
        ProxyKind::Nginx => StatusCode::INTERNAL_SERVER_ERROR,
        // forward_auth hands any non-2xx answer to the client as it is.
        ProxyKind::Caddy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn allowed_requests_reach_the_app_as_sent(kind: ProxyKind) {
    let gateway = Gateway::start(kind, ALWAYS_ALLOWS);

    let response = gateway.get("/api/states?filter=light").await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Seen = response.json().await.expect("the app's JSON");
    assert_eq!(seen.uri, "/api/states?filter=light");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer user-token-not-a-key")
    );

    // A body larger than the proxies keep in memory reaches the app whole.
    let body = vec![b'x'; 100_000];
    let response = client()
        .post(gateway.proxy.url("/api/services/light/turn_on"))
        .bearer_auth(USER_TOKEN)
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Seen = response.json().await.expect("the app's JSON");
    assert_eq!((seen.method.as_str(), seen.body_len), ("POST", body.len()));
    assert_eq!(gateway.app.hits(), 2);
}

async fn refused_requests_stop_at_the_proxy(kind: ProxyKind) {
    let gateway = Gateway::start(kind, ALWAYS_REFUSES);

    let response = gateway.get("/api/states").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // revokd's challenge reaches the client (nginx copies it for a 401;
    // Caddy passes revokd's whole answer).
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("revokd"),
        "WWW-Authenticate: {challenge:?}"
    );
    assert_eq!(
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .count(),
        1
    );
    assert_eq!(gateway.app.hits(), 0, "a refused request reached the app");
}

async fn a_dead_revokd_closes_the_guarded_paths(kind: ProxyKind) {
    let mut gateway = Gateway::start(kind, ALWAYS_ALLOWS);
    assert_eq!(gateway.get("/api/states").await.status(), StatusCode::OK);

    // Also closes the keep-alive connections the proxy holds to revokd.
    gateway.revokd.kill();

    let response = gateway.get("/api/states").await;
    assert_eq!(response.status(), status_when_revokd_is_down(kind));
    assert_eq!(gateway.app.hits(), 1, "the app was reached without revokd");
    // What is open does not depend on revokd.
    let response = gateway.get("/frontend_latest/app.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(gateway.app.hits(), 2);
}

async fn a_revokd_answering_503_closes_the_guarded_paths(kind: ProxyKind) {
    let mut redis = RedisServer::start();
    let revokd = Revokd::start(&[
        ("REVOKD_KEYS", &keys_env()),
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", &redis.url()),
        ("REVOKD_REDIS__CONNECT_TIMEOUT", "300ms"),
        ("REVOKD_REDIS__COMMAND_TIMEOUT", "300ms"),
        // Checks read the store: `/readyz` answers 503 as soon as it is down.
        ("REVOKD_CHECK__SOURCE", "store"),
    ]);
    let gateway = Gateway::start_with(kind, revokd, "/readyz");
    assert_eq!(gateway.get("/api/states").await.status(), StatusCode::OK);

    redis.stop();

    let response = gateway.get("/api/states").await;
    assert_eq!(response.status(), status_when_revokd_answers_503(kind));
    if kind == ProxyKind::Caddy {
        let body: Value = response.json().await.expect("revokd's JSON, passed on");
        assert_eq!(body["status"], "not_ready", "{body}");
    }
    assert_eq!(
        gateway.app.hits(),
        1,
        "the app was reached while revokd said 503"
    );
}

async fn open_paths_never_ask_revokd(kind: ProxyKind) {
    // Every question to revokd is refused: a 200 proves none was asked.
    let gateway = Gateway::start(kind, ALWAYS_REFUSES);
    for path in OPEN {
        let response = gateway.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "open path {path}");
        let seen: Seen = response.json().await.expect("the app's JSON");
        assert_eq!(seen.uri, *path);
    }
    // The token endpoint takes a form POST.
    let response = client()
        .post(gateway.proxy.url("/auth/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "r")])
        .send()
        .await
        .expect("POST /auth/token");
    assert_eq!(response.status(), StatusCode::OK);
    for path in GUARDED {
        let response = gateway.get(path).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "guarded path {path}"
        );
    }
    assert_eq!(gateway.app.hits(), OPEN.len() + 1);
}

async fn what_the_proxy_sends_to_revokd(kind: ProxyKind) {
    // A recording stand-in for revokd, with the files exactly as committed.
    let auth = Upstream::start();
    let app = Upstream::start();
    let vars = Placeholders::new(&auth.addr(), &app.addr(), GATEWAY_KEY);
    let proxy = Proxy::home_assistant(kind, &vars);
    let original = "/api/services/light/turn_on?entity_id=light.kitchen";

    let response = client()
        .post(proxy.url(original))
        .bearer_auth(USER_TOKEN)
        .header("cookie", "session=c00k1e")
        // What a client might add to mislead revokd or steal its place.
        .header("x-revokd-key", "forged-by-the-client")
        .header("x-original-uri", "/auth/forged")
        .header("x-forwarded-uri", "/auth/forged")
        .header("x-client-extra", "not for revokd")
        .body(vec![b'{'; 2048])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);

    let asked = auth.requests();
    assert_eq!(asked.len(), 1, "one question per request: {asked:?}");
    let asked = &asked[0];
    assert_eq!(asked.uri, FORWARD_AUTH_PATH);
    assert_eq!(asked.method, "GET");
    assert_eq!(asked.body_len, 0, "the body went to revokd");
    assert!(
        matches!(asked.header("content-length"), None | Some("0")),
        "{asked:?}"
    );
    assert_eq!(
        asked.header("authorization"),
        Some("Bearer user-token-not-a-key")
    );
    assert_eq!(asked.header("cookie"), Some("session=c00k1e"));
    assert_eq!(asked.header("x-revokd-key"), Some(GATEWAY_KEY));
    let uris: Vec<Option<&str>> = ["x-original-uri", "x-forwarded-uri"]
        .iter()
        .map(|name| asked.header(name))
        .collect();
    assert!(
        uris.iter().all(|uri| uri.is_none_or(|u| u == original)) && uris.contains(&Some(original)),
        "revokd must learn the original URI, and only that: {uris:?}"
    );

    if kind == ProxyKind::Nginx {
        // The smallest sub-request: of the client's headers, only the
        // token's (deploy/nginx/revokd-auth.conf).
        assert_eq!(asked.header("x-client-extra"), None, "{asked:?}");
    }

    let reached = app.requests();
    assert_eq!(reached.len(), 1);
    assert_eq!(
        (reached[0].method.as_str(), reached[0].body_len),
        ("POST", 2048)
    );
    assert_eq!(reached[0].header("x-client-extra"), Some("not for revokd"));
    assert_ne!(
        reached[0].header("x-revokd-key"),
        Some(GATEWAY_KEY),
        "the proxy's key leaked to the app"
    );
}

async fn only_revokd_names_the_subject(kind: ProxyKind) {
    // Stand-ins for revokd: one names the subject, one stays silent.
    let naming = Upstream::start_answering_with(&[("x-auth-subject", "alice")]);
    let silent = Upstream::start();
    let app = Upstream::start();
    let proxy_naming = Proxy::home_assistant(
        kind,
        &Placeholders::new(&naming.addr(), &app.addr(), GATEWAY_KEY),
    );
    let proxy_silent = Proxy::home_assistant(
        kind,
        &Placeholders::new(&silent.addr(), &app.addr(), GATEWAY_KEY),
    );
    let subject_seen = |proxy: &Proxy, path: &str| {
        let url = proxy.url(path);
        async move {
            let response = client()
                .get(url)
                .bearer_auth(USER_TOKEN)
                .header("x-auth-subject", "mallory")
                .send()
                .await
                .expect("GET");
            assert_eq!(response.status(), StatusCode::OK);
            let seen: Seen = response.json().await.expect("the app's JSON");
            seen.header("x-auth-subject").map(str::to_owned)
        }
    };

    assert_eq!(
        subject_seen(&proxy_naming, "/api/states").await.as_deref(),
        Some("alice")
    );
    assert_eq!(subject_seen(&proxy_silent, "/api/states").await, None);
    assert_eq!(subject_seen(&proxy_naming, "/api/webhook/x").await, None);
    assert_eq!(subject_seen(&proxy_naming, "/").await, None);
}

async fn websockets_pass_through(kind: ProxyKind) {
    // The WebSocket API is open: with every question refused, the
    // handshake can only succeed if revokd is not asked.
    let gateway = Gateway::start(kind, ALWAYS_REFUSES);
    let payload = b"{\"type\": \"auth\", \"access_token\": \"...\"}";
    websocket_roundtrip(gateway.proxy.addr(), "/api/websocket", &[], payload);
    let reached = gateway.app.requests();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].uri, "/api/websocket");
    assert_eq!(reached[0].header("upgrade"), Some("websocket"));
}

async fn dot_segments_cannot_smuggle_a_guarded_path(kind: ProxyKind) {
    let gateway = Gateway::start(kind, ALWAYS_REFUSES);
    let mut smuggled = Vec::new();
    for target in TRICKS {
        let response = raw_get(
            gateway.proxy.addr(),
            target,
            &[("Authorization", "Bearer user-token-not-a-key")],
        );
        match response.status {
            // Asked revokd (refused), or refused by the proxy itself.
            400 | 401 | 404 => {}
            200 => {
                let seen: Seen = serde_json::from_slice(&response.body)
                    .unwrap_or_else(|err| panic!("{target}: not the app's JSON ({err})"));
                let resolved = resolve(&seen.uri);
                if !is_open(&resolved) {
                    smuggled.push(format!("{target} -> app got {} = {resolved}", seen.uri));
                }
            }
            other => panic!("{target}: unexpected {other}\n{}", response.head),
        }
    }
    assert!(
        smuggled.is_empty(),
        "guarded paths reached the app without revokd:\n{}",
        smuggled.join("\n")
    );
}

/// The path an app that decodes and normalises the target would serve:
/// percent-decoded, doubled slashes merged, dot segments removed.
fn resolve(uri: &str) -> String {
    let path = uri.split('?').next().unwrap_or("");
    let decoded = percent_decode(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing = if decoded.ends_with('/') && !segments.is_empty() {
        "/"
    } else {
        ""
    };
    format!("/{}{trailing}", segments.join("/"))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the Home Assistant examples leave `path` open.
fn is_open(path: &str) -> bool {
    !path.starts_with("/api/")
        || path.starts_with("/api/webhook/")
        || path == "/api/websocket"
        || path.starts_with("/api/hassio_ingress/")
}

async fn the_real_endpoint_names_verified_subjects_and_refuses_revoked_tokens(kind: ProxyKind) {
    const SECRET: &[u8] = b"gateway-harness-hs256-secret-0123456789";
    let secrets = tempfile::TempDir::new().expect("temp dir");
    let secret_file = secrets.path().join("hs256.key");
    std::fs::write(&secret_file, SECRET).expect("write the secret");
    let revokd = Revokd::start(&[
        ("REVOKD_KEYS", &keys_env()),
        ("REVOKD_FORWARD_AUTH__PROFILE", "jwt"),
        (
            "REVOKD_FORWARD_AUTH__JWT__HMAC_SECRET_FILE",
            secret_file.to_str().expect("UTF-8 path"),
        ),
        ("REVOKD_FORWARD_AUTH__HEADERS__SUBJECT", "x-auth-subject"),
    ]);
    let admin = revokd.url("/v1/admin/tokens/revoke");
    let gateway = Gateway::start_with(kind, revokd, FORWARD_AUTH_PATH);
    let alice = app_token("alice", "alice-token-1", SECRET);
    let forged = app_token(
        "alice",
        "alice-token-2",
        b"not-the-app-secret-0123456789abcdef",
    );

    let response = client()
        .get(gateway.proxy.url("/api/states"))
        .bearer_auth(&alice)
        .header("x-auth-subject", "mallory")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Seen = response.json().await.expect("the app's JSON");
    assert_eq!(seen.header("x-auth-subject"), Some("alice"));

    let revoked = client()
        .post(admin)
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"jti": "alice-token-1"}))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);

    for (token, reason) in [(&alice, "token_revoked"), (&forged, "unverified")] {
        let response = client()
            .get(gateway.proxy.url("/api/states"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{reason}");
        assert_eq!(response.headers()["revokd-reason"], reason);
        let challenges: Vec<_> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .collect();
        assert_eq!(challenges.len(), 1, "{challenges:?}");
        assert!(
            challenges[0]
                .to_str()
                .unwrap_or_default()
                .starts_with("Bearer error=\"invalid_token\""),
            "{challenges:?}"
        );
    }
    assert_eq!(gateway.app.hits(), 1, "a refused token reached the app");
}

/// An HS256 JWT of the app's, as revokd's `jwt` profile reads it.
fn app_token(sub: &str, jti: &str, secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://app.example", "sub": sub, "jti": jti, "iat": now, "exp": now + 600,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "HS256"});
    revokd::oidc::testkit::hs256_jws(&header, &claims, secret)
}

/// Instantiates each scenario for nginx and for Caddy.
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
    allowed_requests_reach_the_app_as_sent,
    refused_requests_stop_at_the_proxy,
    a_dead_revokd_closes_the_guarded_paths,
    a_revokd_answering_503_closes_the_guarded_paths,
    open_paths_never_ask_revokd,
    what_the_proxy_sends_to_revokd,
    only_revokd_names_the_subject,
    websockets_pass_through,
    dot_segments_cannot_smuggle_a_guarded_path,
    the_real_endpoint_names_verified_subjects_and_refuses_revoked_tokens,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_never_serves_its_auth_location_to_clients() {
    let auth = Upstream::start();
    let app = Upstream::start();
    let proxy = Proxy::home_assistant(
        ProxyKind::Nginx,
        &Placeholders::new(&auth.addr(), &app.addr(), GATEWAY_KEY),
    );
    let response = client()
        .get(proxy.url("/_revokd/auth"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!((auth.hits(), app.hits()), (0, 0));
}

/// The snippet's auth location writes no access-log line, even where a
/// server logs sub-requests (`log_subrequest on`): one line per client
/// request, however many guarded requests a busy proxy answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_logs_no_line_for_the_auth_subrequest() {
    let auth = Upstream::start();
    let app = Upstream::start();
    let vars = Placeholders::new(&auth.addr(), &app.addr(), GATEWAY_KEY);
    let site = format!(
        "log_subrequest on;\n{}",
        render("nginx/home-assistant.conf", &vars)
    );
    let nginx = Nginx::start_with(
        &site,
        &[(
            "snippets/revokd-auth.conf",
            &render("nginx/revokd-auth.conf", &vars),
        )],
    );
    let response = client()
        .get(format!("http://{}/api/states", nginx.addr()))
        .bearer_auth(USER_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!((auth.hits(), app.hits()), (1, 1));
    // nginx writes the line once the response is sent: wait for it.
    let access = |log: String| {
        log.split("--- nginx access.log\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    for _ in 0..50 {
        if access(nginx.log()).contains("/api/states") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let lines: Vec<String> = access(nginx.log())
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("/api/states"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_caddyfile_guards_every_path() {
    let revokd = Revokd::start(&[("REVOKD_KEYS", &keys_env())]);
    let app = Upstream::start();
    let refusing = Proxy::caddy_generic(
        &Placeholders::new(&revokd.addr(), &app.addr(), GATEWAY_KEY).auth_path(ALWAYS_REFUSES),
    );
    let allowing = Proxy::caddy_generic(
        &Placeholders::new(&revokd.addr(), &app.addr(), GATEWAY_KEY).auth_path(ALWAYS_ALLOWS),
    );
    for path in ["/", "/auth/token", "/api/webhook/x", "/anything"] {
        let refused = client().get(refusing.url(path)).send().await.expect("GET");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        let allowed = client().get(allowing.url(path)).send().await.expect("GET");
        assert_eq!(allowed.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(app.hits(), 4);
}

/// The Traefik and Envoy files are documentation, not run here; at least
/// they parse, fill every placeholder, and say what the tested ones do.
#[test]
fn the_documented_traefik_and_envoy_files_fail_closed() {
    let vars = Placeholders::new("127.0.0.1:8080", "127.0.0.1:8123", GATEWAY_KEY);

    let traefik: serde_yaml::Value =
        serde_yaml::from_str(&render("traefik/dynamic.yml", &vars)).expect("Traefik YAML");
    let http = &traefik["http"];
    let auth = &http["middlewares"]["revokd"]["forwardAuth"];
    assert_eq!(auth["address"], "http://127.0.0.1:8080/v1/forward-auth");
    assert_eq!(auth["trustForwardHeader"], false);
    assert!(yaml_list(&auth["authResponseHeaders"]).contains("X-Auth-Subject"));
    let sent = yaml_list(&auth["authRequestHeaders"]);
    for header in ["Authorization", "Cookie", "X-Revokd-Key"] {
        assert!(sent.contains(header), "{header} not sent to revokd");
    }
    assert_eq!(
        http["routers"]["home-assistant-api"]["middlewares"],
        serde_yaml::from_str::<serde_yaml::Value>("[revokd-key, revokd, revokd-key-strip]")
            .unwrap()
    );
    let key_header = |middleware: &str| {
        http["middlewares"][middleware]["headers"]["customRequestHeaders"]["X-Revokd-Key"].clone()
    };
    assert_eq!(key_header("revokd-key"), GATEWAY_KEY);
    assert_eq!(key_header("revokd-key-strip"), "");

    let envoy: serde_yaml::Value =
        serde_yaml::from_str(&render("envoy/envoy.yaml", &vars)).expect("Envoy YAML");
    let filters = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"];
    let names: Vec<&str> = filters
        .as_sequence()
        .expect("http_filters")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.header_mutation",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.router"
        ]
    );
    let ext_authz = &filters[1]["typed_config"];
    assert_eq!(ext_authz["failure_mode_allow"], false);
    let service = &ext_authz["http_service"];
    assert_eq!(service["path_prefix"], FORWARD_AUTH_PATH);
    assert_eq!(
        service["authorization_request"]["headers_to_add"][0]["key"],
        "x-revokd-key"
    );
    assert_eq!(
        service["authorization_request"]["headers_to_add"][0]["value"],
        GATEWAY_KEY
    );
}

#[test]
fn every_placeholder_in_deploy_is_one_the_harness_fills() {
    let mut found = BTreeSet::new();
    for file in [
        "nginx/revokd-auth.conf",
        "nginx/home-assistant.conf",
        "caddy/revokd-auth.caddy",
        "caddy/Caddyfile",
        "caddy/home-assistant.Caddyfile",
        "traefik/dynamic.yml",
        "envoy/envoy.yaml",
    ] {
        let text = std::fs::read_to_string(deploy_file(file)).expect(file);
        found.extend(placeholders_in(&text).into_iter().map(str::to_owned));
    }
    let known: BTreeSet<String> = ["{{KEY}}", "{{LISTEN}}", "{{REVOKD}}", "{{UPSTREAM}}"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, known);
}

fn yaml_list(value: &serde_yaml::Value) -> BTreeSet<&str> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(serde_yaml::Value::as_str).collect())
        .unwrap_or_default()
}

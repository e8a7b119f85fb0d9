//! SSF stream management as a receiver (OpenID SSF 1.0 §7, §8) against an
//! in-process transmitter that behaves like the spec: Transmitter
//! Configuration Metadata at `/.well-known/ssf-configuration`, the stream
//! configuration endpoint (list, create, update), the status endpoint, the
//! verification endpoint (it pushes a verification SET with the `state`,
//! signed by the forging identity provider's keys, to the stream's
//! `endpoint_url` with its `authorization_header`), and a client
//! credentials token endpoint. One test per rule revokd applies to it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use reqwest::StatusCode;
use revokd::config::Settings;
use revokd::providers::{Delivery, StreamManagementSettings, StreamSettings};
use serde_json::{Value, json};

use crate::backchannel::{free_port, provider, wait_for_provider};
use crate::common::forging_idp::{LogoutTokenBuilder, TestIdp, unix_now};
use crate::helpers::{Backend, Infra, TestApp, spawn_on};

const TX_TOKEN: &str = "management-token-revokd-presents";
const PUSH_TOKEN: &str = "push-token-the-transmitter-presents";
const CLIENT_ID: &str = "revokd-receiver";
const CLIENT_SECRET: &str = "client-secret-of-revokd";
const AUD: &str = "https://revokd.test/ssf/push/tx";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const STREAM_UPDATED: &str = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

/// What the test transmitter holds and how it misbehaves when told to.
#[derive(Default)]
struct TxState {
    base: String,
    jwks_uri: String,
    /// Metadata `issuer` other than the base URL (an issuer mismatch).
    issuer: Mutex<Option<String>>,
    /// `delivery_methods_supported` other than push and poll.
    methods: Mutex<Option<Vec<String>>>,
    /// `jwks_uri` other than the provider's.
    other_jwks_uri: Mutex<Option<String>>,
    /// Status the configuration endpoint answers with instead of working.
    config_fails_with: Mutex<Option<u16>>,
    streams: Mutex<BTreeMap<String, Value>>,
    status: Mutex<String>,
    /// When set, only these events are delivered (events_delivered).
    delivers_only: Mutex<Option<Vec<String>>>,
    /// Answer verifications with a state other than the one asked.
    wrong_state: AtomicBool,
    verifications: Mutex<Vec<Value>>,
    signer: Mutex<Option<LogoutTokenBuilder>>,
    /// `METHOD path` of every request, in order.
    log: Mutex<Vec<String>>,
    next_id: AtomicUsize,
    tokens_issued: AtomicUsize,
}

impl TxState {
    fn authorized(&self, req: &HttpRequest) -> bool {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        auth == Some(&format!("Bearer {TX_TOKEN}"))
    }

    fn record(&self, req: &HttpRequest) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.path()));
    }

    /// A stream as the configuration endpoint shows it: what was asked,
    /// what is supported and delivered, and no `authorization_header`.
    fn shown(&self, stream: &Value) -> Value {
        let mut shown = stream.clone();
        shown["delivery"]
            .as_object_mut()
            .map(|d| d.remove("authorization_header"));
        shown
    }
}

async fn metadata(state: web::Data<TxState>, req: HttpRequest) -> HttpResponse {
    state.record(&req);
    let base = &state.base;
    let issuer = state.issuer.lock().unwrap().clone();
    let methods = state
        .methods
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| vec!["urn:ietf:rfc:8935".into(), "urn:ietf:rfc:8936".into()]);
    let jwks_uri = state.other_jwks_uri.lock().unwrap().clone();
    HttpResponse::Ok().json(json!({
        "spec_version": "1_0",
        "issuer": issuer.unwrap_or_else(|| base.clone()),
        "jwks_uri": jwks_uri.unwrap_or_else(|| state.jwks_uri.clone()),
        "delivery_methods_supported": methods,
        "configuration_endpoint": format!("{base}/ssf/streams"),
        "status_endpoint": format!("{base}/ssf/status"),
        "verification_endpoint": format!("{base}/ssf/verify"),
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
    }))
}

/// The configuration endpoint: GET lists, POST creates, PATCH updates.
async fn streams(
    state: web::Data<TxState>,
    req: HttpRequest,
    body: Option<web::Json<Value>>,
) -> HttpResponse {
    state.record(&req);
    if !state.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some(code) = *state.config_fails_with.lock().unwrap() {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
            .json(json!({"error": "refused by the test"}));
    }
    let mut streams = state.streams.lock().unwrap();
    match *req.method() {
        actix_web::http::Method::GET => {
            HttpResponse::Ok().json(streams.values().map(|s| state.shown(s)).collect::<Vec<_>>())
        }
        actix_web::http::Method::POST | actix_web::http::Method::PATCH => {
            let body = body.map(|b| b.into_inner()).unwrap_or_default();
            let create = *req.method() == actix_web::http::Method::POST;
            let id = if create {
                format!("stream-{}", state.next_id.fetch_add(1, Ordering::SeqCst))
            } else {
                match body["stream_id"].as_str() {
                    Some(id) if streams.contains_key(id) => id.to_owned(),
                    _ => return HttpResponse::NotFound().finish(),
                }
            };
            let requested: Vec<String> = body["events_requested"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            let only = state.delivers_only.lock().unwrap().clone();
            let delivered: Vec<&String> = requested
                .iter()
                .filter(|e| only.as_ref().is_none_or(|o| o.contains(e)))
                .collect();
            let mut delivery = body["delivery"].clone();
            // Poll delivery: the transmitter names the poll endpoint
            // (SSF 1.0 §6.1.2).
            if delivery["method"] == "urn:ietf:rfc:8936" {
                delivery["endpoint_url"] = json!(format!("{}/ssf/poll/{id}", state.base));
            }
            let stream = json!({
                "stream_id": id,
                "iss": state.base,
                "aud": AUD,
                "delivery": delivery,
                "events_supported": requested,
                "events_requested": requested,
                "events_delivered": delivered,
            });
            streams.insert(id, stream.clone());
            let shown = state.shown(&stream);
            if create {
                HttpResponse::Created().json(shown)
            } else {
                HttpResponse::Ok().json(shown)
            }
        }
        _ => HttpResponse::MethodNotAllowed().finish(),
    }
}

async fn status(state: web::Data<TxState>, req: HttpRequest) -> HttpResponse {
    state.record(&req);
    if !state.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let Some(id) = query.get("stream_id") else {
        return HttpResponse::BadRequest().finish();
    };
    if !state.streams.lock().unwrap().contains_key(id) {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok().json(json!({"stream_id": id, "status": *state.status.lock().unwrap()}))
}

/// Records the request, answers 204, then pushes the verification SET to
/// the stream's delivery endpoint (SSF 1.0 §8.1.4.2).
async fn verify(
    state: web::Data<TxState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    state.record(&req);
    if !state.authorized(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let body = body.into_inner();
    let Some(stream) = body["stream_id"]
        .as_str()
        .and_then(|id| state.streams.lock().unwrap().get(id).cloned())
    else {
        return HttpResponse::NotFound().finish();
    };
    state.verifications.lock().unwrap().push(body.clone());
    let answer = if state.wrong_state.load(Ordering::SeqCst) {
        "a-state-nobody-asked-for".to_owned()
    } else {
        body["state"].as_str().unwrap_or_default().to_owned()
    };
    let signer = state.signer.lock().unwrap().clone().unwrap();
    let set = signer
        .claim(
            "sub_id",
            json!({"format": "opaque", "id": stream["stream_id"]}),
        )
        .claim("events", json!({ VERIFICATION: {"state": answer} }))
        .sign();
    let url = stream["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = stream["delivery"]["authorization_header"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    actix_web::rt::spawn(async move {
        // After the 204, as a transmitter's delivery would be.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        let _ = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/secevent+jwt")
            .header("authorization", auth)
            .body(set)
            .send()
            .await;
    });
    HttpResponse::NoContent().finish()
}

/// The client credentials grant (RFC 6749 §4.4), HTTP Basic.
async fn token(state: web::Data<TxState>, req: HttpRequest, body: String) -> HttpResponse {
    state.record(&req);
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Basic {basic}")) || !body.contains("grant_type=client_credentials") {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    state.tokens_issued.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .json(json!({"access_token": TX_TOKEN, "token_type": "Bearer", "expires_in": 3600}))
}

/// The transmitter, on its own port; its issuer is its base URL.
struct Transmitter {
    state: Arc<TxState>,
    server: actix_web::dev::ServerHandle,
}

impl Transmitter {
    fn start(idp: &TestIdp) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(TxState {
            jwks_uri: idp.jwks_uri(),
            status: Mutex::new("enabled".into()),
            signer: Mutex::new(Some(
                idp.logout_token()
                    .iss(&base)
                    .without_claim("sub")
                    .without_claim("exp")
                    .header("typ", "secevent+jwt")
                    .aud(AUD),
            )),
            base,
            ..TxState::default()
        });
        let data = web::Data::from(Arc::clone(&state));
        let (started, handle) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(data.clone())
                        .route("/.well-known/ssf-configuration", web::get().to(metadata))
                        .route("/ssf/streams", web::route().to(streams))
                        .route("/ssf/status", web::get().to(status))
                        .route("/ssf/verify", web::post().to(verify))
                        .route("/token", web::post().to(token))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                started.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let server = handle.recv().unwrap();
        Self { state, server }
    }

    fn issuer(&self) -> String {
        self.state.base.clone()
    }

    /// A SET from this transmitter for alice.
    fn set(&self, event: &str) -> String {
        self.state
            .signer
            .lock()
            .unwrap()
            .clone()
            .unwrap()
            .claim(
                "sub_id",
                json!({"format": "iss_sub", "iss": self.state.base, "sub": "alice"}),
            )
            .claim("events", json!({ event: {} }))
            .sign()
    }

    fn streams(&self) -> Vec<Value> {
        self.state
            .streams
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Files holding the secrets, and the port revokd will listen on (the
/// push URL it registers names it).
struct Secrets {
    dir: tempfile::TempDir,
    port: u16,
}

impl Secrets {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tx-token"), TX_TOKEN).unwrap();
        std::fs::write(dir.path().join("push-token"), PUSH_TOKEN).unwrap();
        std::fs::write(dir.path().join("client-secret"), CLIENT_SECRET).unwrap();
        Self {
            dir,
            port: free_port(),
        }
    }

    fn push_url(&self) -> String {
        format!("http://127.0.0.1:{}/ssf/push/tx", self.port)
    }
}

/// A provider `tx` (the transmitter's issuer, keys at the forging IdP's
/// JWKS) and a managed push stream `tx`.
fn managed(idp: &TestIdp, issuer: &str, secrets: &Secrets) -> impl FnOnce(&mut Settings) + use<> {
    let mut settings = provider("tx", issuer, idp.client_id());
    settings.jwks_uri = Some(idp.jwks_uri());
    let port = secrets.port;
    let push_url = secrets.push_url();
    let dir = secrets.dir.path().to_owned();
    let issuer = issuer.to_owned();
    move |s: &mut Settings| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.providers = vec![settings];
        s.streams = vec![StreamSettings {
            name: "tx".into(),
            provider: "tx".into(),
            audience: vec![AUD.into()],
            push_token_sha256: None,
            push_token_file: Some(dir.join("push-token")),
            subject_formats_as_sub: vec!["opaque".into()],
            max_set_age: Duration::from_secs(3600),
            poll_url: None,
            poll_token_file: None,
            poll_max_events: 100,
            poll_timeout: Duration::from_secs(60),
            poll_retry_interval: Duration::from_secs(5),
            allow_insecure_http: false,
            management: Some(StreamManagementSettings {
                transmitter: issuer,
                token_file: Some(dir.join("tx-token")),
                token_endpoint: None,
                client_id: None,
                client_secret_file: None,
                scope: None,
                delivery: Delivery::Push,
                push_endpoint_url: Some(push_url),
                events_requested: vec![
                    format!("{RISC}account-disabled"),
                    format!("{RISC}account-enabled"),
                ],
                status_interval: Duration::from_secs(300),
                retry_interval: Duration::from_millis(300),
                timeout: Duration::from_secs(2),
                verify_at_start: true,
            }),
        }];
    }
}

async fn push(app: &TestApp, set: String) -> reqwest::Response {
    app.client
        .post(app.url("/ssf/push/tx"))
        .header("content-type", "application/secevent+jwt")
        .bearer_auth(PUSH_TOKEN)
        .body(set)
        .send()
        .await
        .unwrap()
}

/// `/readyz`'s `stream:tx` once `done` holds of it (bounded).
async fn stream_check(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.readiness().await;
        if done(&last["checks"]["stream:tx"]) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream:tx never reached the expected state: {last}");
}

fn info(check: &Value) -> &str {
    check["info"].as_str().unwrap_or_default()
}

fn error(check: &Value) -> &str {
    check["error"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revokd_creates_its_stream_verifies_it_and_reads_its_status() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    wait_for_provider(&app, "tx").await;
    let ready = stream_check(&app, |c| !info(c).contains("verified_at=never")).await;
    let check = &ready["checks"]["stream:tx"];
    assert_eq!(check["status"], "up", "{ready}");
    assert!(info(check).contains("stream_id=stream-0"), "{ready}");
    assert!(info(check).contains("status=enabled"), "{ready}");
    assert_eq!(ready["status"], "ready");

    // The stream at the transmitter: push to our URL with our token, the
    // events asked for.
    let streams = tx.streams();
    assert_eq!(streams.len(), 1);
    let delivery = &streams[0]["delivery"];
    assert_eq!(delivery["method"], "urn:ietf:rfc:8935");
    assert_eq!(delivery["endpoint_url"], secrets.push_url());
    assert_eq!(
        delivery["authorization_header"],
        format!("Bearer {PUSH_TOKEN}")
    );
    assert_eq!(
        streams[0]["events_requested"],
        json!([
            format!("{RISC}account-disabled"),
            format!("{RISC}account-enabled")
        ])
    );
    // Metadata, list, create, status, verification, in that order.
    let log = tx.log();
    assert_eq!(
        log,
        [
            "GET /.well-known/ssf-configuration",
            "GET /ssf/streams",
            "POST /ssf/streams",
            "GET /ssf/status",
            "POST /ssf/verify"
        ],
        "{log:?}"
    );
    let asked = tx.state.verifications.lock().unwrap()[0].clone();
    assert_eq!(asked["stream_id"], "stream-0");
    assert!(asked["state"].as_str().unwrap().len() >= 32);

    let metrics = app.metrics().await;
    for line in [
        r#"revokd_ssf_stream_status{status="enabled",stream="tx"} 1"#,
        r#"revokd_ssf_stream_status{status="unknown",stream="tx"} 0"#,
        r#"revokd_ssf_management_requests_total{outcome="ok",step="configuration",stream="tx"} 2"#,
        r#"revokd_ssf_management_requests_total{outcome="ok",step="verification",stream="tx"} 1"#,
        r#"revokd_signals_total{event="verification",outcome="no_change",rule="",stream="tx"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(
        !metrics.contains(
            r#"revokd_ssf_verification_timestamp_seconds{step="received",stream="tx"} 0"#
        )
    );

    // On demand, through the admin API: a second state, answered.
    let response = app
        .admin_post("/v1/admin/streams/tx/verify", &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stream"], "tx");
    assert!(body["requested_at"].as_i64().unwrap() >= unix_now() - 5);
    for _ in 0..50 {
        if app.metrics().await.contains(
            r#"revokd_signals_total{event="verification",outcome="no_change",rule="",stream="tx"} 2"#,
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verifications = tx.state.verifications.lock().unwrap().clone();
    assert_eq!(verifications.len(), 2);
    assert_ne!(verifications[0]["state"], verifications[1]["state"]);
    assert!(app.metrics().await.contains(
        r#"revokd_signals_total{event="verification",outcome="no_change",rule="",stream="tx"} 2"#
    ));

    // And from a shell: `revokd admin verify-stream tx`.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("admin.key");
    std::fs::write(&key, crate::helpers::ADMIN_KEY).unwrap();
    let cli = |stream: &str| {
        std::process::Command::new(crate::binary::BIN)
            .env_clear()
            .args(["admin", "--url", &app.address, "--key-file"])
            .arg(&key)
            .args(["verify-stream", stream])
            .output()
            .unwrap()
    };
    let output = cli("tx");
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("verification requested of stream `tx`")
    );
    let output = cli("nope");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown_stream"),
        "{output:?}"
    );
    for _ in 0..50 {
        if tx.state.verifications.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tx.state.verifications.lock().unwrap().len(), 3);

    // A restart finds the stream and updates it, never a second one.
    let infra = app.stop().await;
    let app = spawn_on(infra, managed(&idp, &tx.issuer(), &secrets)).await;
    stream_check(&app, |c| !info(c).contains("verified_at=never")).await;
    assert_eq!(tx.streams().len(), 1);
    assert!(tx.log().contains(&"PATCH /ssf/streams".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_verify_needs_an_admin_key_and_a_managed_stream() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    let anonymous = app
        .client
        .post(app.url("/v1/admin/streams/tx/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unknown = app
        .admin_post("/v1/admin/streams/nope/verify", &json!({}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "unknown_stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_get_a_token_from_the_token_endpoint() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    let secrets = Secrets::new();
    let configure = managed(&idp, &tx.issuer(), &secrets);
    let token_url = format!("{}/token", tx.issuer());
    let secret = secrets.dir.path().join("client-secret");
    let app = spawn_on(Infra::new(Backend::Embedded), move |s| {
        configure(s);
        let m = s.streams[0].management.as_mut().unwrap();
        m.token_file = None;
        m.token_endpoint = Some(token_url);
        m.client_id = Some(CLIENT_ID.into());
        m.client_secret_file = Some(secret);
    })
    .await;
    stream_check(&app, |c| !info(c).contains("verified_at=never")).await;
    assert_eq!(tx.streams().len(), 1);
    // One token for every request (cached until it expires).
    assert_eq!(tx.state.tokens_issued.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_differs_by_one_byte_is_refused() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    *tx.state.issuer.lock().unwrap() = Some(format!("{}/", tx.issuer()));
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    let ready = stream_check(&app, |c| c["status"] == "down").await;
    let check = &ready["checks"]["stream:tx"];
    assert!(error(check).contains("its issuer"), "{ready}");
    assert!(info(check).contains("stream_id=none"), "{ready}");
    assert!(tx.streams().is_empty(), "nothing was created");
    assert_eq!(ready["status"], "ready");
    assert!(app.metrics().await.contains(
        r#"revokd_ssf_management_requests_total{outcome="error",step="metadata",stream="tx"}"#
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_configuration_endpoint_shows_in_readyz_and_is_retried() {
    for code in [401, 500] {
        let idp = TestIdp::start();
        let tx = Transmitter::start(&idp);
        *tx.state.config_fails_with.lock().unwrap() = Some(code);
        let secrets = Secrets::new();
        let app = spawn_on(
            Infra::new(Backend::Embedded),
            managed(&idp, &tx.issuer(), &secrets),
        )
        .await;
        let ready = stream_check(&app, |c| c["status"] == "down").await;
        let check = &ready["checks"]["stream:tx"];
        assert!(
            error(check).contains(&format!("status {code}")),
            "{code}: {ready}"
        );
        assert!(
            app.metrics()
                .await
                .contains(r#"revokd_ssf_stream_status{status="unknown",stream="tx"} 1"#)
        );
        // The transmitter recovers: revokd sets the stream up on its own.
        *tx.state.config_fails_with.lock().unwrap() = None;
        let ready = stream_check(&app, |c| c["status"] == "up").await;
        assert!(info(&ready["checks"]["stream:tx"]).contains("stream_id=stream-0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_not_delivered_are_a_warning_and_sets_of_them_are_not_applied() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    *tx.state.delivers_only.lock().unwrap() = Some(vec![format!("{RISC}account-enabled")]);
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    wait_for_provider(&app, "tx").await;
    let ready = stream_check(&app, |c| error(c).contains("does not deliver")).await;
    let check = &ready["checks"]["stream:tx"];
    assert_eq!(check["status"], "down");
    assert!(
        error(check).contains(&format!("{RISC}account-disabled")),
        "{ready}"
    );
    // A SET of an event not delivered (and one not requested) is
    // acknowledged, counted, and changes nothing.
    for event in [
        format!("{RISC}account-disabled"),
        format!("{RISC}account-purged"),
    ] {
        let response = push(&app, tx.set(&event)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{event}");
    }
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"], json!([]), "{events}");
    let metrics = app.metrics().await;
    for line in [
        r#"revokd_signals_total{event="risc-account-disabled",outcome="no_change",rule="not_requested",stream="tx"} 1"#,
        r#"revokd_signals_total{event="risc-account-purged",outcome="no_change",rule="not_requested",stream="tx"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    // A delivered event is applied.
    let enabled = push(&app, tx.set(&format!("{RISC}account-enabled"))).await;
    assert_eq!(enabled.status(), StatusCode::ACCEPTED);
    assert!(app.metrics().await.contains(
        r#"revokd_signals_total{event="risc-account-enabled",outcome="applied",rule="",stream="tx"} 1"#
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_paused_or_disabled_at_start_is_down_until_enabled() {
    for status in ["paused", "disabled"] {
        let idp = TestIdp::start();
        let tx = Transmitter::start(&idp);
        *tx.state.status.lock().unwrap() = status.into();
        let secrets = Secrets::new();
        let app = spawn_on(
            Infra::new(Backend::Embedded),
            managed(&idp, &tx.issuer(), &secrets),
        )
        .await;
        wait_for_provider(&app, "tx").await;
        let ready = stream_check(&app, |c| info(c).contains(&format!("status={status}"))).await;
        let check = &ready["checks"]["stream:tx"];
        assert_eq!(check["status"], "down", "{ready}");
        assert!(error(check).contains(&format!("`{status}`")), "{ready}");
        assert!(app.metrics().await.contains(&format!(
            r#"revokd_ssf_stream_status{{status="{status}",stream="tx"}} 1"#
        )));
        // The transmitter enables it and says so with stream-updated:
        // revokd reads the status again at once.
        *tx.state.status.lock().unwrap() = "enabled".into();
        let updated = tx
            .state
            .signer
            .lock()
            .unwrap()
            .clone()
            .unwrap()
            .claim("sub_id", json!({"format": "opaque", "id": "stream-0"}))
            .claim("events", json!({ STREAM_UPDATED: {"status": "enabled"} }))
            .sign();
        assert_eq!(push(&app, updated).await.status(), StatusCode::ACCEPTED);
        stream_check(&app, |c| c["status"] == "up").await;
        let reads = || tx.log().iter().filter(|l| *l == "GET /ssf/status").count();
        for _ in 0..50 {
            if reads() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(reads(), 2, "{:?}", tx.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_with_a_wrong_state_is_not_taken_as_the_answer() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    tx.state.wrong_state.store(true, Ordering::SeqCst);
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    wait_for_provider(&app, "tx").await;
    let mismatch = r#"revokd_signals_total{event="verification",outcome="no_change",rule="verification_state_mismatch",stream="tx"} 1"#;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = app.metrics().await;
        if metrics.contains(mismatch) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains(mismatch), "{metrics}");
    assert!(
        metrics.contains(
            r#"revokd_ssf_verification_timestamp_seconds{step="received",stream="tx"} 0"#
        )
    );
    let ready = app.readiness().await;
    let check = &ready["checks"]["stream:tx"];
    assert!(info(check).contains("verified_at=never"), "{ready}");
    assert!(
        !info(check).contains("verification_requested_at=never"),
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revokd_starts_with_its_transmitter_down_and_readyz_says_so() {
    let idp = TestIdp::start();
    // Nothing listens at the transmitter's issuer yet.
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &issuer, &secrets),
    )
    .await;
    let ready = stream_check(&app, |c| c["status"] == "down").await;
    assert!(
        error(&ready["checks"]["stream:tx"]).contains("ssf-configuration"),
        "{ready}"
    );
    assert_eq!(
        ready["status"], "ready",
        "a transmitter never makes revokd unready"
    );
    let busy = app
        .admin_post("/v1/admin/streams/tx/verify", &json!({}))
        .await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = busy.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not set up"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_poll_stream_is_created_for_poll_and_a_different_poll_url_is_a_warning() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    let secrets = Secrets::new();
    for (poll_url, warned) in [
        (format!("{}/ssf/poll/stream-0", tx.issuer()), false),
        (format!("{}/somewhere-else", tx.issuer()), true),
    ] {
        let configure = managed(&idp, &tx.issuer(), &secrets);
        let token_file = secrets.dir.path().join("tx-token");
        let app = spawn_on(Infra::new(Backend::Embedded), move |s| {
            configure(s);
            let stream = &mut s.streams[0];
            stream.push_token_file = None;
            stream.push_token_sha256 = Some(revokd::api_keys::sha256_hex(PUSH_TOKEN));
            stream.poll_url = Some(poll_url);
            stream.poll_token_file = Some(token_file);
            let m = stream.management.as_mut().unwrap();
            m.delivery = Delivery::Poll;
            m.push_endpoint_url = None;
            m.verify_at_start = false;
        })
        .await;
        let ready = stream_check(&app, |c| info(c).contains("status=enabled")).await;
        let check = &ready["checks"]["stream:tx"];
        let streams = tx.streams();
        assert_eq!(streams[0]["delivery"]["method"], "urn:ietf:rfc:8936");
        assert!(streams[0]["delivery"].get("authorization_header").is_none());
        assert_eq!(error(check).contains("not at poll_url"), warned, "{ready}");
        // verify_at_start = false: no verification was asked.
        assert!(!tx.log().contains(&"POST /ssf/verify".to_owned()));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmitter_other_than_the_streams_provider_stops_start_up_naming_the_key() {
    let idp = TestIdp::start();
    let secrets = Secrets::new();
    let infra = Infra::new(Backend::Embedded);
    let mut settings = infra.settings();
    managed(&idp, "https://tx.example", &secrets)(&mut settings);
    settings.streams[0].management.as_mut().unwrap().transmitter = "https://other.example".into();
    let err = match revokd::startup::Application::build(settings).await {
        Ok(_) => panic!("a transmitter that is not the provider's issuer was accepted"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("streams[0].management.transmitter"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmitter_that_does_not_support_the_delivery_method_gets_no_stream() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    *tx.state.methods.lock().unwrap() = Some(vec!["urn:ietf:rfc:8936".into()]);
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    let ready = stream_check(&app, |c| c["status"] == "down").await;
    assert!(
        error(&ready["checks"]["stream:tx"])
            .contains("does not support delivery `urn:ietf:rfc:8935`"),
        "{ready}"
    );
    assert!(tx.streams().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmitter_jwks_uri_other_than_the_providers_is_a_warning() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    *tx.state.other_jwks_uri.lock().unwrap() = Some(format!("{}/keys", tx.issuer()));
    let secrets = Secrets::new();
    let app = spawn_on(
        Infra::new(Backend::Embedded),
        managed(&idp, &tx.issuer(), &secrets),
    )
    .await;
    wait_for_provider(&app, "tx").await;
    let ready = stream_check(&app, |c| error(c).contains("jwks_uri")).await;
    let check = &ready["checks"]["stream:tx"];
    assert!(
        error(check).contains("SETs are verified with the provider's keys"),
        "{ready}"
    );
    // The stream is set up all the same.
    assert!(info(check).contains("stream_id=stream-0"), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_credentials_grant_shows_in_readyz() {
    let idp = TestIdp::start();
    let tx = Transmitter::start(&idp);
    let secrets = Secrets::new();
    std::fs::write(secrets.dir.path().join("client-secret"), "not-the-secret").unwrap();
    let configure = managed(&idp, &tx.issuer(), &secrets);
    let token_url = format!("{}/token", tx.issuer());
    let secret = secrets.dir.path().join("client-secret");
    let app = spawn_on(Infra::new(Backend::Embedded), move |s| {
        configure(s);
        let m = s.streams[0].management.as_mut().unwrap();
        m.token_file = None;
        m.token_endpoint = Some(token_url);
        m.client_id = Some(CLIENT_ID.into());
        m.client_secret_file = Some(secret);
    })
    .await;
    let ready = stream_check(&app, |c| c["status"] == "down").await;
    let check = &ready["checks"]["stream:tx"];
    assert!(error(check).contains("/token: status 401"), "{ready}");
    assert!(tx.streams().is_empty());
    assert!(app.metrics().await.contains(
        r#"revokd_ssf_management_requests_total{outcome="error",step="token",stream="tx"}"#
    ));
}

//! `spawn_app`: the real application on a free port, on a real store.

use std::sync::{Arc, LazyLock, Mutex};

use figment::providers::Env;
use reqwest::{Response, StatusCode};
use revokd::api_keys::{KeySettings, Role};
use revokd::config::{Settings, StoreKind};
use revokd::startup::Application;
use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::redis_server::RedisServer;

pub const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
pub const CLIENT_KEY: &str = "client-key-0123456789abcdef";
pub const ISS: &str = "https://idp.example.com/realms/home";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let subscriber = revokd::telemetry::get_subscriber(
            revokd::config::LogFormat::Pretty,
            "debug",
            std::io::stdout,
        );
        let _ = revokd::telemetry::init_subscriber(subscriber);
    }
});

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Redis,
}

/// What outlives one run of the application: its data and its Redis.
#[derive(Clone)]
pub struct Infra {
    pub data_dir: Arc<TempDir>,
    redis: Option<Arc<Mutex<RedisServer>>>,
    pub key_prefix: String,
}

impl Infra {
    pub fn new(backend: Backend) -> Self {
        let redis = (backend == Backend::Redis).then(|| Arc::new(Mutex::new(RedisServer::start())));
        let key_prefix = format!("revokd-test-{}:", std::process::id());
        Self {
            data_dir: Arc::new(TempDir::new().expect("temp dir")),
            redis,
            key_prefix,
        }
    }

    /// The settings of an app on this infrastructure: defaults, port 0,
    /// one admin and one client key.
    pub fn settings(&self) -> Settings {
        let mut settings =
            Settings::load_from(None, Env::raw().only(&[])).expect("defaults are valid");
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.embedded.path = self.data_dir.path().join("data");
        settings.keys = vec![
            key("ops", Role::Admin, ADMIN_KEY),
            key("app", Role::Client, CLIENT_KEY),
        ];
        if let Some(redis) = &self.redis {
            settings.store = StoreKind::Redis;
            settings.redis.url = SecretString::from(redis.lock().unwrap().url());
            settings.redis.key_prefix = self.key_prefix.clone();
            settings.redis.connect_timeout = std::time::Duration::from_millis(500);
            settings.redis.command_timeout = std::time::Duration::from_millis(500);
        }
        settings
    }
}

impl Infra {
    /// Stops Redis gracefully (its data stays on disk).
    pub fn stop_redis(&self) {
        self.redis
            .as_ref()
            .expect("a Redis test")
            .lock()
            .unwrap()
            .stop();
    }

    /// Starts Redis again on the same port and data.
    pub fn restart_redis(&self) {
        self.redis
            .as_ref()
            .expect("a Redis test")
            .lock()
            .unwrap()
            .restart();
    }
}

pub fn key(name: &str, role: Role, key: &str) -> KeySettings {
    KeySettings {
        name: name.into(),
        role,
        key: Some(SecretString::from(key.to_owned())),
        sha256: None,
        file: None,
    }
}

pub struct TestApp {
    pub address: String,
    pub ops_address: Option<String>,
    pub client: reqwest::Client,
    pub infra: Infra,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(Infra::new(backend), customise).await
}

/// Starts the application on existing infrastructure (for restart tests).
pub async fn spawn_on(infra: Infra, customise: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let mut settings = infra.settings();
    customise(&mut settings);
    // After an in-process stop, actix's worker threads drop their copy of
    // the state (and with it the embedded database's file lock) a moment
    // after the server reports stopped; a real restart is a new process.
    let mut attempts = 0;
    let application = loop {
        match Application::build(settings.clone()).await {
            Ok(application) => break application,
            Err(err) if attempts < 50 && format!("{err:#}").contains("in use") => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the application does not build: {err:#}"),
        }
    };
    let address = format!("http://127.0.0.1:{}", application.port());
    let ops_address = application
        .ops_port()
        .map(|p| format!("http://127.0.0.1:{p}"));
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = rx.await;
    }));
    let app = TestApp {
        address,
        ops_address,
        client: reqwest::Client::new(),
        infra,
        shutdown: Some(tx),
        server: Some(server),
    };
    app.wait_for_mirror().await;
    app
}

impl TestApp {
    /// Stops the application gracefully and hands back its infrastructure.
    pub async fn stop(mut self) -> Infra {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        self.infra.clone()
    }

    /// On Redis an instance listens while its mirror loads (the embedded
    /// store loads before listening): waits, bounded, until the load is
    /// over, whatever its outcome, so that tests start from a loaded
    /// instance as a real deployment's first request would after /readyz.
    async fn wait_for_mirror(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let loading = match self.client.get(self.url("/readyz")).send().await {
                Ok(response) => response
                    .text()
                    .await
                    .is_ok_and(|body| body.contains("has not finished loading")),
                Err(_) => false,
            };
            if !loading {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops the application and starts a new one on the same store.
    pub async fn restart(self) -> TestApp {
        let infra = self.stop().await;
        spawn_on(infra, |_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await;
        response
            .expect("request")
            .text()
            .await
            .expect("metrics text")
    }

    /// The `/readyz` body, whatever its status.
    pub async fn readiness(&self) -> Value {
        let response = self
            .client
            .get(self.url("/readyz"))
            .send()
            .await
            .expect("request");
        response.json().await.expect("readyz answers JSON")
    }

    pub async fn check(&self, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url("/v1/check"))
            .bearer_auth(CLIENT_KEY)
            .query(query)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_check(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/v1/check"))
            .bearer_auth(CLIENT_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `{"active": ..., "reason": ...}` of a check that must succeed.
    pub async fn verdict(&self, query: &[(&str, &str)]) -> Value {
        let response = self.check(query).await;
        assert_eq!(response.status(), StatusCode::OK, "check {query:?}");
        response.json().await.expect("json")
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn admin_get(&self, path: &str, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .query(query)
            .send()
            .await
            .expect("request")
    }

    /// `GET /v1/admin/logout-tokens`: the recent logout tokens and their
    /// verdicts, newest first (a JSON array).
    pub async fn logout_tokens(&self) -> Value {
        self.admin_get("/v1/admin/logout-tokens", &[])
            .await
            .json()
            .await
            .expect("logout tokens as JSON")
    }

    /// An admin change that must be recorded; returns its audit event.
    pub async fn admin_ok(&self, path: &str, body: &Value) -> Value {
        let response = self.admin_post(path, body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts an error response: status, `error` code, and that the
/// description mentions `needle`.
pub async fn assert_error(response: Response, status: StatusCode, code: &str, needle: &str) {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"]
        .as_str()
        .expect("error_description is a string");
    assert!(
        description.contains(needle),
        "description {description:?} should mention {needle:?}"
    );
}

/// Instantiates each listed async test function for both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Embedded).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Redis).await;
                }
            )*
        }
    };
}

//! SSF stream management as a receiver (OpenID Shared Signals Framework
//! 1.0 §6–§8): for a `[[streams]]` entry with `[streams.management]`,
//! revokd reads the transmitter's `/.well-known/ssf-configuration`, finds
//! its stream there (or creates it) and sets its delivery and
//! `events_requested`, checks `events_delivered`, reads the stream's status
//! now, every `status_interval` and whenever a `stream-updated` event
//! arrives, and asks for a verification event at start and on demand,
//! recording when the one with its `state` comes back.
//!
//! Nothing here can stop revokd: a transmitter that is down or refuses is
//! shown on `/readyz` (a detail of `stream:<name>`) and tried again every
//! `retry_interval`; SETs keep being judged meanwhile (filtered by the
//! events revokd asked for).

use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::*;
use crate::providers::{Delivery, StreamManagementSettings};

/// `delivery.method` of RFC 8935 push and RFC 8936 poll (SSF 1.0 §6.1.1).
pub const PUSH_METHOD: &str = "urn:ietf:rfc:8935";
pub const POLL_METHOD: &str = "urn:ietf:rfc:8936";

/// The statuses of SSF 1.0 §8.1.2, and `unknown` (not read yet, or not
/// readable).
pub const STATUSES: [&str; 4] = ["enabled", "paused", "disabled", "unknown"];

/// The largest management response read (a stream list is small).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Transmitter Configuration Metadata (SSF 1.0 §7.1), the members revokd uses.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    delivery_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    configuration_endpoint: Option<String>,
    #[serde(default)]
    status_endpoint: Option<String>,
    #[serde(default)]
    verification_endpoint: Option<String>,
}

/// A Stream Configuration (SSF 1.0 §8.1.1), the members revokd reads.
#[derive(Debug, Clone, Deserialize)]
struct StreamConfiguration {
    stream_id: String,
    #[serde(default)]
    events_delivered: Option<Vec<String>>,
    #[serde(default)]
    delivery: Option<DeliveryConfiguration>,
}

#[derive(Debug, Clone, Deserialize)]
struct DeliveryConfiguration {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    endpoint_url: Option<String>,
}

/// What is known of a managed stream, for `/readyz` and the admin API.
#[derive(Debug, Clone, Default)]
pub struct Managed {
    /// The transmitter's `stream_id` of our stream, once found or created.
    pub stream_id: Option<String>,
    /// Why the last exchange with the transmitter failed.
    pub error: Option<String>,
    /// Requested events the transmitter does not deliver.
    pub missing_events: Vec<String>,
    /// `events_delivered` as the transmitter last reported it.
    pub events_delivered: Option<Vec<String>>,
    /// Other findings (a poll URL that differs, keys at another URL).
    pub warnings: Vec<String>,
    /// When the status was last read from the status endpoint.
    pub status_read_at: Option<UnixTime>,
    /// The `state` of the verification asked for and not answered yet.
    pending_state: Option<String>,
    pub verification_requested_at: Option<UnixTime>,
    pub verified_at: Option<UnixTime>,
    metadata: Option<Metadata>,
}

impl Managed {
    /// The transmitter's `jwks_uri`, when its metadata was read.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m.jwks_uri.as_deref())
    }
}

/// How revokd authenticates to the transmitter.
enum Credentials {
    Bearer(SecretString),
    Client {
        token_endpoint: String,
        client_id: String,
        secret: SecretString,
        scope: Option<String>,
        /// The access token and when it stops being used.
        cached: tokio::sync::Mutex<Option<(SecretString, std::time::Instant)>>,
    },
}

/// The metric families of stream management, shared by every stream.
#[derive(Clone)]
pub(super) struct ManagementMetrics {
    status: IntGaugeVec,
    verification: IntGaugeVec,
    requests: IntCounterVec,
}

impl ManagementMetrics {
    pub(super) fn new(metrics: &Metrics) -> Result<Self, ConfigError> {
        let status = IntGaugeVec::new(
            Opts::new(
                "ssf_stream_status",
                "1 for the status a Shared Signals stream has at its transmitter (enabled, paused, disabled, or unknown: not read yet or not readable), 0 for the others.",
            ),
            &["stream", "status"],
        )
        .expect("valid metric");
        let verification = IntGaugeVec::new(
            Opts::new(
                "ssf_verification_timestamp_seconds",
                "Unix time revokd last asked a managed stream's transmitter for a verification event (step=requested) and last received the one with its state (step=received); 0 never.",
            ),
            &["stream", "step"],
        )
        .expect("valid metric");
        let requests = IntCounterVec::new(
            Opts::new(
                "ssf_management_requests_total",
                "Requests revokd made to a transmitter's stream management endpoints, by stream, step (token, metadata, configuration, status, verification) and outcome (ok, error).",
            ),
            &["stream", "step", "outcome"],
        )
        .expect("valid metric");
        let collectors: [Box<dyn prometheus::core::Collector>; 3] = [
            Box::new(status.clone()),
            Box::new(verification.clone()),
            Box::new(requests.clone()),
        ];
        for collector in collectors {
            metrics
                .register(collector)
                .map_err(|e| ConfigError::invalid("streams", e.to_string()))?;
        }
        Ok(Self {
            status,
            verification,
            requests,
        })
    }

    /// Sets the one-hot status gauge of `stream`.
    pub(super) fn set_status(&self, stream: &str, status: &str) {
        for s in STATUSES {
            self.status
                .with_label_values(&[stream, s])
                .set(i64::from(s == status));
        }
    }
}

/// One managed stream: its settings, credentials and what is known.
pub(super) struct Manager {
    settings: StreamManagementSettings,
    credentials: Credentials,
    /// `Bearer <push token>`: the `authorization_header` the transmitter
    /// sends with each push (push delivery only).
    push_authorization: Option<SecretString>,
    poll_url: Option<String>,
    http: reqwest::Client,
    state: Mutex<Managed>,
    /// Read the status now (a `stream-updated` event arrived).
    wake: tokio::sync::Notify,
}

impl Manager {
    pub(super) fn from_settings(
        i: usize,
        s: &StreamSettings,
        provider_issuer: &str,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(m) = &s.management else {
            return Ok(None);
        };
        let at = |field: &str| format!("streams[{i}].management.{field}");
        // SSF 1.0 §7.1: the transmitter's `issuer` is the SETs' `iss`,
        // which is the stream provider's issuer.
        if m.transmitter != provider_issuer {
            return Err(ConfigError::invalid(
                at("transmitter"),
                format!(
                    "must be the issuer of provider `{}` (`{provider_issuer}`): the transmitter's SETs carry it as `iss`",
                    s.provider
                ),
            ));
        }
        let read = |key: String, path: &std::path::Path| -> Result<SecretString, ConfigError> {
            let bytes = crate::config::secret_file::read_secret_file(&key, path)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| ConfigError::invalid(&key, "the secret is not UTF-8 text"))?;
            let text = text.trim();
            if text.is_empty() {
                return Err(ConfigError::invalid(key, "the file is empty"));
            }
            Ok(SecretString::from(text.to_owned()))
        };
        let credentials = match (
            &m.token_file,
            &m.token_endpoint,
            &m.client_id,
            &m.client_secret_file,
        ) {
            (Some(path), ..) => Credentials::Bearer(read(at("token_file"), path)?),
            (None, Some(url), Some(id), Some(path)) => Credentials::Client {
                token_endpoint: url.clone(),
                client_id: id.clone(),
                secret: read(at("client_secret_file"), path)?,
                scope: m.scope.clone(),
                cached: tokio::sync::Mutex::new(None),
            },
            _ => {
                return Err(ConfigError::invalid(
                    at("token_file"),
                    "give token_file or client credentials",
                ));
            }
        };
        let push_authorization = match (m.delivery, &s.push_token_file) {
            (Delivery::Push, Some(path)) => {
                let token = read(format!("streams[{i}].push_token_file"), path)?;
                Some(SecretString::from(format!(
                    "Bearer {}",
                    token.expose_secret()
                )))
            }
            _ => None,
        };
        let http = reqwest::Client::builder()
            .timeout(m.timeout)
            .connect_timeout(m.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("revokd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::invalid(at("transmitter"), e.to_string()))?;
        Ok(Some(Self {
            settings: m.clone(),
            credentials,
            push_authorization,
            poll_url: s.poll_url.clone(),
            http,
            state: Mutex::new(Managed::default()),
            wake: tokio::sync::Notify::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Managed> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of what is known.
    pub(super) fn snapshot(&self) -> Managed {
        self.lock().clone()
    }

    /// Whether a SET of `event_type` is one revokd asked for and the
    /// transmitter said it delivers (before the stream is set up: asked for).
    pub(super) fn accepts(&self, event_type: &str) -> bool {
        let requested = self
            .settings
            .events_requested
            .iter()
            .any(|e| e == event_type);
        requested
            && self
                .lock()
                .events_delivered
                .as_ref()
                .is_none_or(|delivered| delivered.iter().any(|e| e == event_type))
    }

    /// A verification event arrived with `state`: true when it answers the
    /// one revokd asked for.
    pub(super) fn answer_verification(&self, state: Option<&str>, now: UnixTime) -> bool {
        let mut managed = self.lock();
        match (&managed.pending_state, state) {
            (Some(pending), Some(state)) if pending.as_bytes().ct_eq(state.as_bytes()).into() => {
                managed.pending_state = None;
                managed.verified_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// A `stream-updated` event arrived: read the status again.
    pub(super) fn stream_updated(&self) {
        self.wake.notify_one();
    }

    /// The `Authorization` header value for the management endpoints.
    async fn authorization(
        &self,
        stream: &str,
        metrics: &ManagementMetrics,
    ) -> Result<String, String> {
        match &self.credentials {
            Credentials::Bearer(token) => Ok(format!("Bearer {}", token.expose_secret())),
            Credentials::Client {
                token_endpoint,
                client_id,
                secret,
                scope,
                cached,
            } => {
                let mut cached = cached.lock().await;
                if let Some((token, until)) = cached.as_ref()
                    && std::time::Instant::now() < *until
                {
                    return Ok(format!("Bearer {}", token.expose_secret()));
                }
                let mut form = vec![("grant_type", "client_credentials")];
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                let result = async {
                    let response = self
                        .http
                        .post(token_endpoint)
                        .basic_auth(client_id, Some(secret.expose_secret()))
                        .form(&form)
                        .send()
                        .await
                        .map_err(|e| format!("POST {token_endpoint}: {}", e.without_url()))?;
                    let body: Value = read_json(response, token_endpoint).await?;
                    let token = body["access_token"]
                        .as_str()
                        .ok_or_else(|| format!("POST {token_endpoint}: no access_token"))?
                        .to_owned();
                    // Renewed a minute before it expires (default lifetime
                    // when none is given: five minutes).
                    let lifetime = body["expires_in"].as_u64().unwrap_or(300);
                    let until = std::time::Instant::now()
                        + std::time::Duration::from_secs(lifetime.saturating_sub(60));
                    Ok::<_, String>((token, until))
                }
                .await;
                metrics.count(stream, "token", result.is_ok());
                let (token, until) = result?;
                let header = format!("Bearer {token}");
                *cached = Some((SecretString::from(token), until));
                Ok(header)
            }
        }
    }

    /// Reads the metadata, finds or creates the stream, sets its delivery
    /// and events, reads its status. The first failure is returned.
    async fn set_up(&self, stream: &Stream, metrics: &ManagementMetrics) -> Result<(), String> {
        let name = &stream.name;
        let metadata = self.read_metadata(name, metrics).await?;
        let configuration_endpoint = metadata.configuration_endpoint.clone().ok_or(
            "the transmitter's configuration has no `configuration_endpoint`: its stream cannot be managed",
        )?;
        let method = match self.settings.delivery {
            Delivery::Push => PUSH_METHOD,
            Delivery::Poll => POLL_METHOD,
        };
        if let Some(methods) = &metadata.delivery_methods_supported
            && !methods.iter().any(|m| m == method)
        {
            return Err(format!(
                "the transmitter does not support delivery `{method}` (delivery_methods_supported: {})",
                methods.join(", ")
            ));
        }
        let mut warnings = Vec::new();
        let auth = self.authorization(name, metrics).await?;
        let existing = {
            let result = self.list_streams(&configuration_endpoint, &auth).await;
            metrics.count(name, "configuration", result.is_ok());
            result?
        };
        let known_id = self.lock().stream_id.clone();
        let ours = self.find_ours(&existing, known_id.as_deref());
        let mut delivery = serde_json::json!({ "method": method });
        if let (Some(url), Some(header)) =
            (&self.settings.push_endpoint_url, &self.push_authorization)
        {
            delivery["endpoint_url"] = Value::from(url.clone());
            delivery["authorization_header"] = Value::from(header.expose_secret());
        }
        let mut body = serde_json::json!({
            "delivery": delivery,
            "events_requested": self.settings.events_requested,
        });
        let (verb, what) = match &ours {
            Some(id) => {
                body["stream_id"] = Value::from(id.clone());
                (reqwest::Method::PATCH, "update")
            }
            None => {
                body["description"] = Value::from(format!("revokd stream `{name}`"));
                (reqwest::Method::POST, "create")
            }
        };
        let result = async {
            let response = self
                .http
                .request(verb.clone(), &configuration_endpoint)
                .header(reqwest::header::AUTHORIZATION, &auth)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("{verb} {configuration_endpoint}: {}", e.without_url()))?;
            let config: StreamConfiguration = read_json(response, &configuration_endpoint)
                .await
                .map_err(|e| format!("cannot {what} the stream: {e}"))?;
            Ok::<_, String>(config)
        }
        .await;
        metrics.count(name, "configuration", result.is_ok());
        let config = result?;
        if let (Some(poll_url), Some(endpoint)) = (
            &self.poll_url,
            config
                .delivery
                .as_ref()
                .and_then(|d| d.endpoint_url.as_ref()),
        ) && self.settings.delivery == Delivery::Poll
            && poll_url != endpoint
        {
            warnings.push(format!(
                "the transmitter polls at `{endpoint}`, not at poll_url `{poll_url}`: set poll_url to it"
            ));
        }
        if let Some(method_now) = config.delivery.as_ref().and_then(|d| d.method.as_ref())
            && method_now != method
        {
            warnings.push(format!(
                "the stream's delivery is `{method_now}`, not `{method}`"
            ));
        }
        let missing: Vec<String> = match &config.events_delivered {
            Some(delivered) => self
                .settings
                .events_requested
                .iter()
                .filter(|e| !delivered.contains(e))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        if !missing.is_empty() {
            tracing::warn!(stream = %name, missing = ?missing, "the transmitter does not deliver every event revokd asked for");
        }
        tracing::info!(stream = %name, stream_id = %config.stream_id, action = what, "SSF stream configured at the transmitter");
        {
            let mut managed = self.lock();
            managed.stream_id = Some(config.stream_id.clone());
            managed.events_delivered = config.events_delivered.clone();
            managed.missing_events = missing;
            managed.warnings = warnings;
            managed.metadata = Some(metadata);
        }
        self.read_status(stream, metrics).await
    }

    async fn read_metadata(
        &self,
        name: &str,
        metrics: &ManagementMetrics,
    ) -> Result<Metadata, String> {
        let url = well_known_url(&self.settings.transmitter);
        let result = async {
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", e.without_url()))?;
            let metadata: Metadata = read_json(response, &url).await?;
            // SSF 1.0 §7.2: the issuer returned must be the one the URL
            // was made from, byte for byte.
            if metadata.issuer != self.settings.transmitter {
                return Err(format!(
                    "GET {url}: its issuer `{}` is not `{}`",
                    metadata.issuer, self.settings.transmitter
                ));
            }
            Ok(metadata)
        }
        .await;
        metrics.count(name, "metadata", result.is_ok());
        result
    }

    /// `GET configuration_endpoint`: the receiver's streams (an array, or
    /// one stream object).
    async fn list_streams(&self, endpoint: &str, auth: &str) -> Result<Vec<Value>, String> {
        let response = self
            .http
            .get(endpoint)
            .header(reqwest::header::AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| format!("GET {endpoint}: {}", e.without_url()))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body: Value = read_json(response, endpoint).await?;
        Ok(match body {
            Value::Array(all) => all,
            Value::Object(_) => vec![body],
            _ => return Err(format!("GET {endpoint}: not a stream list")),
        })
    }

    /// Our stream among the receiver's: the one revokd knew, else the one
    /// delivering to our push URL, else the only one (a transmitter
    /// scopes streams to the receiver that authenticates).
    fn find_ours(&self, streams: &[Value], known: Option<&str>) -> Option<String> {
        let id = |s: &Value| s["stream_id"].as_str().map(str::to_owned);
        if let Some(known) = known
            && let Some(found) = streams.iter().find(|s| s["stream_id"] == known)
        {
            return id(found);
        }
        if let Some(url) = &self.settings.push_endpoint_url
            && let Some(found) = streams
                .iter()
                .find(|s| s["delivery"]["endpoint_url"].as_str() == Some(url))
        {
            return id(found);
        }
        match streams {
            [only] => id(only),
            _ => None,
        }
    }

    /// `GET status_endpoint?stream_id=…` (SSF 1.0 §8.1.2.1).
    async fn read_status(
        &self,
        stream: &Stream,
        metrics: &ManagementMetrics,
    ) -> Result<(), String> {
        let (endpoint, id) = {
            let managed = self.lock();
            (
                managed
                    .metadata
                    .as_ref()
                    .and_then(|m| m.status_endpoint.clone()),
                managed.stream_id.clone(),
            )
        };
        let (Some(endpoint), Some(id)) = (endpoint, id) else {
            // No status endpoint: the status comes only from
            // `stream-updated` events.
            return Ok(());
        };
        let auth = self.authorization(&stream.name, metrics).await?;
        let result = async {
            let response = self
                .http
                .get(&endpoint)
                .query(&[("stream_id", &id)])
                .header(reqwest::header::AUTHORIZATION, &auth)
                .send()
                .await
                .map_err(|e| format!("GET {endpoint}: {}", e.without_url()))?;
            let body: Value = read_json(response, &endpoint).await?;
            Ok::<_, String>(
                body["status"]
                    .as_str()
                    .filter(|s| matches!(*s, "enabled" | "paused" | "disabled"))
                    .unwrap_or("unknown")
                    .to_owned(),
            )
        }
        .await;
        metrics.count(&stream.name, "status", result.is_ok());
        let status = result?;
        metrics.set_status(&stream.name, &status);
        if status != "enabled" {
            tracing::warn!(stream = %stream.name, status, "the transmitter reports the stream not enabled");
        }
        *stream
            .transmitter_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status);
        self.lock().status_read_at = Some(UnixTime::now());
        Ok(())
    }

    /// `POST verification_endpoint` with a new `state` (SSF 1.0 §8.1.4.2);
    /// the transmitter answers with a verification SET carrying it.
    pub(super) async fn request_verification(
        &self,
        stream: &str,
        metrics: &ManagementMetrics,
    ) -> Result<UnixTime, SignalError> {
        let unavailable = SignalError::Transmitter;
        let (endpoint, id) = {
            let managed = self.lock();
            let Some(id) = managed.stream_id.clone() else {
                return Err(unavailable(format!(
                    "the stream is not set up at the transmitter yet{}",
                    managed
                        .error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                )));
            };
            let endpoint = managed
                .metadata
                .as_ref()
                .and_then(|m| m.verification_endpoint.clone())
                .ok_or_else(|| {
                    unavailable("the transmitter has no verification_endpoint".into())
                })?;
            (endpoint, id)
        };
        let state = new_state();
        let auth = self
            .authorization(stream, metrics)
            .await
            .map_err(unavailable)?;
        // Pending before the request: the transmitter may push the answer
        // before it answers the request.
        let now = UnixTime::now();
        {
            let mut managed = self.lock();
            managed.pending_state = Some(state.clone());
            managed.verification_requested_at = Some(now);
        }
        let result = async {
            let response = self
                .http
                .post(&endpoint)
                .header(reqwest::header::AUTHORIZATION, &auth)
                .json(&serde_json::json!({ "stream_id": id, "state": state }))
                .send()
                .await
                .map_err(|e| format!("POST {endpoint}: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!(
                    "POST {endpoint}: status {}",
                    response.status().as_u16()
                ));
            }
            Ok(())
        }
        .await;
        metrics.count(stream, "verification", result.is_ok());
        result.map_err(unavailable)?;
        metrics
            .verification
            .with_label_values(&[stream, "requested"])
            .set(now.as_secs());
        tracing::info!(stream, "SSF verification requested");
        Ok(now)
    }

    /// Sets the stream up, then reads its status every `status_interval`
    /// and on `stream-updated`; after a failure, everything again after
    /// `retry_interval`.
    pub(super) async fn run(
        &self,
        stream: &Stream,
        metrics: &ManagementMetrics,
        cancel: &tokio_util::sync::CancellationToken,
    ) {
        let mut set_up = false;
        let mut verified_once = false;
        loop {
            let result = if set_up {
                self.read_status(stream, metrics).await
            } else {
                self.set_up(stream, metrics).await
            };
            let wait = match result {
                Ok(()) => {
                    set_up = true;
                    self.lock().error = None;
                    if self.settings.verify_at_start && !verified_once {
                        verified_once = true;
                        // The answer can only be judged with the provider's
                        // keys: give them a moment to load first.
                        for _ in 0..50 {
                            if stream.provider.loaded().is_some() {
                                break;
                            }
                            tokio::select! {
                                () = cancel.cancelled() => return,
                                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                            }
                        }
                        if let Err(err) = self.request_verification(&stream.name, metrics).await {
                            tracing::warn!(stream = %stream.name, error = %err, "SSF verification request failed");
                            self.lock().error = Some(err.to_string());
                        }
                    }
                    self.settings.status_interval
                }
                Err(err) => {
                    tracing::warn!(stream = %stream.name, error = %err, "SSF stream management failed");
                    if !set_up {
                        metrics.set_status(&stream.name, "unknown");
                    }
                    // A failed status read sets everything up again: the
                    // stream may have been deleted at the transmitter.
                    set_up = false;
                    self.lock().error = Some(err);
                    self.settings.retry_interval
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}

impl ManagementMetrics {
    fn count(&self, stream: &str, step: &str, ok: bool) {
        self.requests
            .with_label_values(&[stream, step, if ok { "ok" } else { "error" }])
            .inc();
    }

    pub(super) fn verified(&self, stream: &str, now: UnixTime) {
        self.verification
            .with_label_values(&[stream, "received"])
            .set(now.as_secs());
    }

    /// Both steps at 0 (never) for a managed stream, so the family exists.
    pub(super) fn start(&self, stream: &str) {
        for step in ["requested", "received"] {
            self.verification.with_label_values(&[stream, step]).set(0);
        }
        self.set_status(stream, "unknown");
    }
}

/// `https://host/path` → `https://host/.well-known/ssf-configuration/path`
/// (SSF 1.0 §7.2, RFC 8414 §3.1).
pub fn well_known_url(issuer: &str) -> String {
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    format!("{scheme}://{host}/.well-known/ssf-configuration{path}")
}

/// A JSON body of a successful response, bounded.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    url: &str,
) -> Result<T, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: status {}", status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(format!("{url}: the response is too large"));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(format!("{url}: the response is too large"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not the expected JSON: {e}"))
}

/// A fresh, unguessable verification `state`.
fn new_state() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("the system random source works");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_url_goes_between_host_and_path() {
        assert_eq!(
            well_known_url("https://tx.example"),
            "https://tx.example/.well-known/ssf-configuration"
        );
        assert_eq!(
            well_known_url("https://tx.example/"),
            "https://tx.example/.well-known/ssf-configuration"
        );
        assert_eq!(
            well_known_url("https://tx.example:8443/tenant/a"),
            "https://tx.example:8443/.well-known/ssf-configuration/tenant/a"
        );
    }
}

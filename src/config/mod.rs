//! Settings: embedded defaults (`config/default.toml`), then an optional
//! TOML file, then `REVOKD_*` environment variables, each layer overriding
//! the one before. Every error names the key it is about.
//!
//! [`Settings`] composes the settings type of each feature, and each of
//! those validates itself (`[forward_auth]` in `crate::gateway`,
//! `[backchannel]` and `[[providers]]` in `crate::oidc`, `[redis]` and
//! `[embedded]` in `crate::store`, `[tls]` in `crate::tls`, `[[keys]]` in
//! `crate::api_keys`) against [`error::ConfigError`], which sits below all
//! of them. Here remain the sections without a feature of their own and
//! the rules across sections (`lifetimes.token <= lifetimes.max_token_exp`,
//! `ops_listen != listen`, key quotas naming configured keys, unique
//! provider names and issuers).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::api_keys::{KeyRing, KeySettings};
use crate::gateway::ForwardAuthSettings;
use crate::providers::{BackchannelSettings, ProviderSettings};
use crate::store::{EmbeddedSettings, RedisSettings};

pub mod error;
pub mod secret_file;

pub use error::ConfigError;
pub use secret_file::{CREDENTIALS_PLACEHOLDER, read_secret_file};

/// The defaults, documented key by key; also what `revokd --help` points to.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Embedded,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// The store cannot be read: the token is not known to be active.
    Closed,
    /// The store cannot be read: let the request through, flagged.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    #[serde(default)]
    pub ops_listen: Option<SocketAddr>,
    pub store: StoreKind,
    /// Serve the admin web page at `/admin/` on `listen` (issue 16).
    pub admin_ui: bool,
    pub embedded: EmbeddedSettings,
    pub redis: RedisSettings,
    pub lifetimes: Lifetimes,
    pub sessions: SessionsSettings,
    pub check: CheckSettings,
    pub mirror: MirrorSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub keys: Vec<KeySettings>,
    pub backchannel: BackchannelSettings,
    pub providers: Vec<ProviderSettings>,
    /// `[[streams]]`: Shared Signals transmitters pushing SETs.
    pub streams: Vec<crate::providers::StreamSettings>,
    /// `[[global_token_revocation]]`: providers calling Universal Logout.
    pub global_token_revocation: Vec<crate::providers::GlobalTokenRevocationSettings>,
    /// `[[scim]]`: identity providers provisioning users over SCIM 2.0.
    pub scim: Vec<crate::providers::scim_settings::ScimClientSettings>,
    pub forward_auth: ForwardAuthSettings,
    pub events: EventsSettings,
    /// TLS on `listen` (`ops_listen` stays plain HTTP).
    pub tls: crate::tls::TlsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    #[serde(with = "humantime_serde")]
    pub token: Duration,
    #[serde(with = "humantime_serde")]
    pub session: Duration,
    #[serde(with = "humantime_serde")]
    pub revoked_before: Duration,
    #[serde(with = "humantime_serde")]
    pub max_token_exp: Duration,
}

/// `[sessions]`: bounds of the session registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSettings {
    pub max_token_ids_per_registration: usize,
    pub max_token_ids_per_session: usize,
    /// Live token ids one client key may hold registered at once, over all
    /// its sessions (0: no limit).
    pub max_token_ids_per_key: usize,
    pub client_token_ids_per_second: u32,
    pub client_token_ids_burst: u32,
    pub key_quotas: Vec<crate::quota::KeyQuotaSettings>,
}

/// A configured volume limit: 0 means none.
pub fn volume_limit(configured: usize) -> usize {
    if configured == 0 {
        usize::MAX
    } else {
        configured
    }
}

impl SessionsSettings {
    pub fn limits(&self) -> crate::domain::RegistrationLimits {
        crate::domain::RegistrationLimits {
            per_registration: self.max_token_ids_per_registration,
            per_session: self.max_token_ids_per_session,
            per_key: volume_limit(self.max_token_ids_per_key),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    pub fail_mode: FailMode,
    pub require_client_key: bool,
    pub source: CheckSource,
}

/// Where checks read their facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckSource {
    /// The in-memory mirror (see `crate::mirror`).
    Mirror,
    /// The store, one round trip per check.
    Store,
}

/// `[events]`: the `/v1/events` stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSettings {
    /// A comment line this often keeps proxies from closing an idle stream.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How often the audit log is read for events written by other
    /// instances (writes made here are seen at once).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Events a stream may fall behind before it catches up from the store.
    pub buffer: usize,
    /// Open streams per instance (503 + `Retry-After` beyond).
    pub max_streams: usize,
    /// Open streams per API key (429 + `Retry-After` beyond).
    pub max_streams_per_key: usize,
}

/// `[mirror]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSettings {
    #[serde(with = "humantime_serde")]
    pub max_staleness: Duration,
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Longest wait between two attempts to reconnect the change feed.
    #[serde(with = "humantime_serde")]
    pub reconnect_delay_max: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub body_limit: usize,
    pub workers: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Longest a request body may take to arrive (408 beyond).
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Request bodies read at once (503 + `Retry-After` beyond).
    pub max_body_requests: usize,
    /// Open connections per listener, all workers together; further ones
    /// wait in the listen backlog.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl Settings {
    /// Loads defaults, then `file` if given, then the environment, and
    /// validates the result.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(
            file,
            Env::prefixed("REVOKD_").split("__").ignore(&["config"]),
        )
    }

    /// [`Settings::load`] with the environment provider given, for tests.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            // `file_exact` would report a missing file too, but this names it
            // in plain words, with the operating system's reason.
            std::fs::File::open(path).map_err(|source| ConfigError::File {
                path: path.to_owned(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|err| unknown_variable(&err).unwrap_or_else(|| Box::new(err).into()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules no type can express.
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("lifetimes.token", self.lifetimes.token),
            ("lifetimes.session", self.lifetimes.session),
            ("lifetimes.revoked_before", self.lifetimes.revoked_before),
            ("lifetimes.max_token_exp", self.lifetimes.max_token_exp),
            ("mirror.max_staleness", self.mirror.max_staleness),
            ("mirror.sweep_interval", self.mirror.sweep_interval),
            (
                "mirror.reconnect_delay_max",
                self.mirror.reconnect_delay_max,
            ),
            ("events.heartbeat", self.events.heartbeat),
            ("events.poll_interval", self.events.poll_interval),
            (
                "backchannel.pending_retry_interval",
                self.backchannel.pending_retry_interval,
            ),
            ("http.body_timeout", self.http.body_timeout),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::invalid(key, "must be longer than zero"));
            }
        }
        if self.lifetimes.token > self.lifetimes.max_token_exp {
            return Err(ConfigError::invalid(
                "lifetimes.token",
                "must not exceed lifetimes.max_token_exp",
            ));
        }
        if self.http.body_limit < 1024 {
            return Err(ConfigError::invalid(
                "http.body_limit",
                "must be at least 1024 bytes",
            ));
        }
        if self.http.max_body_requests == 0 {
            return Err(ConfigError::invalid(
                "http.max_body_requests",
                "must be at least 1",
            ));
        }
        if self.http.max_connections <= self.http.max_body_requests {
            return Err(ConfigError::invalid(
                "http.max_connections",
                "must exceed http.max_body_requests, or bodies could take every connection",
            ));
        }
        if self.events.buffer == 0 {
            return Err(ConfigError::invalid("events.buffer", "must be at least 1"));
        }
        if self.events.max_streams_per_key == 0 {
            return Err(ConfigError::invalid(
                "events.max_streams_per_key",
                "must be at least 1",
            ));
        }
        if self.events.max_streams < self.events.max_streams_per_key {
            return Err(ConfigError::invalid(
                "events.max_streams",
                "must be at least events.max_streams_per_key",
            ));
        }
        let sessions = &self.sessions;
        if sessions.max_token_ids_per_registration == 0 {
            return Err(ConfigError::invalid(
                "sessions.max_token_ids_per_registration",
                "must be at least 1",
            ));
        }
        if sessions.max_token_ids_per_session < sessions.max_token_ids_per_registration {
            return Err(ConfigError::invalid(
                "sessions.max_token_ids_per_session",
                "must be at least sessions.max_token_ids_per_registration",
            ));
        }
        // A burst smaller than one registration would refuse it forever.
        let too_small = |burst: u32, rate: u32| {
            rate > 0
                && usize::try_from(burst).unwrap_or(usize::MAX)
                    < sessions.max_token_ids_per_registration
        };
        if too_small(
            sessions.client_token_ids_burst,
            sessions.client_token_ids_per_second,
        ) {
            return Err(ConfigError::invalid(
                "sessions.client_token_ids_burst",
                "must be at least sessions.max_token_ids_per_registration",
            ));
        }
        // A volume smaller than one registration would refuse a full one
        // from an empty key.
        let too_little =
            |volume: usize| volume > 0 && volume < sessions.max_token_ids_per_registration;
        if too_little(sessions.max_token_ids_per_key) {
            return Err(ConfigError::invalid(
                "sessions.max_token_ids_per_key",
                "must be 0 (no limit) or at least sessions.max_token_ids_per_registration",
            ));
        }
        for (i, quota) in sessions.key_quotas.iter().enumerate() {
            if quota.max_token_ids.is_some_and(too_little) {
                return Err(ConfigError::invalid(
                    format!("sessions.key_quotas[{i}].max_token_ids"),
                    "must be 0 (no limit) or at least sessions.max_token_ids_per_registration",
                ));
            }
            if !self.keys.iter().any(|k| k.name == quota.key) {
                return Err(ConfigError::invalid(
                    format!("sessions.key_quotas[{i}].key"),
                    format!("no key is named `{}`", quota.key),
                ));
            }
            if too_small(quota.token_ids_burst, quota.token_ids_per_second) {
                return Err(ConfigError::invalid(
                    format!("sessions.key_quotas[{i}].token_ids_burst"),
                    "must be at least sessions.max_token_ids_per_registration",
                ));
            }
        }
        self.embedded.validate()?;
        self.redis.validate(self.store == StoreKind::Redis)?;
        self.tls.validate()?;
        // A page nobody can sign in to would only widen the surface.
        if self.admin_ui
            && !self
                .keys
                .iter()
                .any(|k| k.role == crate::api_keys::Role::Admin)
        {
            return Err(ConfigError::invalid(
                "admin_ui",
                "needs at least one [[keys]] entry with role = \"admin\": the page signs in with an admin key",
            ));
        }
        if self.ops_listen == Some(self.listen) {
            return Err(ConfigError::invalid(
                "ops_listen",
                "must differ from listen",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| ConfigError::invalid("log.filter", e.to_string()))?;
        self.key_ring()?;
        self.backchannel.validate()?;
        for (i, p) in self.providers.iter().enumerate() {
            p.validate(i)?;
            let at = |field: &str| format!("providers[{i}].{field}");
            if self.providers[..i].iter().any(|q| q.name == p.name) {
                return Err(ConfigError::invalid(
                    at("name"),
                    format!("`{}` is used twice", p.name),
                ));
            }
            if self.providers[..i].iter().any(|q| q.issuer == p.issuer) {
                return Err(ConfigError::invalid(
                    at("issuer"),
                    "two providers have this issuer",
                ));
            }
        }
        self.validate_signals()?;
        crate::providers::scim_settings::validate_all(&self.scim)?;
        self.forward_auth.validate()?;
        Ok(())
    }

    /// `[[streams]]` and `[[global_token_revocation]]`: each entry, unique
    /// names, and a configured provider behind each.
    fn validate_signals(&self) -> Result<(), ConfigError> {
        let known = |name: &str| self.providers.iter().any(|p| p.name == name);
        for (i, s) in self.streams.iter().enumerate() {
            s.validate(i)?;
            if self.streams[..i].iter().any(|q| q.name == s.name) {
                return Err(ConfigError::invalid(
                    format!("streams[{i}].name"),
                    format!("`{}` is used twice", s.name),
                ));
            }
            if !known(&s.provider) {
                return Err(ConfigError::invalid(
                    format!("streams[{i}].provider"),
                    format!("no [[providers]] entry is named `{}`", s.provider),
                ));
            }
        }
        for (i, g) in self.global_token_revocation.iter().enumerate() {
            g.validate(i)?;
            let at = format!("global_token_revocation[{i}].provider");
            if self.global_token_revocation[..i]
                .iter()
                .any(|q| q.provider == g.provider)
            {
                return Err(ConfigError::invalid(
                    at,
                    format!("`{}` is used twice", g.provider),
                ));
            }
            if !known(&g.provider) {
                return Err(ConfigError::invalid(
                    at,
                    format!("no [[providers]] entry is named `{}`", g.provider),
                ));
            }
        }
        Ok(())
    }

    /// The API keys, read and hashed.
    ///
    /// # Errors
    /// A key that is too short, has no or several sources, a duplicate name,
    /// or an unreadable key file.
    pub fn key_ring(&self) -> Result<KeyRing, ConfigError> {
        KeyRing::from_settings(&self.keys)
    }
}

/// The environment variable behind an "unknown field" error, if one is,
/// with the nearest configuration key as a suggestion.
fn unknown_variable(err: &figment::Error) -> Option<ConfigError> {
    let err = err.clone().into_iter().find(|e| {
        matches!(e.kind, figment::error::Kind::UnknownField(..))
            && e.metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment variable"))
    })?;
    let figment::error::Kind::UnknownField(_, siblings) = &err.kind else {
        return None;
    };
    let variable_of = |path: &[String]| format!("REVOKD_{}", path.join("__").to_ascii_uppercase());
    let expected = variable_of(&err.path);
    // The name as it was set (the prefix is matched in any case).
    let variable = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .find(|name| name.to_ascii_uppercase() == expected)
        .unwrap_or_else(|| expected.clone());
    let parent = &err.path[..err.path.len().saturating_sub(1)];
    let mut candidates: Vec<String> = siblings
        .iter()
        .map(|field| {
            let mut path = parent.to_vec();
            path.push((*field).to_owned());
            variable_of(&path)
        })
        .collect();
    candidates.extend(default_key_paths().iter().map(|path| variable_of(path)));
    Some(ConfigError::UnknownVariable {
        variable,
        key: err.path.join("."),
        suggestion: nearest(&expected, &candidates),
    })
}

/// Every key path of the documented defaults (`config/default.toml`).
fn default_key_paths() -> Vec<Vec<String>> {
    fn walk(dict: &figment::value::Dict, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for (key, value) in dict {
            let mut path = prefix.to_vec();
            path.push(key.clone());
            if let figment::value::Value::Dict(_, inner) = value {
                walk(inner, &path, out);
            }
            out.push(path);
        }
    }
    use figment::Provider;
    let mut out = Vec::new();
    if let Ok(data) = Toml::string(DEFAULT_TOML).data() {
        for dict in data.values() {
            walk(dict, &[], &mut out);
        }
    }
    out
}

/// The candidate closest to `name` by edit distance, if close enough to be
/// a likely typo (at most a third of the key's length, and at least 2).
fn nearest(name: &str, candidates: &[String]) -> Option<String> {
    let allowed = (name.len().saturating_sub("REVOKD_".len()) / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Levenshtein distance over bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// One paragraph saying what a configuration will do, for `check-config`.
/// Holds no secret.
pub fn summary(settings: &Settings) -> String {
    let store = match settings.store {
        StoreKind::Embedded => format!("embedded store in {}", settings.embedded.path.display()),
        StoreKind::Redis => format!(
            "Redis store{}, key prefix {:?}",
            if settings.redis.tls.is_set()
                || crate::store::is_tls_redis_url(settings.redis.url.expose_secret())
            {
                " over TLS"
            } else {
                ""
            },
            settings.redis.key_prefix
        ),
    };
    let scheme = if settings.tls.files().is_some() {
        "https"
    } else {
        "http"
    };
    let ops = settings
        .ops_listen
        .map_or_else(|| "on the same listener".to_owned(), |a| format!("on {a}"));
    let admins = settings
        .keys
        .iter()
        .filter(|k| k.role == crate::api_keys::Role::Admin)
        .count();
    let clients = settings.keys.len() - admins;
    let fail_mode = match settings.check.fail_mode {
        FailMode::Closed => "closed",
        FailMode::Open => "open",
    };
    format!(
        "configuration is valid\n  listen: {scheme}://{}\n  health and metrics: {ops}\n  store: {store}\n  keys: {admins} admin, {clients} client\n  checks: fail {fail_mode}, client key {}",
        settings.listen,
        if settings.check.require_client_key {
            "required"
        } else {
            "not required"
        },
    )
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its (large) error type
mod tests;

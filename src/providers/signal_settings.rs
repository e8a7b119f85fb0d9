//! `[[streams]]` (Shared Signals receiver streams) and
//! `[[global_token_revocation]]` (Okta Universal Logout callers): the
//! settings of the signal endpoints, each naming the `[[providers]]` entry
//! whose issuer and keys judge what arrives. Each validates itself; the
//! cross-entry rules (unique names, a configured provider) are
//! [`crate::config::Settings`]'s.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::error::ConfigError;

/// The simple RFC 9493 formats a stream may declare to carry the
/// provider's `sub` itself.
pub const SIMPLE_FORMATS: [&str; 6] = ["opaque", "email", "phone_number", "did", "uri", "account"];

fn default_formats() -> Vec<String> {
    vec!["opaque".to_owned()]
}

fn default_max_set_age() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_max_caller_token_age() -> Duration {
    Duration::from_secs(300)
}

/// One `[[streams]]` entry: a Shared Signals transmitter pushing SETs to
/// `POST /ssf/push/{name}` (RFC 8935).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Short name: in the push URL, logs, metrics and the audit actor
    /// (`ssf:<name>`).
    pub name: String,
    /// The `[[providers]]` entry whose issuer the SETs' `iss` must be and
    /// whose JWK Set signs them; every subject maps to its issuer.
    pub provider: String,
    /// The `aud` values the SETs carry (the stream's audience at the
    /// transmitter): `aud` must name only these.
    pub audience: Vec<String>,
    /// SHA-256 (hex) of the bearer token the transmitter sends in
    /// `Authorization` (the stream's `authorization_header`).
    #[serde(default)]
    pub push_token_sha256: Option<String>,
    /// Or a file holding that token (systemd credentials).
    #[serde(default)]
    pub push_token_file: Option<PathBuf>,
    /// Simple subject formats whose value is the provider's `sub`.
    #[serde(default = "default_formats")]
    pub subject_formats_as_sub: Vec<String>,
    /// Oldest SET `iat` accepted: how long a transmitter may retry.
    #[serde(default = "default_max_set_age", with = "humantime_serde")]
    pub max_set_age: Duration,
    /// Poll delivery (RFC 8936): the transmitter's poll endpoint. With it,
    /// revokd polls (and the push token becomes optional).
    #[serde(default)]
    pub poll_url: Option<String>,
    /// The bearer token revokd presents when polling (a file: systemd
    /// credentials). Required with `poll_url`.
    #[serde(default)]
    pub poll_token_file: Option<PathBuf>,
    /// `maxEvents` of each poll.
    #[serde(default = "default_poll_max_events")]
    pub poll_max_events: usize,
    /// How long one (long) poll may take before it is abandoned and made
    /// again (`returnImmediately` is false).
    #[serde(default = "default_poll_timeout", with = "humantime_serde")]
    pub poll_timeout: Duration,
    /// Pause after a failed poll before the next.
    #[serde(default = "default_poll_retry", with = "humantime_serde")]
    pub poll_retry_interval: Duration,
    /// Allow an `http://` poll URL that is not on loopback.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// SSF stream management (`[streams.management]`): revokd reads the
    /// transmitter's configuration and creates, updates, verifies and
    /// watches its stream there. Absent: the stream is configured at the
    /// transmitter by hand, as before.
    #[serde(default)]
    pub management: Option<StreamManagementSettings>,
}

/// The events revokd asks a managed stream for by default: every CAEP and
/// RISC event that changes a revocation.
pub const DEFAULT_EVENTS_REQUESTED: [&str; 9] = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
    "https://schemas.openid.net/secevent/risc/event-type/tokens-revoked",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
];

fn default_events_requested() -> Vec<String> {
    DEFAULT_EVENTS_REQUESTED.map(str::to_owned).to_vec()
}

fn default_status_interval() -> Duration {
    Duration::from_secs(300)
}

fn default_management_retry() -> Duration {
    Duration::from_secs(30)
}

fn default_management_timeout() -> Duration {
    Duration::from_secs(10)
}

fn yes() -> bool {
    true
}

/// How revokd delivers a managed stream's SETs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// RFC 8935: the transmitter pushes to `push_endpoint_url` with the
    /// stream's push token as `authorization_header`.
    Push,
    /// RFC 8936: revokd polls `poll_url`.
    Poll,
}

/// `[streams.management]`: the transmitter whose stream revokd manages as
/// a receiver (OpenID SSF 1.0 §6, §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamManagementSettings {
    /// The transmitter's issuer: its configuration is read from
    /// `/.well-known/ssf-configuration` under it, and its `issuer` must be
    /// this, byte for byte.
    pub transmitter: String,
    /// A file holding the bearer token revokd presents to the
    /// transmitter's management endpoints (systemd credentials). Or
    /// client credentials below.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// OAuth 2.0 client credentials grant: the token endpoint, the client
    /// id and a file holding its secret (sent with HTTP Basic).
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// `scope` of the client credentials grant, if the transmitter wants one.
    #[serde(default)]
    pub scope: Option<String>,
    /// `push` (needs `push_endpoint_url` and `push_token_file`) or `poll`
    /// (needs `poll_url`).
    pub delivery: Delivery,
    /// The URL the transmitter pushes to: this stream's
    /// `https://<revokd>/ssf/push/<name>` as the transmitter reaches it.
    #[serde(default)]
    pub push_endpoint_url: Option<String>,
    /// The event types revokd asks for (`events_requested`).
    #[serde(default = "default_events_requested")]
    pub events_requested: Vec<String>,
    /// How often the stream's status is read again.
    #[serde(default = "default_status_interval", with = "humantime_serde")]
    pub status_interval: Duration,
    /// Pause before trying again after the transmitter failed.
    #[serde(default = "default_management_retry", with = "humantime_serde")]
    pub retry_interval: Duration,
    /// Limit of one request to the transmitter.
    #[serde(default = "default_management_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Ask for a verification event once the stream is set up.
    #[serde(default = "yes")]
    pub verify_at_start: bool,
}

impl StreamManagementSettings {
    fn validate(&self, i: usize, stream: &StreamSettings) -> Result<(), ConfigError> {
        let at = |field: &str| format!("streams[{i}].management.{field}");
        super::settings::check_url(&self.transmitter, stream.allow_insecure_http)
            .map_err(|m| ConfigError::invalid(at("transmitter"), m))?;
        let client = (
            &self.token_endpoint,
            &self.client_id,
            &self.client_secret_file,
        );
        match (&self.token_file, client) {
            (Some(_), (None, None, None)) => {}
            (None, (Some(url), Some(id), Some(_))) => {
                super::settings::check_url(url, stream.allow_insecure_http)
                    .map_err(|m| ConfigError::invalid(at("token_endpoint"), m))?;
                if id.is_empty() {
                    return Err(ConfigError::invalid(at("client_id"), "must not be empty"));
                }
            }
            _ => {
                return Err(ConfigError::invalid(
                    at("token_file"),
                    "give either token_file, or token_endpoint + client_id + client_secret_file: the transmitter's endpoints are authenticated",
                ));
            }
        }
        match self.delivery {
            Delivery::Push => {
                let Some(url) = &self.push_endpoint_url else {
                    return Err(ConfigError::invalid(
                        at("push_endpoint_url"),
                        "push delivery needs the URL the transmitter pushes to",
                    ));
                };
                super::settings::check_url(url, stream.allow_insecure_http)
                    .map_err(|m| ConfigError::invalid(at("push_endpoint_url"), m))?;
                if stream.push_token_file.is_none() {
                    return Err(ConfigError::invalid(
                        format!("streams[{i}].push_token_file"),
                        "a managed push stream gives the transmitter its token: use push_token_file, not push_token_sha256",
                    ));
                }
            }
            Delivery::Poll => {
                if stream.poll_url.is_none() {
                    return Err(ConfigError::invalid(
                        format!("streams[{i}].poll_url"),
                        "a managed poll stream needs poll_url and poll_token_file",
                    ));
                }
            }
        }
        if self.events_requested.is_empty()
            || self
                .events_requested
                .iter()
                .any(|e| !e.starts_with("https://") && !e.starts_with("urn:"))
        {
            return Err(ConfigError::invalid(
                at("events_requested"),
                "give at least one event type URI",
            ));
        }
        if self.status_interval.is_zero() || self.retry_interval.is_zero() || self.timeout.is_zero()
        {
            return Err(ConfigError::invalid(
                at("status_interval"),
                "status_interval, retry_interval and timeout must be longer than zero",
            ));
        }
        Ok(())
    }
}

fn default_poll_max_events() -> usize {
    100
}

fn default_poll_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_poll_retry() -> Duration {
    Duration::from_secs(5)
}

/// One `[[global_token_revocation]]` entry: a provider calling
/// `POST /global-token-revocation/{provider}` with a JWT it signs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalTokenRevocationSettings {
    /// The `[[providers]]` entry that calls: its issuer is the caller
    /// token's `iss`, its JWK Set signs it, and subjects are its.
    pub provider: String,
    /// The caller token's `aud`: the endpoint's URL as configured at the
    /// provider (Okta: the app's "Logout endpoint URL").
    pub audience: Vec<String>,
    /// Simple subject formats whose value is the provider's `sub`.
    #[serde(default = "default_formats")]
    pub subject_formats_as_sub: Vec<String>,
    /// Oldest caller-token `iat` accepted.
    #[serde(default = "default_max_caller_token_age", with = "humantime_serde")]
    pub max_token_age: Duration,
}

fn check_name(at: &str, name: &str) -> Result<(), ConfigError> {
    let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(url_safe) {
        return Err(ConfigError::invalid(
            at,
            "use letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

fn check_audience(at: String, audience: &[String]) -> Result<(), ConfigError> {
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(ConfigError::invalid(
            at,
            "give at least one non-empty audience",
        ));
    }
    Ok(())
}

fn check_formats(at: String, formats: &[String]) -> Result<(), ConfigError> {
    match formats
        .iter()
        .find(|f| !SIMPLE_FORMATS.contains(&f.as_str()))
    {
        Some(bad) => Err(ConfigError::invalid(
            at,
            format!("`{bad}` is not one of {}", SIMPLE_FORMATS.join(", ")),
        )),
        None => Ok(()),
    }
}

impl StreamSettings {
    /// The rules of the `i`th `[[streams]]` entry alone.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let at = |field: &str| format!("streams[{i}].{field}");
        check_name(&at("name"), &self.name)?;
        check_name(&at("provider"), &self.provider)?;
        check_audience(at("audience"), &self.audience)?;
        check_formats(at("subject_formats_as_sub"), &self.subject_formats_as_sub)?;
        match (&self.push_token_sha256, &self.push_token_file) {
            (Some(hex), None) => {
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ConfigError::invalid(
                        at("push_token_sha256"),
                        "must be 64 hexadecimal characters (a SHA-256 digest)",
                    ));
                }
            }
            (None, Some(_)) => {}
            // A polled stream needs no push token.
            (None, None) if self.poll_url.is_some() => {}
            _ => {
                return Err(ConfigError::invalid(
                    at("push_token_sha256"),
                    "give exactly one of push_token_sha256 and push_token_file (or neither, with poll_url): pushes are always authenticated",
                ));
            }
        }
        if self.max_set_age.is_zero() {
            return Err(ConfigError::invalid(
                at("max_set_age"),
                "must be longer than zero",
            ));
        }
        if let Some(url) = &self.poll_url {
            super::settings::check_url(url, self.allow_insecure_http)
                .map_err(|m| ConfigError::invalid(at("poll_url"), m))?;
            if self.poll_token_file.is_none() {
                return Err(ConfigError::invalid(
                    at("poll_token_file"),
                    "poll_url needs the token revokd presents to the transmitter",
                ));
            }
            if self.poll_max_events == 0 {
                return Err(ConfigError::invalid(
                    at("poll_max_events"),
                    "must be at least 1",
                ));
            }
            if self.poll_timeout.is_zero() || self.poll_retry_interval.is_zero() {
                return Err(ConfigError::invalid(
                    at("poll_timeout"),
                    "poll_timeout and poll_retry_interval must be longer than zero",
                ));
            }
        }
        if let Some(management) = &self.management {
            management.validate(i, self)?;
        }
        Ok(())
    }
}

impl GlobalTokenRevocationSettings {
    /// The rules of the `i`th `[[global_token_revocation]]` entry alone.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let at = |field: &str| format!("global_token_revocation[{i}].{field}");
        check_name(&at("provider"), &self.provider)?;
        check_audience(at("audience"), &self.audience)?;
        check_formats(at("subject_formats_as_sub"), &self.subject_formats_as_sub)?;
        if self.max_token_age.is_zero() {
            return Err(ConfigError::invalid(
                at("max_token_age"),
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> StreamSettings {
        StreamSettings {
            name: "okta".into(),
            provider: "okta".into(),
            audience: vec!["https://revokd.example/ssf/push/okta".into()],
            push_token_sha256: Some("a".repeat(64)),
            push_token_file: None,
            subject_formats_as_sub: default_formats(),
            max_set_age: default_max_set_age(),
            poll_url: None,
            poll_token_file: None,
            poll_max_events: default_poll_max_events(),
            poll_timeout: default_poll_timeout(),
            poll_retry_interval: default_poll_retry(),
            allow_insecure_http: false,
            management: None,
        }
    }

    fn managed() -> StreamSettings {
        StreamSettings {
            push_token_sha256: None,
            push_token_file: Some("/run/push".into()),
            management: Some(StreamManagementSettings {
                transmitter: "https://tx.example".into(),
                token_file: Some("/run/tx".into()),
                token_endpoint: None,
                client_id: None,
                client_secret_file: None,
                scope: None,
                delivery: Delivery::Push,
                push_endpoint_url: Some("https://revokd.example/ssf/push/okta".into()),
                events_requested: default_events_requested(),
                status_interval: default_status_interval(),
                retry_interval: default_management_retry(),
                timeout: default_management_timeout(),
                verify_at_start: true,
            }),
            ..stream()
        }
    }

    fn m(s: &mut StreamSettings) -> &mut StreamManagementSettings {
        s.management.as_mut().unwrap()
    }

    #[test]
    fn each_management_rule_names_its_key() {
        managed().validate(0).unwrap();
        let cases: Breaks<StreamSettings> = vec![
            (
                |s| m(s).transmitter = "http://tx.example".into(),
                "streams[0].management.transmitter",
            ),
            (
                |s| m(s).token_file = None,
                "streams[0].management.token_file",
            ),
            (
                |s| m(s).client_id = Some("revokd".into()),
                "streams[0].management.token_file",
            ),
            (
                |s| m(s).push_endpoint_url = None,
                "streams[0].management.push_endpoint_url",
            ),
            (
                |s| {
                    s.push_token_file = None;
                    s.push_token_sha256 = Some("a".repeat(64));
                },
                "streams[0].push_token_file",
            ),
            (|s| m(s).delivery = Delivery::Poll, "streams[0].poll_url"),
            (
                |s| m(s).events_requested = vec![],
                "streams[0].management.events_requested",
            ),
            (
                |s| m(s).status_interval = Duration::ZERO,
                "streams[0].management.status_interval",
            ),
        ];
        for (break_it, key) in cases {
            let mut s = managed();
            break_it(&mut s);
            assert_eq!(key_of(s.validate(0)), key);
        }
        let mut client = managed();
        let mc = client.management.as_mut().unwrap();
        mc.token_file = None;
        mc.token_endpoint = Some("https://tx.example/token".into());
        mc.client_id = Some("revokd".into());
        mc.client_secret_file = Some("/run/secret".into());
        client.validate(0).unwrap();
    }

    fn caller() -> GlobalTokenRevocationSettings {
        GlobalTokenRevocationSettings {
            provider: "okta".into(),
            audience: vec!["https://revokd.example/global-token-revocation/okta".into()],
            subject_formats_as_sub: default_formats(),
            max_token_age: default_max_caller_token_age(),
        }
    }

    type Breaks<T> = Vec<(fn(&mut T), &'static str)>;

    fn key_of(result: Result<(), ConfigError>) -> String {
        let err = result.unwrap_err().to_string();
        err.split_whitespace()
            .find(|w| w.contains("streams[") || w.contains("global_token_revocation["))
            .unwrap_or(&err)
            .trim_matches(|c: char| c == '`' || c == ':')
            .to_owned()
    }

    #[test]
    fn a_valid_stream_and_caller_pass() {
        stream().validate(0).unwrap();
        caller().validate(0).unwrap();
    }

    #[test]
    fn each_stream_rule_names_its_key() {
        let cases: Breaks<StreamSettings> = vec![
            (|s| s.name = "a b".into(), "streams[0].name"),
            (|s| s.provider = String::new(), "streams[0].provider"),
            (|s| s.audience = vec![], "streams[0].audience"),
            (|s| s.audience = vec![String::new()], "streams[0].audience"),
            (
                |s| s.subject_formats_as_sub = vec!["iss_sub".into()],
                "streams[0].subject_formats_as_sub",
            ),
            (
                |s| s.push_token_sha256 = Some("xyz".into()),
                "streams[0].push_token_sha256",
            ),
            (
                |s| s.push_token_sha256 = None,
                "streams[0].push_token_sha256",
            ),
            (
                |s| s.push_token_file = Some("/run/token".into()),
                "streams[0].push_token_sha256",
            ),
            (|s| s.max_set_age = Duration::ZERO, "streams[0].max_set_age"),
            (
                |s| s.poll_url = Some("http://tx.example/poll".into()),
                "streams[0].poll_url",
            ),
            (
                |s| s.poll_url = Some("https://tx.example/poll".into()),
                "streams[0].poll_token_file",
            ),
            (
                |s| {
                    s.poll_url = Some("https://tx.example/poll".into());
                    s.poll_token_file = Some("/run/t".into());
                    s.poll_max_events = 0;
                },
                "streams[0].poll_max_events",
            ),
        ];
        for (break_it, key) in cases {
            let mut s = stream();
            break_it(&mut s);
            assert_eq!(key_of(s.validate(0)), key);
        }
    }

    #[test]
    fn each_caller_rule_names_its_key() {
        let cases: Breaks<GlobalTokenRevocationSettings> = vec![
            (
                |c| c.provider = "a/b".into(),
                "global_token_revocation[0].provider",
            ),
            (
                |c| c.audience = vec![],
                "global_token_revocation[0].audience",
            ),
            (
                |c| c.subject_formats_as_sub = vec!["complex".into()],
                "global_token_revocation[0].subject_formats_as_sub",
            ),
            (
                |c| c.max_token_age = Duration::ZERO,
                "global_token_revocation[0].max_token_age",
            ),
        ];
        for (break_it, key) in cases {
            let mut c = caller();
            break_it(&mut c);
            assert_eq!(key_of(c.validate(0)), key);
        }
    }
}

//! The rules of `[redis]`, kept beside the store that uses them so that
//! `check-config` and `serve` read a URL with the same parser.

use secrecy::ExposeSecret;

use super::RedisSettings;
use crate::config::error::ConfigError;

impl RedisSettings {
    /// The rules of `[redis]` alone. The URL, the sentinels and the TLS
    /// files are checked only when the store is `in_use`
    /// (`store = "redis"`), since the defaults leave the URL empty.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self, in_use: bool) -> Result<(), ConfigError> {
        for (key, value) in [
            ("redis.connect_timeout", self.connect_timeout),
            ("redis.command_timeout", self.command_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::invalid(key, "must be longer than zero"));
            }
        }
        if self.pool_size == 0 {
            return Err(ConfigError::invalid(
                "redis.pool_size",
                "must be at least 1",
            ));
        }
        if self.max_events == 0 {
            return Err(ConfigError::invalid(
                "redis.max_events",
                "must be at least 1",
            ));
        }
        if in_use {
            if self.url.expose_secret().trim().is_empty() {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "must be set when store = \"redis\"",
                ));
            }
            check_redis_url(self.url.expose_secret())
                .map_err(|m| ConfigError::invalid("redis.url", m))?;
            for (i, sentinel) in self.sentinels.iter().enumerate() {
                check_redis_url(sentinel)
                    .map_err(|m| ConfigError::invalid(format!("redis.sentinels[{i}]"), m))?;
            }
            self.validate_tls()?;
        }
        Ok(())
    }

    /// `[redis.tls]` files that load, and only with a `rediss://` URL.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let redis = self;
        redis
            .tls
            .certificates()
            .map_err(|bad| ConfigError::invalid(bad.key, bad.message))?;
        let any_tls = is_tls_redis_url(redis.url.expose_secret())
            || redis.sentinels.iter().any(|s| is_tls_redis_url(s));
        if redis.tls.is_set() && !any_tls {
            let key = if redis.tls.ca_file.is_some() {
                "redis.tls.ca_file"
            } else {
                "redis.tls.cert_file"
            };
            return Err(ConfigError::invalid(
                key,
                "is set, but no Redis URL is rediss:// (TLS); use rediss:// in redis.url (and redis.sentinels)",
            ));
        }
        Ok(())
    }
}

/// Whether `url` is a Redis URL `serve` can use: the same parser the store
/// uses, so that `check-config` and `serve` never disagree. The message
/// never repeats the URL, which may hold a password; it names the scheme
/// only when it is one (letters, digits, `+`, `-`, `.`).
pub fn check_redis_url(url: &str) -> Result<(), String> {
    use deadpool_redis::redis::IntoConnectionInfo;

    const FORM: &str =
        "redis://[user:password@]host[:port][/db] (rediss:// for TLS), or unix:///path/to/socket";
    let scheme = url.split_once("://").map(|(scheme, _)| scheme).filter(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match scheme.map(str::to_ascii_lowercase).as_deref() {
        None => return Err(format!("is not a URL; expected {FORM}")),
        Some("redis" | "rediss" | "valkey" | "valkeys" | "unix" | "redis+unix" | "valkey+unix") => {
        }
        Some(other) => {
            return Err(format!(
                "`{other}://` is not a Redis URL scheme; expected {FORM}"
            ));
        }
    }
    url.into_connection_info()
        .map(|_| ())
        .map_err(|err| format!("is not a usable Redis URL ({err}); expected {FORM}"))
}

/// Whether a Redis URL asks for TLS (`rediss://`, `valkeys://`).
pub fn is_tls_redis_url(url: &str) -> bool {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("rediss" | "valkeys"))
}

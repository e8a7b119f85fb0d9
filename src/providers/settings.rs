//! `[backchannel]` and `[[providers]]`: the settings of logout-token
//! judging and key fetching, each validating itself.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::error::ConfigError;
use crate::domain::Issuer;

/// `[backchannel]`: how logout tokens are judged and keys fetched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackchannelSettings {
    /// Oldest `iat` accepted (before skew).
    #[serde(with = "humantime_serde")]
    pub max_token_age: Duration,
    /// Tolerated difference between our clock and a provider's.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Refuse logout tokens without `exp` (strict mode).
    pub require_exp: bool,
    /// Refuse logout tokens whose `typ` is not `logout+jwt`.
    pub require_explicit_typ: bool,
    /// How often discovery and JWKS are fetched again.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh_interval: Duration,
    /// Least time between two fetches caused by unknown `kid`s, per provider.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refetch_interval: Duration,
    /// Time allowed for one discovery or JWKS fetch.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// Largest discovery document or JWKS accepted, in bytes.
    pub fetch_max_bytes: usize,
    /// How many recent logout tokens `/v1/admin/logout-tokens` shows.
    pub recent_tokens: usize,
    /// Most logout tokens kept (durably, in the store) while their
    /// provider's keys cannot verify them yet; 0 keeps none.
    pub pending_max_tokens: usize,
    /// Largest logout token that is kept, in bytes.
    pub pending_max_token_bytes: usize,
    /// How often kept logout tokens are tried again (also whenever a
    /// provider's keys load).
    #[serde(with = "humantime_serde")]
    pub pending_retry_interval: Duration,
}

/// One `[[providers]]` entry: an identity provider whose logout tokens
/// revokd accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Short name: in logs, metrics and `/backchannel-logout/{name}`.
    pub name: String,
    /// The provider's `iss`, exactly.
    pub issuer: String,
    /// revokd's (the app's) client ids at this provider: `aud` must hold one.
    pub client_ids: Vec<String>,
    /// Use this JWKS instead of the one discovery names.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Allowed signature algorithms; default: what discovery advertises
    /// for ID tokens.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// A private key (PEM or JWK file) for encrypted logout tokens.
    #[serde(default)]
    pub decryption_key_file: Option<PathBuf>,
    /// The key-management algorithm of that key, e.g. `RSA-OAEP-256`.
    #[serde(default)]
    pub decryption_alg: Option<String>,
    /// With a decryption key: refuse unencrypted logout tokens.
    #[serde(default)]
    pub require_encryption: bool,
    /// Allow an `http://` issuer that is not on loopback (logged as a warning).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl BackchannelSettings {
    /// The rules of `[backchannel]` alone.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("backchannel.max_token_age", self.max_token_age),
            (
                "backchannel.jwks_refresh_interval",
                self.jwks_refresh_interval,
            ),
            ("backchannel.fetch_timeout", self.fetch_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::invalid(key, "must be longer than zero"));
            }
        }
        if self.clock_skew >= self.max_token_age {
            return Err(ConfigError::invalid(
                "backchannel.clock_skew",
                "must be shorter than backchannel.max_token_age",
            ));
        }
        if self.fetch_max_bytes < 1024 {
            return Err(ConfigError::invalid(
                "backchannel.fetch_max_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}

impl ProviderSettings {
    /// The rules of one `[[providers]]` entry, the `i`th; the rules across
    /// entries (unique names and issuers) are [`crate::config::Settings`]'s.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let at = |field: &str| format!("providers[{i}].{field}");
        let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.name.is_empty() || !self.name.chars().all(url_safe) {
            return Err(ConfigError::invalid(
                at("name"),
                "use letters, digits, '-', '_' or '.'",
            ));
        }
        Issuer::parse(self.issuer.clone())
            .map_err(|e| ConfigError::invalid(at("issuer"), e.to_string()))?;
        check_url(&self.issuer, self.allow_insecure_http)
            .map_err(|m| ConfigError::invalid(at("issuer"), m))?;
        if let Some(uri) = &self.jwks_uri {
            check_url(uri, self.allow_insecure_http)
                .map_err(|m| ConfigError::invalid(at("jwks_uri"), m))?;
        }
        if self.client_ids.is_empty() || self.client_ids.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                at("client_ids"),
                "give at least one non-empty client id",
            ));
        }
        if self.decryption_key_file.is_some() != self.decryption_alg.is_some() {
            return Err(ConfigError::invalid(
                at("decryption_alg"),
                "decryption_key_file and decryption_alg go together",
            ));
        }
        if self.require_encryption && self.decryption_key_file.is_none() {
            return Err(ConfigError::invalid(
                at("require_encryption"),
                "needs decryption_key_file and decryption_alg",
            ));
        }
        Ok(())
    }
}

/// `https`, or `http` on a loopback host, or `http` anywhere when allowed.
pub(crate) fn check_url(url: &str, allow_insecure_http: bool) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return if url.starts_with("https://") {
            Ok(())
        } else {
            Err("must be an https:// URL".into())
        };
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || allow_insecure_http {
        Ok(())
    } else {
        Err(
            "must be https:// (http:// only on loopback, or with allow_insecure_http = true)"
                .into(),
        )
    }
}

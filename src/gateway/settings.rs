//! `[forward_auth]`: how a gateway's question is read and answered.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::path::OriginalPath;
use super::profile::ProfileKind;
use crate::config::error::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthSettings {
    /// The gateway must present a client (or admin) key in `key_header`.
    pub require_client_key: bool,
    /// Where the gateway puts its key. `Authorization` carries the user's
    /// token, so the key needs a header of its own.
    pub key_header: String,
    /// The profile used when no route matches.
    pub profile: ProfileKind,
    /// Also read the token from this cookie (empty: not read).
    pub cookie: String,
    /// Also read the token from this query parameter of the original URI
    /// (empty: not read).
    pub query_param: String,
    /// The answer for a request that carries no token.
    pub missing_token: MissingToken,
    /// Path prefixes answered 200 without looking for a token.
    pub skip: Vec<String>,
    /// Profiles by path prefix; the longest matching prefix wins.
    pub routes: Vec<RouteSettings>,
    /// Tolerated clock difference when judging `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    pub headers: HeaderSettings,
    pub jwt: JwtSettings,
}

impl ForwardAuthSettings {
    /// The rules of `[forward_auth]` alone.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let f = self;
        let header_name = |key: &str, name: &str| {
            actix_web::http::header::HeaderName::from_bytes(name.as_bytes())
                .map(|_| ())
                .map_err(|_| ConfigError::invalid(key, format!("`{name}` is not a header name")))
        };
        header_name("forward_auth.key_header", &f.key_header)?;
        if ["authorization", "cookie"].contains(&f.key_header.to_ascii_lowercase().as_str()) {
            return Err(ConfigError::invalid(
                "forward_auth.key_header",
                "must not be a header that carries the user's credentials",
            ));
        }
        let h = &f.headers;
        for (field, name) in [
            ("subject", &h.subject),
            ("issuer", &h.issuer),
            ("session", &h.session),
            ("token_id", &h.token_id),
        ] {
            if !name.is_empty() {
                header_name(&format!("forward_auth.headers.{field}"), name)?;
            }
        }
        let prefix = |key: String, p: &str| {
            // Compared with normalised paths, so it must be one itself.
            match OriginalPath::parse(p) {
                Some(normalised) if normalised.as_str() == p => Ok(()),
                _ => Err(ConfigError::invalid(
                    key,
                    format!("`{p}` is not a normalised absolute path (no `..`, `//`, `%`, `?`)"),
                )),
            }
        };
        for (i, p) in f.skip.iter().enumerate() {
            prefix(format!("forward_auth.skip[{i}]"), p)?;
        }
        for (i, r) in f.routes.iter().enumerate() {
            prefix(format!("forward_auth.routes[{i}].prefix"), &r.prefix)?;
        }
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !f.cookie.chars().all(token_char) {
            return Err(ConfigError::invalid(
                "forward_auth.cookie",
                "is not a cookie name",
            ));
        }
        // Key files and the provider name are checked when the verifier is
        // built (`Gate::new`), which `check-config` runs too.
        Ok(())
    }
}

/// What a request without any token gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingToken {
    /// 401: the route needs a token.
    Deny,
    /// 200: the app decides (revokd only refuses tokens it knows are dead).
    Allow,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    pub prefix: String,
    pub profile: ProfileKind,
}

/// Response headers set on a 200, from the claims of a token whose
/// signature revokd verified. An empty name sets nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSettings {
    pub subject: String,
    pub issuer: String,
    pub session: String,
    pub token_id: String,
}

/// Signature verification for the `jwt` profile: at most one of
/// `provider`, `jwks_file`, `hmac_secret_file`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// Verify with the keys of this `[[providers]]` entry; `iss` must be
    /// its issuer.
    pub provider: String,
    /// Verify with the public keys of this JWK Set file.
    pub jwks_file: Option<PathBuf>,
    /// Verify HS256/384/512 with the secret in this file.
    pub hmac_secret_file: Option<PathBuf>,
    /// Accepted `alg` values; empty: every one the keys allow (HS256 for a
    /// secret).
    pub algorithms: Vec<String>,
    /// With `jwks_file` or `hmac_secret_file`: the `iss` required, if any.
    pub issuer: String,
    /// When set, `aud` must hold one of these.
    pub audiences: Vec<String>,
}

impl JwtSettings {
    /// Whether any verification is configured.
    pub fn verifies(&self) -> bool {
        !self.provider.is_empty() || self.jwks_file.is_some() || self.hmac_secret_file.is_some()
    }
}

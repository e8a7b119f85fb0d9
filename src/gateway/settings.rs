//! `[forward_auth]`: how a gateway's question is read and answered.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::profile::ProfileKind;

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

//! The gateway's question, answered up to the look-up: which path, which
//! profile, which token, which identifiers.

use std::borrow::Cow;

use super::path::{OriginalPath, query_param};
use super::profile::{self, Identified, ProfileKind, TokenRefusal};
use super::settings::{ForwardAuthSettings, MissingToken};
use super::verify::{JwtVerifier, VerifyError};
use crate::config::error::ConfigError;
use crate::domain::UnixTime;
use crate::providers::Providers;

/// What the gateway reported about the original request. Raw bytes: the
/// HTTP layer does not judge them, this module does.
#[derive(Debug, Default, Clone, Copy)]
pub struct GateRequest<'a> {
    pub authorization: Option<&'a [u8]>,
    /// Every `Cookie` header.
    pub cookies: &'a [&'a [u8]],
    /// The original request target (`/path?query`), if the gateway sent it.
    pub original_uri: Option<&'a str>,
}

/// Why a request is let through, or what must be looked up.
// Made once per request and moved once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The path is on the skip list.
    Skipped,
    /// No token, and `missing_token = "allow"`.
    Anonymous,
    /// A token to look up.
    Token {
        profile: ProfileKind,
        identified: Identified,
    },
}

/// Why a request cannot be admitted.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// The gateway sent an original URI that cannot be read unambiguously.
    #[error("{0}")]
    BadUri(&'static str),
    #[error("{0}")]
    KeysUnavailable(String),
}

impl From<VerifyError> for GateError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Refused(refusal) => Self::Refused(refusal),
            VerifyError::KeysUnavailable(why) => Self::KeysUnavailable(why),
        }
    }
}

/// `[forward_auth]`, compiled.
pub struct Gate {
    settings: ForwardAuthSettings,
    /// Longest prefix first.
    routes: Vec<(String, ProfileKind)>,
    verifier: Option<JwtVerifier>,
}

impl Gate {
    /// # Errors
    /// The signature verification settings are unusable.
    pub fn new(settings: &ForwardAuthSettings, providers: &Providers) -> Result<Self, ConfigError> {
        let mut routes: Vec<(String, ProfileKind)> = settings
            .routes
            .iter()
            .map(|r| (r.prefix.clone(), r.profile))
            .collect();
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(Self {
            verifier: JwtVerifier::from_settings(&settings.jwt, providers)?,
            settings: settings.clone(),
            routes,
        })
    }

    pub fn settings(&self) -> &ForwardAuthSettings {
        &self.settings
    }

    /// Decides everything about `request` short of the look-up.
    ///
    /// # Errors
    /// See [`GateError`].
    pub async fn admit(
        &self,
        request: &GateRequest<'_>,
        now: UnixTime,
    ) -> Result<Admission, GateError> {
        let path = match request.original_uri {
            None => None,
            Some(uri) => Some(OriginalPath::parse(uri).ok_or(GateError::BadUri(
                "the original URI cannot be read unambiguously",
            ))?),
        };
        if let Some(path) = &path
            && self
                .settings
                .skip
                .iter()
                .any(|prefix| path.is_under(prefix))
        {
            return Ok(Admission::Skipped);
        }
        let profile = path
            .as_ref()
            .and_then(|path| {
                self.routes
                    .iter()
                    .find(|(prefix, _)| path.is_under(prefix))
                    .map(|(_, profile)| *profile)
            })
            .unwrap_or(self.settings.profile);
        let Some(token) = self.find_token(request)? else {
            return match self.settings.missing_token {
                MissingToken::Allow => Ok(Admission::Anonymous),
                MissingToken::Deny => Err(TokenRefusal::Missing.into()),
            };
        };
        let identified = self.identify(profile, &token, now).await?;
        Ok(Admission::Token {
            profile,
            identified,
        })
    }

    /// Reads `token` under `profile`, verifying it where configured.
    ///
    /// # Errors
    /// See [`GateError`].
    pub async fn identify(
        &self,
        profile: ProfileKind,
        token: &str,
        now: UnixTime,
    ) -> Result<Identified, GateError> {
        let mut identified = profile::identify(profile, token, now, self.settings.clock_skew)?;
        if let (ProfileKind::Jwt, Some(verifier), Some(claims)) =
            (profile, &self.verifier, &identified.claims)
        {
            verifier.verify(token, claims).await?;
            identified.verified = true;
        }
        Ok(identified)
    }

    /// The token, from the first source that has one: `Authorization:
    /// Bearer`, then the cookie, then the query parameter.
    fn find_token<'r>(&self, request: &GateRequest<'r>) -> Result<Option<Cow<'r, str>>, GateError> {
        let malformed = |why: &str| GateError::Refused(TokenRefusal::Malformed(why.into()));
        if let Some(value) = request.authorization {
            let value = std::str::from_utf8(value)
                .map_err(|_| malformed("the Authorization header is not text"))?;
            if let Some((scheme, token)) = value.trim().split_once(' ')
                && scheme.eq_ignore_ascii_case("bearer")
                && !token.trim().is_empty()
            {
                return Ok(Some(Cow::Borrowed(token.trim())));
            }
        }
        if !self.settings.cookie.is_empty() {
            for header in request.cookies {
                let header = std::str::from_utf8(header)
                    .map_err(|_| malformed("the Cookie header is not text"))?;
                if let Some(value) = cookie(header, &self.settings.cookie) {
                    return Ok(Some(Cow::Borrowed(value)));
                }
            }
        }
        if !self.settings.query_param.is_empty()
            && let Some(uri) = request.original_uri
            && let Some(value) = query_param(uri, &self.settings.query_param)
            && !value.is_empty()
        {
            return Ok(Some(value));
        }
        Ok(None)
    }
}

/// The value of cookie `name` in a `Cookie` header (RFC 6265 §4.2.1),
/// without surrounding double quotes.
fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::domain::TokenId;
    use crate::gateway::settings::RouteSettings;

    fn settings() -> ForwardAuthSettings {
        use figment::providers::Format;
        // The documented defaults, read here rather than through
        // `crate::config::Settings`, which sits above the gateway.
        figment::Figment::from(figment::providers::Toml::string(include_str!(
            "../../config/default.toml"
        )))
        .extract_inner("forward_auth")
        .unwrap()
    }

    fn gate(customise: impl FnOnce(&mut ForwardAuthSettings)) -> Gate {
        let mut s = settings();
        customise(&mut s);
        Gate::new(&s, &Providers::default()).unwrap()
    }

    fn ha_token(refresh_token_id: &str) -> String {
        let claims = json!({"iss": refresh_token_id, "iat": 1_800_000_000, "exp": 1_800_001_800});
        format!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    async fn admit(gate: &Gate, request: GateRequest<'_>) -> Result<Admission, GateError> {
        gate.admit(&request, UnixTime::from_secs(1_800_000_100))
            .await
    }

    fn token_id(admission: &Admission) -> Option<&TokenId> {
        match admission {
            Admission::Token { identified, .. } => identified.request.lookup().jti,
            _ => None,
        }
    }

    #[tokio::test]
    async fn skip_rules_and_routes_use_the_normalised_path() {
        let gate = gate(|s| {
            s.skip = vec!["/auth/".into(), "/api/webhook/".into()];
            s.routes = vec![
                RouteSettings {
                    prefix: "/api/".into(),
                    profile: ProfileKind::HomeAssistant,
                },
                RouteSettings {
                    prefix: "/api/opaque/".into(),
                    profile: ProfileKind::Opaque,
                },
            ];
        });
        let skipped = |uri| GateRequest {
            original_uri: Some(uri),
            ..Default::default()
        };
        for uri in ["/auth/authorize", "/api/webhook/abc?x=1", "//auth//token"] {
            assert_eq!(
                admit(&gate, skipped(uri)).await.unwrap(),
                Admission::Skipped,
                "{uri}"
            );
        }
        // Dot segments cannot smuggle a guarded path under a skipped one.
        for uri in [
            "/auth/../api/states",
            "/auth/%2e%2e/api/states",
            "/api/webhookx",
        ] {
            assert!(
                matches!(
                    admit(&gate, skipped(uri)).await,
                    Err(GateError::Refused(TokenRefusal::Missing))
                ),
                "{uri}"
            );
        }
        assert!(matches!(
            admit(&gate, skipped("/auth/%zz")).await,
            Err(GateError::BadUri(_))
        ));

        let bearer = format!("Bearer {}", ha_token("r1"));
        let request = |uri| GateRequest {
            authorization: Some(bearer.as_bytes()),
            original_uri: Some(uri),
            ..Default::default()
        };
        let ha = admit(&gate, request("/api/states")).await.unwrap();
        assert_eq!(token_id(&ha).map(AsRef::as_ref), Some("r1"));
        let opaque = admit(&gate, request("/api/opaque/x")).await.unwrap();
        assert!(matches!(
            opaque,
            Admission::Token {
                profile: ProfileKind::Opaque,
                ..
            }
        ));
        // Outside every route: the default profile (jwt), under which an HA
        // token names nothing revokd can check.
        assert!(matches!(
            admit(&gate, request("/other")).await,
            Err(GateError::Refused(TokenRefusal::Malformed(_)))
        ));
    }

    #[tokio::test]
    async fn tokens_come_from_header_cookie_or_query() {
        let gate = gate(|s| {
            s.profile = ProfileKind::HomeAssistant;
            s.cookie = "access".into();
            s.query_param = "authSig".into();
        });
        let from_cookie = format!("a=1; access={}; b=2", ha_token("c1"));
        let cookies = [from_cookie.as_bytes()];
        let request = GateRequest {
            cookies: &cookies,
            ..Default::default()
        };
        let got = admit(&gate, request).await.unwrap();
        assert_eq!(token_id(&got).map(AsRef::as_ref), Some("c1"));

        let uri = format!("/api/camera_proxy/x?authSig={}", ha_token("q1"));
        let request = GateRequest {
            original_uri: Some(&uri),
            ..Default::default()
        };
        let got = admit(&gate, request).await.unwrap();
        assert_eq!(token_id(&got).map(AsRef::as_ref), Some("q1"));

        // The header wins over the other sources.
        let bearer = format!("bearer {}", ha_token("h1"));
        let request = GateRequest {
            authorization: Some(bearer.as_bytes()),
            cookies: &cookies,
            original_uri: Some(&uri),
        };
        let got = admit(&gate, request).await.unwrap();
        assert_eq!(token_id(&got).map(AsRef::as_ref), Some("h1"));
    }

    #[tokio::test]
    async fn a_missing_token_follows_the_policy() {
        let basic = GateRequest {
            authorization: Some(b"Basic YTpi"),
            ..Default::default()
        };
        let deny = gate(|_| {});
        assert!(matches!(
            admit(&deny, basic).await,
            Err(GateError::Refused(TokenRefusal::Missing))
        ));
        let empty = GateRequest {
            authorization: Some(b"Bearer   "),
            ..Default::default()
        };
        assert!(matches!(
            admit(&deny, empty).await,
            Err(GateError::Refused(TokenRefusal::Missing))
        ));
        let allow = gate(|s| s.missing_token = MissingToken::Allow);
        assert_eq!(admit(&allow, basic).await.unwrap(), Admission::Anonymous);
        // A token that is present but unreadable is never "missing".
        let junk = GateRequest {
            authorization: Some(b"Bearer junk"),
            ..Default::default()
        };
        assert!(matches!(
            admit(&allow, junk).await,
            Err(GateError::Refused(TokenRefusal::Malformed(_)))
        ));
        let binary = GateRequest {
            authorization: Some(b"Bearer \xff\xfe"),
            ..Default::default()
        };
        assert!(matches!(
            admit(&allow, binary).await,
            Err(GateError::Refused(TokenRefusal::Malformed(_)))
        ));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        assert_eq!(cookie("a=1; tok=\"v\"", "tok"), Some("v"));
        assert_eq!(cookie("xtok=1; tok=2", "tok"), Some("2"));
        assert_eq!(cookie("tok=", "tok"), None);
        assert_eq!(cookie("garbage", "tok"), None);
    }
}

//! Token profiles: how the identifiers of one kind of token are found.

use std::time::Duration;

use serde::Deserialize;

use crate::api_keys::sha256_hex;
use crate::domain::{CheckRequest, Reason, TokenId, UnixTime};
use crate::jwt::{Claims, PeekError, check_request_from_claims, numeric_date, peek_claims};

/// Largest token read, in bytes. Real access tokens are a few kilobytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How a gateway's tokens are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    /// A JWT: `jti`, `sid`, `sub`, `iss`, `iat`; optionally verified.
    Jwt,
    /// A Home Assistant access token: an HS256 JWT whose `iss` is the id of
    /// the refresh token it was made from. Read without HA's signing key.
    HomeAssistant,
    /// Anything else: looked up by the SHA-256 (hex) of the whole token.
    Opaque,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 3] = [Self::Jwt, Self::HomeAssistant, Self::Opaque];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::HomeAssistant => "home-assistant",
            Self::Opaque => "opaque",
        }
    }
}

/// A token's identifiers, and its claims when it has readable ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    pub request: CheckRequest,
    /// `None` for an opaque token.
    pub claims: Option<Claims>,
    /// Whether the signature was verified (only the `jwt` profile can).
    pub verified: bool,
}

/// Why a token is refused before or after the look-up. Every variant is a
/// 401 at the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("no bearer token was presented")]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's signature or issuer cannot be verified: {0}")]
    Unverified(String),
    #[error("the token was revoked ({})", .0.as_str())]
    Revoked(Reason),
}

impl TokenRefusal {
    /// The label of this outcome in metrics and the `Revokd-Reason` header.
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Unverified(_) => "unverified",
            Self::Revoked(reason) => reason.as_str(),
        }
    }
}

impl From<PeekError> for TokenRefusal {
    fn from(err: PeekError) -> Self {
        Self::Malformed(err.to_string().trim_start_matches("`token` ").to_owned())
    }
}

/// Reads a token's identifiers under `profile`, without verifying any
/// signature, and refuses one that is already past its `exp` (or before its
/// `nbf`) by more than `skew`.
///
/// # Errors
/// The token cannot be read under this profile, or is out of its validity.
pub fn identify(
    profile: ProfileKind,
    token: &str,
    now: UnixTime,
    skew: Duration,
) -> Result<Identified, TokenRefusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRefusal::Malformed(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let (request, claims) = match profile {
        ProfileKind::Opaque => {
            let id = TokenId::parse(sha256_hex(token)).map_err(|e| {
                TokenRefusal::Malformed(e.to_string()) // unreachable: 64 hex digits
            })?;
            let request = CheckRequest::new(None, Some(id), None, None, None)
                .map_err(|e| TokenRefusal::Malformed(e.to_string()))?;
            return Ok(Identified {
                request,
                claims: None,
                verified: false,
            });
        }
        ProfileKind::Jwt => {
            let claims = peek_claims(token)?;
            (check_request_from_claims(&claims)?, claims)
        }
        ProfileKind::HomeAssistant => {
            let claims = peek_claims(token)?;
            let refresh_token_id = claims.iss.clone().ok_or_else(|| {
                TokenRefusal::Malformed(
                    "a Home Assistant token names its refresh token in `iss`".into(),
                )
            })?;
            let id = TokenId::parse(refresh_token_id)
                .map_err(|e| TokenRefusal::Malformed(format!("`iss`: {e}")))?;
            let request = CheckRequest::new(None, Some(id), None, None, numeric_date(claims.iat))
                .map_err(|e| TokenRefusal::Malformed(e.to_string()))?;
            (request, claims)
        }
    };
    check_validity(&claims, now, skew)?;
    Ok(Identified {
        request,
        claims: Some(claims),
        verified: false,
    })
}

/// `exp` and `nbf`, with `skew` of tolerance (RFC 7519 §4.1.4, §4.1.5).
pub fn check_validity(claims: &Claims, now: UnixTime, skew: Duration) -> Result<(), TokenRefusal> {
    if numeric_date(claims.exp).is_some_and(|exp| exp.saturating_add(skew) <= now) {
        return Err(TokenRefusal::Expired);
    }
    if numeric_date(claims.nbf).is_some_and(|nbf| now.saturating_add(skew) < nbf) {
        return Err(TokenRefusal::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::domain::{Issuer, SessionId, SubjectId};

    const NOW: i64 = 1_800_000_000;
    const SKEW: Duration = Duration::from_secs(60);

    fn jwt(claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        format!(
            "{header}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn read(profile: ProfileKind, token: &str) -> Result<Identified, TokenRefusal> {
        identify(profile, token, UnixTime::from_secs(NOW), SKEW)
    }

    #[test]
    fn home_assistant_tokens_name_their_refresh_token() {
        let token = jwt(&json!({"iss": "5f0a1b2c3d4e", "iat": NOW - 10, "exp": NOW + 1790}));
        let got = read(ProfileKind::HomeAssistant, &token).unwrap();
        let expected = CheckRequest::new(
            None,
            Some(TokenId::parse("5f0a1b2c3d4e").unwrap()),
            None,
            None,
            Some(UnixTime::from_secs(NOW - 10)),
        )
        .unwrap();
        assert_eq!(got.request, expected);
        assert!(!got.verified);
        // A signed-path token (`authSig`) has the same shape plus `path`.
        let signed = jwt(&json!({"iss": "r1", "path": "/api/x", "params": [], "iat": NOW}));
        assert!(read(ProfileKind::HomeAssistant, &signed).is_ok());
    }

    #[test]
    fn jwt_profile_reads_every_identifier() {
        let token = jwt(&json!({
            "iss": "https://idp.example", "sub": "alice", "sid": "s1", "jti": "t1",
            "iat": NOW, "exp": NOW + 60, "aud": ["a", "b"]
        }));
        let got = read(ProfileKind::Jwt, &token).unwrap();
        let iss = Issuer::parse("https://idp.example").unwrap();
        let expected = CheckRequest::new(
            Some(iss),
            Some(TokenId::parse("t1").unwrap()),
            Some(SessionId::parse("s1").unwrap()),
            Some(SubjectId::parse("alice").unwrap()),
            Some(UnixTime::from_secs(NOW)),
        )
        .unwrap();
        assert_eq!(got.request, expected);
        assert!(got.claims.unwrap().aud.unwrap().contains("b"));
    }

    #[test]
    fn opaque_tokens_are_looked_up_by_their_digest() {
        let got = read(ProfileKind::Opaque, "abc").unwrap();
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let expected = CheckRequest::new(
            None,
            Some(TokenId::parse(digest).unwrap()),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(got.request, expected);
        assert_eq!(got.claims, None);
    }

    #[test]
    fn validity_window_has_skew_on_both_sides() {
        let at = |exp: i64| jwt(&json!({"jti": "t", "exp": exp}));
        assert_eq!(
            read(ProfileKind::Jwt, &at(NOW - 60)).unwrap_err(),
            TokenRefusal::Expired
        );
        assert!(read(ProfileKind::Jwt, &at(NOW - 59)).is_ok());
        let nbf = |nbf: i64| jwt(&json!({"jti": "t", "nbf": nbf}));
        assert_eq!(
            read(ProfileKind::Jwt, &nbf(NOW + 61)).unwrap_err(),
            TokenRefusal::NotYetValid
        );
        assert!(read(ProfileKind::Jwt, &nbf(NOW + 60)).is_ok());
    }

    #[test]
    fn hostile_input_is_refused_as_malformed() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let bomb = format!(
            "e30.{}.c2ln",
            b64(&format!("{{\"iss\":{}}}", "[".repeat(200_000)))
        );
        let cases: Vec<(ProfileKind, String)> = vec![
            (ProfileKind::Jwt, "not-a-jwt".into()),
            (ProfileKind::HomeAssistant, "not-a-jwt".into()),
            (ProfileKind::HomeAssistant, "a.b.c.d.e".into()),
            (ProfileKind::Jwt, "a.%%%.c".into()),
            (
                ProfileKind::HomeAssistant,
                format!("e30.{}.c2ln", b64("nul\0")),
            ),
            (
                ProfileKind::HomeAssistant,
                format!("e30.{}.c2ln", b64("[]")),
            ),
            (ProfileKind::HomeAssistant, jwt(&json!({"iat": NOW}))),
            (ProfileKind::HomeAssistant, jwt(&json!({"iss": ""}))),
            (ProfileKind::HomeAssistant, jwt(&json!({"iss": 7}))),
            (
                ProfileKind::HomeAssistant,
                jwt(&json!({"iss": "x".repeat(300)})),
            ),
            (ProfileKind::Jwt, jwt(&json!({"iat": NOW}))),
            (ProfileKind::Jwt, jwt(&json!({"sub": "no-issuer"}))),
            (ProfileKind::Jwt, jwt(&json!({"jti": "t", "exp": "soon"}))),
            (ProfileKind::HomeAssistant, bomb),
            (ProfileKind::Jwt, "x".repeat(1 << 20)),
            (ProfileKind::Opaque, "x".repeat(1 << 20)),
        ];
        for (profile, token) in cases {
            let shown = &token[..token.len().min(40)];
            match read(profile, &token) {
                Err(TokenRefusal::Malformed(why)) => assert!(!why.is_empty(), "{shown}"),
                other => panic!("{profile:?} {shown}: {other:?}"),
            }
        }
    }
}

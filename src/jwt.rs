//! Reading the claims of a JWT **without verifying it**, for look-up only.
//!
//! A check asks "has this token been revoked?", not "is this token genuine?":
//! the application verified the token when it accepted it. Reading the
//! identifiers is therefore enough, and a forged token gains nothing, since
//! all it can do is name identifiers that someone could send as plain query
//! parameters anyway. Nothing read here is ever trusted for anything else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::domain::{
    CheckRequest, CheckRequestError, Issuer, ParseError, SessionId, SubjectId, TokenId, UnixTime,
};

/// Why a token's claims cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    #[error("`token` is not a JWT (expected three dot-separated parts)")]
    NotAJwt,
    #[error("`token` is an encrypted JWT (JWE); send its identifiers instead")]
    Encrypted,
    #[error("`token` has a payload that is not base64url")]
    BadBase64,
    #[error("`token` has a payload that is not a JSON object of claims: {0}")]
    BadClaims(String),
    #[error("`token` has an invalid claim: {0}")]
    BadClaim(#[from] ParseError),
    #[error("`token` {0}")]
    Unusable(#[from] CheckRequestError),
}

/// The registered claims revokd reads (RFC 7519 §4.1, OIDC `sid`, and the
/// RFC 7662 §2.2 members an introspection answer may repeat). Others are
/// skipped without being parsed.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Claims {
    pub iss: Option<String>,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub sub: Option<String>,
    /// NumericDates may carry a fraction (RFC 7519 §2).
    pub iat: Option<f64>,
    pub exp: Option<f64>,
    pub nbf: Option<f64>,
    pub aud: Option<Audience>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// A NumericDate as whole seconds; non-finite values count as absent.
pub fn numeric_date(value: Option<f64>) -> Option<UnixTime> {
    value
        .filter(|t| t.is_finite())
        .map(|t| UnixTime::from_secs(t.floor() as i64))
}

/// Payloads that decode to at most this many bytes are decoded on the
/// stack: a Home Assistant token's claims are about 100 bytes, most access
/// tokens' a few hundred. The heap allocation and its zeroing were a fifth
/// of [`peek_claims`] on the forward-auth path (`benches/check_profile.sh`).
const STACK_PAYLOAD: usize = 1024;

/// Reads the claims of a compact JWS without verifying it.
///
/// # Errors
/// The token is not a signed JWT, or its payload is not a JSON object whose
/// known claims have the right types.
pub fn peek_claims(token: &str) -> Result<Claims, PeekError> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(PeekError::NotAJwt);
    };
    match parts.count() {
        0 => {}
        2 => return Err(PeekError::Encrypted),
        _ => return Err(PeekError::NotAJwt),
    }
    let payload = payload.trim_end_matches('=');
    let parse = |bytes: &[u8]| {
        serde_json::from_slice(bytes).map_err(|e| PeekError::BadClaims(e.to_string()))
    };
    if base64::decoded_len_estimate(payload.len()) <= STACK_PAYLOAD {
        // The estimate is an upper bound, so the slice is never too small.
        let mut buf = [0u8; STACK_PAYLOAD];
        let len = URL_SAFE_NO_PAD
            .decode_slice(payload, &mut buf)
            .map_err(|_| PeekError::BadBase64)?;
        parse(&buf[..len])
    } else {
        parse(
            &URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| PeekError::BadBase64)?,
        )
    }
}

/// The check request named by a token's `iss`, `jti`, `sid`, `sub`, `iat`.
///
/// # Errors
/// A claim is not a valid identifier, or the claims name nothing to check.
pub fn check_request_from_claims(claims: &Claims) -> Result<CheckRequest, PeekError> {
    Ok(CheckRequest::new(
        claims.iss.clone().map(Issuer::parse).transpose()?,
        claims.jti.clone().map(TokenId::parse).transpose()?,
        claims.sid.clone().map(SessionId::parse).transpose()?,
        claims.sub.clone().map(SubjectId::parse).transpose()?,
        numeric_date(claims.iat),
    )?)
}

/// Builds a [`CheckRequest`] from the token's `iss`, `jti`, `sid`, `sub`
/// and `iat` claims.
///
/// # Errors
/// The token is not a signed JWT, its payload cannot be decoded, a claim is
/// invalid, or it names nothing to check.
pub fn check_request_from_jwt(token: &str) -> Result<CheckRequest, PeekError> {
    check_request_from_claims(&peek_claims(token)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2ln")
    }

    #[test]
    fn reads_the_identifying_claims() {
        let token = jwt(&serde_json::json!({
            "iss": "https://idp.example", "jti": "t1", "sid": "s1", "sub": "alice", "iat": 1700000000.7,
            "aud": ["x"], "extra": {"nested": true}
        }));
        let expected = CheckRequest::new(
            Some(Issuer::parse("https://idp.example").unwrap()),
            Some(TokenId::parse("t1").unwrap()),
            Some(SessionId::parse("s1").unwrap()),
            Some(SubjectId::parse("alice").unwrap()),
            Some(UnixTime::from_secs(1_700_000_000)),
        )
        .unwrap();
        assert_eq!(check_request_from_jwt(&token).unwrap(), expected);
    }

    #[test]
    fn hostile_input_is_refused_precisely() {
        let cases: Vec<(String, PeekError)> = vec![
            ("not a token".into(), PeekError::NotAJwt),
            ("a.b".into(), PeekError::NotAJwt),
            ("a.b.c.d".into(), PeekError::NotAJwt),
            ("a.b.c.d.e".into(), PeekError::Encrypted),
            ("a.!!!.c".into(), PeekError::BadBase64),
            (
                format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1,2]")),
                PeekError::BadClaims(String::new()),
            ),
            (
                jwt(&serde_json::json!({"jti": ""})),
                PeekError::BadClaim(ParseError::Empty { field: "jti" }),
            ),
            (
                jwt(&serde_json::json!({"iat": 1})),
                PeekError::Unusable(CheckRequestError::NothingToCheck),
            ),
            (
                jwt(&serde_json::json!({"sub": "a"})),
                PeekError::Unusable(CheckRequestError::MissingIssuer),
            ),
            (
                jwt(&serde_json::json!({"jti": 5})),
                PeekError::BadClaims(String::new()),
            ),
        ];
        for (token, expected) in cases {
            let got = check_request_from_jwt(&token).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&expected),
                "{token}: {got}"
            );
            if !matches!(expected, PeekError::BadClaims(_)) {
                assert_eq!(got, expected, "{token}");
            }
        }
    }

    #[test]
    fn payloads_on_both_sides_of_the_stack_buffer_read_alike() {
        // Below the size decoded on the stack (up to 1023 bytes: the
        // estimate rounds up), above it, and far beyond it: the same
        // claims, and bad base64 refused the same way on both paths.
        let mut on_stack = Vec::new();
        for pad in [
            0,
            STACK_PAYLOAD - 40,
            STACK_PAYLOAD - 20,
            STACK_PAYLOAD,
            8 * STACK_PAYLOAD,
        ] {
            let token = jwt(&serde_json::json!({"jti": "t1", "x": "y".repeat(pad)}));
            let payload = token.split('.').nth(1).unwrap();
            let claims = peek_claims(&token).unwrap();
            assert_eq!(claims.jti.as_deref(), Some("t1"), "padding {pad}");
            on_stack.push(base64::decoded_len_estimate(payload.len()) <= STACK_PAYLOAD);
            let broken = format!("e30.{}!.c2ln", payload);
            assert_eq!(
                peek_claims(&broken),
                Err(PeekError::BadBase64),
                "padding {pad}"
            );
        }
        assert_eq!(on_stack, [true, true, true, false, false]);
    }

    #[test]
    fn deeply_nested_claims_do_not_overflow_the_stack() {
        let bomb = format!(
            "{{\"jti\":\"x\",\"a\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let token = format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(bomb));
        // Unknown claims are skipped without recursion; the known one is read.
        let expected =
            CheckRequest::new(None, Some(TokenId::parse("x").unwrap()), None, None, None).unwrap();
        assert_eq!(check_request_from_jwt(&token), Ok(expected));

        let bomb = format!("{{\"jti\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let token = format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(bomb));
        assert!(matches!(
            check_request_from_jwt(&token),
            Err(PeekError::BadClaims(_))
        ));
    }
}

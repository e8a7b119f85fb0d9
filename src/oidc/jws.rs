//! A compact JWS (RFC 7515 §7.1): decoded strictly, then its signature
//! checked against one issuer's keys only. Shared by logout tokens
//! ([`super::logout_token`]) and by Security Event Tokens and Universal
//! Logout caller tokens ([`super::set`]), so the rules that stop `alg`
//! confusion and key injection live in one place. Each caller checks its
//! own `typ` first and maps [`SignatureError`] into its own error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::LogoutTokenError;
use super::json::{JsonPart, decode_json_object};
use super::jwks::{JwsAlg, KeyLookupError, KeySet};

/// A compact JWS, decoded and not trusted.
pub(crate) struct CompactJws {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)` (RFC 7515 §5.2 step 8).
    pub signing_input: String,
    pub header: Map<String, Value>,
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    pub signature: Vec<u8>,
}

/// Why a signature is not accepted, in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// `crit` names extensions; none are understood (RFC 7515 §4.1.11).
    UnsupportedCritical,
    /// `none`, in any spelling: an attack (RFC 8725 §3.1).
    AlgNone,
    /// `HS*`: a provider's public key must never be an HMAC secret
    /// (RFC 8725 §3.1–3.2).
    AlgSymmetric,
    AlgNotAllowed,
    MissingKid,
    UnknownKid,
    AlgKeyMismatch,
    BadSignature,
}

impl CompactJws {
    /// Decodes the three parts of a compact JWS: the header and the claims
    /// as JSON objects with unique member names, the signature as
    /// base64url. An empty signature is kept, so that `alg: none` is
    /// reported as such by [`verify_signature`](Self::verify_signature).
    ///
    /// # Errors
    /// [`LogoutTokenError::Malformed`], naming the part.
    pub fn decode(parts: &[&str]) -> Result<Self, LogoutTokenError> {
        let [header_b64, payload_b64, signature_b64] = parts else {
            return Err(LogoutTokenError::Malformed {
                detail: "a JWS has three parts",
            });
        };
        let header = decode_json_object(header_b64, JsonPart::JwsHeader)?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            _ => {
                return Err(LogoutTokenError::Malformed {
                    detail: "JWS header has no `alg` string",
                });
            }
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => {
                return Err(LogoutTokenError::Malformed {
                    detail: "JWS header `kid` is not a string",
                });
            }
        };
        let claims = decode_json_object(payload_b64, JsonPart::Claims)?;
        let signature =
            URL_SAFE_NO_PAD
                .decode(signature_b64)
                .map_err(|_| LogoutTokenError::Malformed {
                    detail: "signature is not base64url",
                })?;
        Ok(Self {
            signing_input: format!("{header_b64}.{payload_b64}"),
            header,
            alg,
            kid,
            claims,
            signature,
        })
    }

    /// The header rules that need no key: `crit`, then `alg` against
    /// `allowed`. A token whose provider's keys are missing is kept only if
    /// these hold.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn check_header(&self, allowed: &[JwsAlg]) -> Result<JwsAlg, SignatureError> {
        if self.header.contains_key("crit") {
            return Err(SignatureError::UnsupportedCritical);
        }
        check_alg(&self.alg, allowed)
    }

    /// [`check_header`](Self::check_header), then the key chosen by `kid`
    /// from the issuer's JWK Set only (`jwk`, `jku`, `x5u` and `x5c` header
    /// parameters are ignored, RFC 8725 §3.10), then the signature.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn verify_signature(
        &self,
        allowed: &[JwsAlg],
        keys: &KeySet,
    ) -> Result<JwsAlg, SignatureError> {
        let alg = self.check_header(allowed)?;
        let verifier = keys
            .verifier(self.kid.as_deref(), alg)
            .map_err(|e| match e {
                KeyLookupError::MissingKid => SignatureError::MissingKid,
                KeyLookupError::UnknownKid => SignatureError::UnknownKid,
                KeyLookupError::AlgKeyMismatch => SignatureError::AlgKeyMismatch,
            })?;
        verifier
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| SignatureError::BadSignature)?;
        Ok(alg)
    }
}

/// `alg` (OIDC Back-Channel Logout §2.6 step 3; RFC 8725 §3.1–3.2).
fn check_alg(alg: &str, allowed: &[JwsAlg]) -> Result<JwsAlg, SignatureError> {
    // Spelling variants of `none` are reported as `none`: they are attacks.
    if alg.eq_ignore_ascii_case("none") {
        return Err(SignatureError::AlgNone);
    }
    if alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) {
        return Err(SignatureError::AlgSymmetric);
    }
    match JwsAlg::from_name(alg) {
        Some(alg) if allowed.contains(&alg) => Ok(alg),
        _ => Err(SignatureError::AlgNotAllowed),
    }
}

impl From<SignatureError> for LogoutTokenError {
    fn from(err: SignatureError) -> Self {
        match err {
            SignatureError::UnsupportedCritical => Self::UnsupportedCritical,
            SignatureError::AlgNone => Self::AlgNone,
            SignatureError::AlgSymmetric => Self::AlgSymmetric,
            SignatureError::AlgNotAllowed => Self::AlgNotAllowed,
            SignatureError::MissingKid => Self::MissingKid,
            SignatureError::UnknownKid => Self::UnknownKid,
            SignatureError::AlgKeyMismatch => Self::AlgKeyMismatch,
            SignatureError::BadSignature => Self::BadSignature,
        }
    }
}

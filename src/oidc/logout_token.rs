//! Logout Token validation, OpenID Connect Back-Channel Logout 1.0
//! (final, incorporating errata set 1) §2.4 and §2.6.
//!
//! Two types keep untrusted and trusted data apart:
//!
//! - [`UnverifiedLogoutToken::decode`] checks size and shape and parses the
//!   headers. Before verification it only tells what is needed to choose a
//!   provider and a key: [`issuer_hint`](UnverifiedLogoutToken::issuer_hint),
//!   [`kid`](UnverifiedLogoutToken::kid), [`alg`](UnverifiedLogoutToken::alg)
//!   and [`is_encrypted`](UnverifiedLogoutToken::is_encrypted).
//! - [`UnverifiedLogoutToken::verify`] applies every rule, cheap before
//!   expensive, and only its result, [`VerifiedLogoutToken`], exposes
//!   `sub`, `sid` and `jti`.
//!
//! The order of the checks in `verify`:
//!
//! 1. encryption (§2.6 step 1): decrypt a JWE with the policy's key; refuse
//!    a plain JWS when the provider must encrypt;
//! 2. header: `typ` (§2.4, §4.1), `crit` (RFC 7515 §4.1.11), `alg` (§2.6
//!    step 3: never `none`; here also never `HS*`, and on the policy's list);
//! 3. key: by `kid`, and the key must fit `alg` (RFC 8725 §3.1);
//! 4. signature (§2.6 step 2);
//! 5. claims: `iss`, `aud` (§2.6 step 4, as for ID Tokens: OIDC Core
//!    §3.1.3.7), `iat` and `exp` (one function: [`check_times`]), `jti`
//!    (§2.4), `events` (§2.6 step 6), `sub`/`sid` (step 5), `nonce` (step 7).
//!
//! A forged token is therefore always reported as a signature failure, never
//! as a claim failure. Replay detection (`jti`, step 8) needs a store and is
//! left to the caller, as is choosing the provider.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::jwe::{EncryptedParts, is_media_type};
use super::keys::{DecryptionKey, JwsAlg, KeyLookupError, KeySet};
use crate::domain::{Issuer, Session, SessionId, Subject, SubjectId, TokenId, UnixTime};

/// Largest logout token accepted, in bytes. Real ones are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The member of `events` that makes a JWT a Logout Token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Why a logout token was refused: one variant per rule.
///
/// [`rule`](Self::rule) gives a stable snake_case label for metrics and for
/// `error_description`. The message names the broken rule and never echoes
/// any part of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("logout token is larger than {max} bytes", max = MAX_TOKEN_BYTES)]
    TooLarge,
    #[error("logout token is malformed: {detail}")]
    Malformed { detail: &'static str },
    #[error("logout token `typ` header is not `logout+jwt` or `JWT`")]
    UnsupportedType,
    #[error("logout token has a `crit` header parameter; no extension is supported")]
    UnsupportedCritical,
    #[error("logout token is not signed (`alg` is `none`)")]
    AlgNone,
    #[error("logout token `alg` is symmetric (HS*); only public-key signatures are accepted")]
    AlgSymmetric,
    #[error("logout token `alg` is not allowed for this provider")]
    AlgNotAllowed,
    #[error("logout token has no `kid` and the provider has more than one key")]
    MissingKid,
    #[error("logout token `kid` is not in the provider's key set")]
    UnknownKid,
    #[error("logout token `alg` does not fit the provider's key")]
    AlgKeyMismatch,
    #[error("logout token signature is invalid")]
    BadSignature,
    #[error("logout token must be encrypted for this provider")]
    EncryptionRequired,
    #[error("logout token is encrypted, but no decryption key is configured")]
    NoDecryptionKey,
    #[error("encrypted logout token `alg` is not the configured key-management algorithm")]
    JweAlgNotAllowed,
    #[error("encrypted logout token `enc` is not a supported content encryption")]
    JweEncNotAllowed,
    #[error("encrypted logout token is compressed (`zip`), which is refused")]
    JweCompressionForbidden,
    #[error("encrypted logout token `cty` is not `JWT`")]
    JweNotNestedJwt,
    #[error("encrypted logout token `kid` is not the configured decryption key")]
    JweUnknownKid,
    #[error("encrypted logout token cannot be decrypted")]
    CannotDecrypt,
    #[error("logout token `iss` is not the provider's issuer")]
    IssuerMismatch,
    #[error("logout token `aud` does not name this client")]
    AudienceMismatch,
    #[error("logout token `aud` names an audience that is not trusted")]
    UntrustedAudience,
    #[error("logout token has no `iat`")]
    MissingIat,
    #[error("logout token `iat` is in the future")]
    IssuedInFuture,
    #[error("logout token `iat` is older than the accepted age")]
    TooOld,
    #[error("logout token has expired (`exp`)")]
    Expired,
    #[error("logout token has no `exp`")]
    MissingExp,
    #[error("logout token has no `jti`")]
    MissingJti,
    #[error("logout token `events` does not hold the back-channel logout event as a JSON object")]
    BadEvents,
    #[error("logout token has neither `sub` nor `sid`")]
    MissingSubAndSid,
    #[error("logout token must not contain `nonce`")]
    NonceForbidden,
    #[error("logout token claim `{claim}` has an invalid value")]
    InvalidClaim { claim: &'static str },
}

impl LogoutTokenError {
    /// A stable snake_case name of the broken rule, for metric labels and
    /// `error_description`. The set of labels is closed.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedType => "unsupported_type",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::AlgNone => "alg_none",
            Self::AlgSymmetric => "alg_symmetric",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::AlgKeyMismatch => "alg_key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::EncryptionRequired => "encryption_required",
            Self::NoDecryptionKey => "no_decryption_key",
            Self::JweAlgNotAllowed => "jwe_alg_not_allowed",
            Self::JweEncNotAllowed => "jwe_enc_not_allowed",
            Self::JweCompressionForbidden => "jwe_compression_forbidden",
            Self::JweNotNestedJwt => "jwe_not_nested_jwt",
            Self::JweUnknownKid => "jwe_unknown_kid",
            Self::CannotDecrypt => "cannot_decrypt",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::UntrustedAudience => "untrusted_audience",
            Self::MissingIat => "missing_iat",
            Self::IssuedInFuture => "issued_in_future",
            Self::TooOld => "too_old",
            Self::Expired => "expired",
            Self::MissingExp => "missing_exp",
            Self::MissingJti => "missing_jti",
            Self::BadEvents => "bad_events",
            Self::MissingSubAndSid => "missing_sub_and_sid",
            Self::NonceForbidden => "nonce_forbidden",
            Self::InvalidClaim { .. } => "invalid_claim",
        }
    }
}

/// Why a [`LogoutTokenPolicy`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a provider needs at least one client id")]
    NoClientIds,
    #[error("client ids and audiences must not be empty")]
    EmptyAudience,
    #[error("a provider needs at least one allowed signature algorithm")]
    NoAlgorithms,
}

/// What one provider's logout tokens must satisfy.
#[derive(Debug)]
pub struct LogoutTokenPolicy {
    issuer: Issuer,
    /// Our client ids at this provider: `aud` must contain one of them.
    client_ids: Vec<String>,
    /// Further audiences that may appear in `aud` beside ours (OIDC Core
    /// §3.1.3.7 step 3 rejects audiences the client does not trust).
    trusted_audiences: Vec<String>,
    allowed_algs: Vec<JwsAlg>,
    clock_skew: Duration,
    max_age: Duration,
    require_exp: bool,
    require_explicit_typ: bool,
    decryption_key: Option<DecryptionKey>,
    require_encryption: bool,
}

impl LogoutTokenPolicy {
    /// Tolerated difference between our clock and the provider's.
    pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
    /// Oldest `iat` accepted, before skew. §4 encourages providers to let
    /// logout tokens expire within two minutes; this leaves room for retries.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

    /// A policy with the defaults: every supported algorithm allowed,
    /// [`DEFAULT_CLOCK_SKEW`](Self::DEFAULT_CLOCK_SKEW),
    /// [`DEFAULT_MAX_AGE`](Self::DEFAULT_MAX_AGE), `exp` required (§2.4 since
    /// errata set 1), `typ` `JWT` or absent tolerated, no encryption.
    ///
    /// # Errors
    /// `client_ids` is empty or holds an empty string.
    pub fn new<I, S>(issuer: Issuer, client_ids: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let client_ids = audiences(client_ids)?;
        if client_ids.is_empty() {
            return Err(PolicyError::NoClientIds);
        }
        Ok(Self {
            issuer,
            client_ids,
            trusted_audiences: Vec::new(),
            allowed_algs: JwsAlg::ALL.to_vec(),
            clock_skew: Self::DEFAULT_CLOCK_SKEW,
            max_age: Self::DEFAULT_MAX_AGE,
            require_exp: true,
            require_explicit_typ: false,
            decryption_key: None,
            require_encryption: false,
        })
    }

    /// Restricts the signature algorithms, e.g. to the provider's
    /// `id_token_signing_alg_values_supported` (§2.6 step 3).
    ///
    /// # Errors
    /// `algs` is empty.
    pub fn with_allowed_algs(
        mut self,
        algs: impl IntoIterator<Item = JwsAlg>,
    ) -> Result<Self, PolicyError> {
        let mut algs: Vec<JwsAlg> = algs.into_iter().collect();
        algs.sort_unstable();
        algs.dedup();
        if algs.is_empty() {
            return Err(PolicyError::NoAlgorithms);
        }
        self.allowed_algs = algs;
        Ok(self)
    }

    /// Audiences besides our client ids that may appear in `aud`.
    ///
    /// # Errors
    /// An audience is an empty string.
    pub fn with_trusted_audiences<I, S>(mut self, audiences_: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_audiences = audiences(audiences_)?;
        Ok(self)
    }

    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Whether a token without `exp` is refused. `exp` is REQUIRED since
    /// errata set 1 (§2.4), but some providers still omit it.
    pub fn with_exp_required(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    /// Whether only `typ: logout+jwt` is accepted (§4.1 explicit typing);
    /// otherwise `JWT` and an absent `typ` are accepted too.
    pub fn with_explicit_typ_required(mut self, required: bool) -> Self {
        self.require_explicit_typ = required;
        self
    }

    /// The relying party's key for encrypted logout tokens; with
    /// `required`, unencrypted ones are refused (§2.6 step 1).
    pub fn with_decryption_key(mut self, key: DecryptionKey, required: bool) -> Self {
        self.decryption_key = Some(key);
        self.require_encryption = required;
        self
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }
}

fn audiences<I, S>(values: I) -> Result<Vec<String>, PolicyError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    if values.iter().any(String::is_empty) {
        return Err(PolicyError::EmptyAudience);
    }
    Ok(values)
}

/// A logout token as received: decoded, not trusted.
pub struct UnverifiedLogoutToken {
    form: Form,
    /// This JWS was the content of a JWE that [`decrypt`](Self::decrypt)
    /// opened, so a provider that requires encryption accepts it.
    was_encrypted: bool,
}

enum Form {
    Signed(SignedParts),
    Encrypted(EncryptedParts),
}

impl UnverifiedLogoutToken {
    /// Decodes a compact JWS (three parts) or JWE (five parts), RFC 7515
    /// §7.1 and RFC 7516 §7.1, and parses its header(s) and, for a JWS, the
    /// claims as a JSON object. Nothing is checked against any provider.
    ///
    /// # Errors
    /// [`LogoutTokenError::TooLarge`] over [`MAX_TOKEN_BYTES`], otherwise
    /// [`LogoutTokenError::Malformed`].
    pub fn decode(token: &str) -> Result<Self, LogoutTokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(LogoutTokenError::TooLarge);
        }
        let parts: Vec<&str> = token.splitn(6, '.').collect();
        let form = match parts.len() {
            3 => Form::Signed(SignedParts::decode(&parts)?),
            5 => Form::Encrypted(EncryptedParts::decode(&parts)?),
            _ => {
                return Err(LogoutTokenError::Malformed {
                    detail: "not a compact JWS or JWE",
                });
            }
        };
        Ok(Self {
            form,
            was_encrypted: false,
        })
    }

    /// The unverified `iss` claim, to choose the provider whose policy and
    /// keys will verify the token. `None` for a token that is still
    /// encrypted (see [`decrypt`](Self::decrypt)) or whose `iss` is not a
    /// string. Never use it for anything else.
    pub fn issuer_hint(&self) -> Option<&str> {
        match &self.form {
            Form::Signed(signed) => signed.claims.get("iss").and_then(Value::as_str),
            Form::Encrypted(_) => None,
        }
    }

    /// The outermost header's `kid`: for a JWS the signing key's, for a JWE
    /// the decryption key's.
    pub fn kid(&self) -> Option<&str> {
        match &self.form {
            Form::Signed(signed) => signed.kid.as_deref(),
            Form::Encrypted(jwe) => jwe.header_str("kid"),
        }
    }

    /// The outermost header's `alg`: for a JWS the signature algorithm, for
    /// a JWE the key-management algorithm.
    pub fn alg(&self) -> Option<&str> {
        match &self.form {
            Form::Signed(signed) => Some(&signed.alg),
            Form::Encrypted(jwe) => jwe.header_str("alg"),
        }
    }

    /// Whether the token is (still) a JWE.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.form, Form::Encrypted(_))
    }

    /// Opens an encrypted token with `key`, giving the nested signed token
    /// (RFC 7519 §7.2 step 8), whose [`issuer_hint`](Self::issuer_hint) is
    /// then known. A token that is not encrypted is returned unchanged.
    /// The signature is not checked here: call [`verify`](Self::verify).
    ///
    /// # Errors
    /// The JWE header is not acceptable for `key` (`Jwe*` variants), the
    /// content cannot be decrypted ([`LogoutTokenError::CannotDecrypt`]), or
    /// it is not a compact JWS ([`LogoutTokenError::Malformed`]).
    pub fn decrypt(self, key: &DecryptionKey) -> Result<Self, LogoutTokenError> {
        match self.form {
            Form::Signed(_) => Ok(self),
            Form::Encrypted(jwe) => Ok(Self {
                form: Form::Signed(SignedParts::from_plaintext(jwe.decrypt(key)?)?),
                was_encrypted: true,
            }),
        }
    }

    /// Applies every rule of §2.6 for one provider, in the order given in
    /// the [module documentation](self). `now` is a parameter so that tests
    /// can pin time.
    ///
    /// # Errors
    /// The first rule the token breaks.
    pub fn verify(
        &self,
        policy: &LogoutTokenPolicy,
        keys: &KeySet,
        now: UnixTime,
    ) -> Result<VerifiedLogoutToken, LogoutTokenError> {
        match &self.form {
            Form::Encrypted(jwe) => {
                let key = policy
                    .decryption_key
                    .as_ref()
                    .ok_or(LogoutTokenError::NoDecryptionKey)?;
                SignedParts::from_plaintext(jwe.decrypt(key)?)?.verify(policy, keys, now, true)
            }
            Form::Signed(signed) => {
                if policy.require_encryption && !self.was_encrypted {
                    return Err(LogoutTokenError::EncryptionRequired);
                }
                signed.verify(policy, keys, now, self.was_encrypted)
            }
        }
    }
}

impl fmt::Debug for UnverifiedLogoutToken {
    /// Shows only the routing data, never claims or signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedLogoutToken")
            .field("encrypted", &self.is_encrypted())
            .field("alg", &self.alg())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// A compact JWS, decoded.
struct SignedParts {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)` (RFC 7515 §5.2 step 8).
    signing_input: String,
    header: Map<String, Value>,
    alg: String,
    kid: Option<String>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl SignedParts {
    fn decode(parts: &[&str]) -> Result<Self, LogoutTokenError> {
        let [header_b64, payload_b64, signature_b64] = parts else {
            return Err(LogoutTokenError::Malformed {
                detail: "a JWS has three parts",
            });
        };
        let header = decode_json_object(header_b64, "JWS header")?;
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
        let claims = decode_json_object(payload_b64, "claims")?;
        // An empty signature is kept, so that `alg: none` is reported as such.
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

    /// The nested JWS inside a decrypted JWE.
    fn from_plaintext(plaintext: Vec<u8>) -> Result<Self, LogoutTokenError> {
        let nested = String::from_utf8(plaintext).map_err(|_| LogoutTokenError::Malformed {
            detail: "nested JWT is not text",
        })?;
        if nested.len() > MAX_TOKEN_BYTES {
            return Err(LogoutTokenError::TooLarge);
        }
        let parts: Vec<&str> = nested.splitn(4, '.').collect();
        if parts.len() != 3 {
            return Err(LogoutTokenError::Malformed {
                detail: "nested JWT is not a compact JWS",
            });
        }
        Self::decode(&parts)
    }

    fn verify(
        &self,
        policy: &LogoutTokenPolicy,
        keys: &KeySet,
        now: UnixTime,
        was_encrypted: bool,
    ) -> Result<VerifiedLogoutToken, LogoutTokenError> {
        check_typ(self.header.get("typ"), policy.require_explicit_typ)?;
        // RFC 7515 §4.1.11: extensions named in `crit` must be understood;
        // none are.
        if self.header.contains_key("crit") {
            return Err(LogoutTokenError::UnsupportedCritical);
        }
        let alg = check_alg(&self.alg, &policy.allowed_algs)?;
        // Only keys from the provider's JWK Set are used; `jwk`, `jku`,
        // `x5u` and `x5c` header parameters are ignored (RFC 8725 §3.10).
        let verifier = keys
            .verifier(self.kid.as_deref(), alg)
            .map_err(|e| match e {
                KeyLookupError::MissingKid => LogoutTokenError::MissingKid,
                KeyLookupError::UnknownKid => LogoutTokenError::UnknownKid,
                KeyLookupError::AlgKeyMismatch => LogoutTokenError::AlgKeyMismatch,
            })?;
        verifier
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| LogoutTokenError::BadSignature)?;
        check_claims(&self.claims, policy, now, was_encrypted)
    }
}

/// `typ` (§2.4 RECOMMENDS `logout+jwt`; RFC 7515 §4.1.9: media types are
/// case-insensitive and `application/` may be omitted).
fn check_typ(typ: Option<&Value>, explicit_required: bool) -> Result<(), LogoutTokenError> {
    match typ {
        None if !explicit_required => Ok(()),
        Some(Value::String(typ)) if is_media_type(typ, "logout+jwt") => Ok(()),
        Some(Value::String(typ)) if !explicit_required && is_media_type(typ, "jwt") => Ok(()),
        _ => Err(LogoutTokenError::UnsupportedType),
    }
}

/// `alg` (§2.6 step 3; RFC 8725 §3.1–3.2).
fn check_alg(alg: &str, allowed: &[JwsAlg]) -> Result<JwsAlg, LogoutTokenError> {
    // Spelling variants of `none` are reported as `none`: they are attacks.
    if alg.eq_ignore_ascii_case("none") {
        return Err(LogoutTokenError::AlgNone);
    }
    if alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) {
        return Err(LogoutTokenError::AlgSymmetric);
    }
    match JwsAlg::from_name(alg) {
        Some(alg) if allowed.contains(&alg) => Ok(alg),
        _ => Err(LogoutTokenError::AlgNotAllowed),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    policy: &LogoutTokenPolicy,
    now: UnixTime,
    was_encrypted: bool,
) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    // `iss`: exact match (OIDC Core §3.1.3.7 step 2).
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) if iss == policy.issuer.as_ref() => policy.issuer.clone(),
        Some(Value::String(_)) | None => return Err(LogoutTokenError::IssuerMismatch),
        Some(_) => return Err(LogoutTokenError::InvalidClaim { claim: "iss" }),
    };

    // `aud`: a string or an array of strings (RFC 7519 §4.1.3) naming us and
    // no one we do not trust (OIDC Core §3.1.3.7 step 3).
    let aud: Vec<&str> = match claims.get("aud") {
        None => return Err(LogoutTokenError::AudienceMismatch),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(values)) => values
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(LogoutTokenError::InvalidClaim { claim: "aud" })?,
        Some(_) => return Err(LogoutTokenError::InvalidClaim { claim: "aud" }),
    };
    let ours = |a: &&str| policy.client_ids.iter().any(|c| c == a);
    if !aud.iter().any(ours) {
        return Err(LogoutTokenError::AudienceMismatch);
    }
    if !aud
        .iter()
        .all(|a| ours(a) || policy.trusted_audiences.iter().any(|t| t == a))
    {
        return Err(LogoutTokenError::UntrustedAudience);
    }

    let iat = numeric_date(claims.get("iat"), "iat")?;
    let exp = numeric_date(claims.get("exp"), "exp")?;
    let (iat, accepted_until) = check_times(iat, exp, now, policy)?;

    let jti = match claims.get("jti") {
        None => return Err(LogoutTokenError::MissingJti),
        Some(value) => identifier(value, "jti", TokenId::parse)?,
    };

    // `events` (§2.4, §2.6 step 6): an object whose back-channel-logout
    // member is a JSON object. It SHOULD be `{}`; other members are ignored.
    match claims.get("events") {
        Some(Value::Object(events))
            if events
                .get(BACKCHANNEL_LOGOUT_EVENT)
                .is_some_and(Value::is_object) => {}
        _ => return Err(LogoutTokenError::BadEvents),
    }

    // `sub` and/or `sid` (§2.4, §2.6 step 5).
    let sub = claims
        .get("sub")
        .map(|v| identifier(v, "sub", SubjectId::parse))
        .transpose()?;
    let sid = claims
        .get("sid")
        .map(|v| identifier(v, "sid", SessionId::parse))
        .transpose()?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::MissingSubAndSid);
    }

    // `nonce` (§2.4, §2.6 step 7): present at all, even `null`, is refused.
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::NonceForbidden);
    }

    Ok(VerifiedLogoutToken {
        iss,
        sub,
        sid,
        jti,
        iat,
        exp: exp.map(UnixTime::from_secs),
        accepted_until,
        was_encrypted,
    })
}

fn identifier<T, E>(
    value: &Value,
    claim: &'static str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<T, LogoutTokenError> {
    match value {
        Value::String(s) => parse(s.clone()).map_err(|_| LogoutTokenError::InvalidClaim { claim }),
        _ => Err(LogoutTokenError::InvalidClaim { claim }),
    }
}

/// A JWT NumericDate (RFC 7519 §2): a JSON number of seconds, possibly with
/// a fraction, which is dropped. Out-of-range values saturate.
fn numeric_date(
    value: Option<&Value>,
    claim: &'static str,
) -> Result<Option<i64>, LogoutTokenError> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(if let Some(i) = n.as_i64() {
            i
        } else if n.is_u64() {
            i64::MAX
        } else {
            // `as` saturates; JSON has no NaN or infinity.
            n.as_f64().map_or(0, |f| f.floor() as i64)
        })),
        Some(_) => Err(LogoutTokenError::InvalidClaim { claim }),
    }
}

/// Every time rule, in one place (§2.6 step 4; OIDC Core §3.1.3.7 steps
/// 9–10; RFC 7519 §4.1.4, §4.1.6). With `skew` the clock tolerance and
/// `max_age` the policy's oldest acceptable `iat`:
///
/// - `iat` must be present and `iat <= now + skew`;
/// - `iat >= now - max_age - skew`;
/// - `exp`, when present, must satisfy `now < exp + skew` (skew widens
///   acceptance); when absent, the policy may refuse the token.
///
/// On success returns `iat` and the first instant at which the token would
/// be refused on time grounds: a replay cache must remember its `jti` until
/// then.
///
/// # Errors
/// [`LogoutTokenError::MissingIat`], [`IssuedInFuture`](LogoutTokenError::IssuedInFuture),
/// [`TooOld`](LogoutTokenError::TooOld), [`Expired`](LogoutTokenError::Expired)
/// or [`MissingExp`](LogoutTokenError::MissingExp).
pub fn check_times(
    iat: Option<i64>,
    exp: Option<i64>,
    now: UnixTime,
    policy: &LogoutTokenPolicy,
) -> Result<(UnixTime, UnixTime), LogoutTokenError> {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let skew = secs(policy.clock_skew);
    let max_age = secs(policy.max_age);
    let now = now.as_secs();

    let iat = iat.ok_or(LogoutTokenError::MissingIat)?;
    if iat > now.saturating_add(skew) {
        return Err(LogoutTokenError::IssuedInFuture);
    }
    if iat < now.saturating_sub(max_age).saturating_sub(skew) {
        return Err(LogoutTokenError::TooOld);
    }
    let mut until = iat
        .saturating_add(max_age)
        .saturating_add(skew)
        .saturating_add(1);
    match exp {
        Some(exp) => {
            let deadline = exp.saturating_add(skew);
            if now >= deadline {
                return Err(LogoutTokenError::Expired);
            }
            until = until.min(deadline);
        }
        None if policy.require_exp => return Err(LogoutTokenError::MissingExp),
        None => {}
    }
    Ok((UnixTime::from_secs(iat), UnixTime::from_secs(until)))
}

/// A logout token that passed every rule for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogoutToken {
    iss: Issuer,
    sub: Option<SubjectId>,
    sid: Option<SessionId>,
    jti: TokenId,
    iat: UnixTime,
    exp: Option<UnixTime>,
    accepted_until: UnixTime,
    was_encrypted: bool,
}

impl VerifiedLogoutToken {
    pub fn iss(&self) -> &Issuer {
        &self.iss
    }

    pub fn sub(&self) -> Option<&SubjectId> {
        self.sub.as_ref()
    }

    pub fn sid(&self) -> Option<&SessionId> {
        self.sid.as_ref()
    }

    pub fn jti(&self) -> &TokenId {
        &self.jti
    }

    pub fn iat(&self) -> UnixTime {
        self.iat
    }

    pub fn exp(&self) -> Option<UnixTime> {
        self.exp
    }

    /// The first instant at which `verify` would refuse this token on time
    /// grounds. Remember the `jti` for replay detection until then.
    pub fn accepted_until(&self) -> UnixTime {
        self.accepted_until
    }

    /// Whether the token arrived encrypted.
    pub fn was_encrypted(&self) -> bool {
        self.was_encrypted
    }

    /// The subject to log out everywhere, when `sub` is present: without
    /// `sid`, §2.4 means every session of this subject.
    pub fn subject(&self) -> Option<Subject> {
        self.sub.clone().map(|sub| Subject {
            iss: self.iss.clone(),
            sub,
        })
    }

    /// The session to log out, when `sid` is present.
    pub fn session(&self) -> Option<Session> {
        self.sid.clone().map(|sid| Session {
            iss: self.iss.clone(),
            sid,
        })
    }
}

/// Decodes a base64url part holding a JSON object (RFC 7515 §5.2 steps 2–4,
/// RFC 7519 §7.2 step 10). Duplicate member names are refused, since
/// parsers that keep different duplicates disagree about the token.
pub(crate) fn decode_json_object(
    part: &str,
    what: &'static str,
) -> Result<Map<String, Value>, LogoutTokenError> {
    let malformed = |detail| LogoutTokenError::Malformed { detail };
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        malformed(match what {
            "JWS header" => "JWS header is not base64url",
            "JWE header" => "JWE header is not base64url",
            _ => "claims are not base64url",
        })
    })?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map(|o| o.0)
        .map_err(|_| {
            malformed(match what {
                "JWS header" => "JWS header is not a JSON object",
                "JWE header" => "JWE header is not a JSON object",
                _ => "claims are not a JSON object",
            })
        })
}

/// A JSON object with unique member names.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(name, value).is_some() {
                        return Err(de::Error::custom("duplicate member name"));
                    }
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::keys::KeyManagementAlg;
    use crate::oidc::testkit::{
        self, CLIENT, ISSUER, KEY_SET, KEYS, NOW, b64, claims, claims_with, header, now, policy,
        sign, sign_with, token,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn verify(token: &str) -> Result<VerifiedLogoutToken, LogoutTokenError> {
        verify_with(token, &policy())
    }

    fn verify_with(
        token: &str,
        policy: &LogoutTokenPolicy,
    ) -> Result<VerifiedLogoutToken, LogoutTokenError> {
        UnverifiedLogoutToken::decode(token)?.verify(policy, &KEY_SET, now())
    }

    /// A token signed by the published RS256 key with `header` as given.
    fn with_header(header: Value) -> String {
        sign(&header, &claims(), JwsAlg::Rs256)
    }

    fn rs256_header_with(patch: Value) -> Value {
        let mut header = header(JwsAlg::Rs256);
        for (name, value) in patch.as_object().unwrap() {
            if value.is_null() {
                header.as_object_mut().unwrap().remove(name);
            } else {
                header[name] = value.clone();
            }
        }
        header
    }

    // ---- happy paths -------------------------------------------------

    #[test]
    fn a_valid_token_verifies_for_every_algorithm() {
        for alg in JwsAlg::ALL {
            let token = sign(&header(alg), &claims(), alg);
            let verified = verify(&token).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(verified.iss().as_ref(), ISSUER, "{alg}");
            assert_eq!(verified.jti().as_ref(), "bWJq");
            assert_eq!(verified.sub().unwrap().as_ref(), "248289761001");
            assert_eq!(
                verified.sid().unwrap().as_ref(),
                "08a5019c-17e1-4977-8f42-65a12843ea02"
            );
            assert_eq!(verified.iat(), UnixTime::from_secs(NOW - 5));
            assert_eq!(verified.exp(), Some(UnixTime::from_secs(NOW + 115)));
            assert!(!verified.was_encrypted());
        }
    }

    #[test]
    fn decode_exposes_only_routing_data() {
        let token = UnverifiedLogoutToken::decode(&token(&claims())).unwrap();
        assert_eq!(token.issuer_hint(), Some(ISSUER));
        assert_eq!(token.kid(), Some("rsa"));
        assert_eq!(token.alg(), Some("RS256"));
        assert!(!token.is_encrypted());
        let debug = format!("{token:?}");
        assert!(
            !debug.contains("bWJq") && !debug.contains("248289761001"),
            "{debug}"
        );
    }

    #[test]
    fn sub_alone_or_sid_alone_is_enough() {
        let only_sub = verify(&token(&claims_with(json!({"sid": null})))).unwrap();
        assert!(only_sub.sid().is_none() && only_sub.session().is_none());
        assert_eq!(only_sub.subject().unwrap().sub.as_ref(), "248289761001");
        let only_sid = verify(&token(&claims_with(json!({"sub": null})))).unwrap();
        assert!(only_sid.sub().is_none());
        assert_eq!(only_sid.session().unwrap().iss.as_ref(), ISSUER);
    }

    #[test]
    fn accepted_typ_values() {
        for typ in [
            json!("logout+jwt"),
            json!("Logout+JWT"),
            json!("application/logout+jwt"),
            json!("JWT"),
            json!("jwt"),
            json!("application/JWT"),
            Value::Null, // absent
        ] {
            let token = with_header(rs256_header_with(json!({ "typ": typ })));
            assert!(verify(&token).is_ok(), "typ {typ}");
        }
        let explicit = policy().with_explicit_typ_required(true);
        assert!(verify_with(&token(&claims()), &explicit).is_ok());
    }

    #[test]
    fn aud_may_be_an_array_with_trusted_audiences() {
        let token = token(&claims_with(json!({"aud": ["other-app", CLIENT]})));
        let policy = policy().with_trusted_audiences(["other-app"]).unwrap();
        assert!(verify_with(&token, &policy).is_ok());
        let policy = LogoutTokenPolicy::new(Issuer::parse(ISSUER).unwrap(), ["x", CLIENT]).unwrap();
        assert!(verify_with(&super::tests::token(&claims()), &policy).is_ok());
    }

    #[test]
    fn unknown_claims_and_extra_events_are_ignored() {
        let token = token(&claims_with(json!({
            "events": { BACKCHANNEL_LOGOUT_EVENT: {"reason": "x"}, "urn:other": {} },
            "acr": "1",
            "deep": [[[[{"a": [1, 2, {"b": null}]}]]]],
        })));
        assert!(verify(&token).is_ok());
    }

    #[test]
    fn numeric_dates_may_have_fractions() {
        let token = token(&claims_with(
            json!({"iat": (NOW - 5) as f64 + 0.9, "exp": (NOW + 60) as f64 + 0.5}),
        ));
        let verified = verify(&token).unwrap();
        assert_eq!(verified.iat(), UnixTime::from_secs(NOW - 5));
    }

    #[test]
    fn without_kid_the_single_key_of_a_set_is_used() {
        let jwks = json!({"keys": [Value::Object(testkit::public(&KEYS.ed).into())]});
        let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
        let token = sign(
            &rs256_header_with(json!({"alg": "EdDSA", "kid": null})),
            &claims(),
            JwsAlg::EdDsa,
        );
        let verified =
            UnverifiedLogoutToken::decode(&token)
                .unwrap()
                .verify(&policy(), &keys, now());
        assert!(verified.is_ok(), "{verified:?}");
    }

    // ---- one test per rule -------------------------------------------

    #[test]
    fn too_large() {
        let token = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            UnverifiedLogoutToken::decode(&token).unwrap_err(),
            LogoutTokenError::TooLarge
        );
    }

    #[test]
    fn malformed() {
        let good = token(&claims());
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.b.c.d.e.f".into(),
            format!("{h}.{p}.{s}="),                    // padded signature
            format!("{h}=.{p}.{s}"),                    // padded header
            format!("{h}.{p}!.{s}"),                    // not base64url
            format!("{}.{p}.{s}", b64("[1,2]")),        // header not an object
            format!("{}.{p}.{s}", b64(r#"{"alg":5}"#)), // alg not a string
            format!("{}.{p}.{s}", b64(r#"{"typ":"JWT"}"#)), // alg missing
            format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","kid":1}"#)),
            format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","alg":"none"}"#)), // duplicate
            format!("{h}.{}.{s}", b64("[]")),                              // claims not an object
            format!("{h}.{}.{s}", b64("not json")),
            format!("{h}.{}.{s}", b64(r#"{"iss":"a","iss":"b"}"#)),
            format!(
                "{h}.{}.{s}",
                b64(format!(
                    "{{\"a\":{}{}}}",
                    "[".repeat(5000),
                    "]".repeat(5000)
                ))
            ),
            format!("{h}.{}.{s}", b64([0xff, 0xfe])), // not UTF-8
            "a.b.c.d.e".into(),                       // JWE parts not base64
        ];
        for token in cases {
            let err = UnverifiedLogoutToken::decode(&token).unwrap_err();
            assert!(
                matches!(err, LogoutTokenError::Malformed { .. }),
                "{token}: {err:?}"
            );
        }
    }

    #[test]
    fn unsupported_type() {
        for typ in [
            json!("at+jwt"),
            json!("JOSE"),
            json!("text/logout+jwt"),
            json!(5),
        ] {
            let token = with_header(rs256_header_with(json!({ "typ": typ })));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::UnsupportedType,
                "{typ}"
            );
        }
        let explicit = policy().with_explicit_typ_required(true);
        for typ in [json!("JWT"), Value::Null] {
            let token = with_header(rs256_header_with(json!({ "typ": typ })));
            assert_eq!(
                verify_with(&token, &explicit).unwrap_err(),
                LogoutTokenError::UnsupportedType
            );
        }
    }

    #[test]
    fn unsupported_critical() {
        let token = with_header(rs256_header_with(json!({"crit": ["b64"], "b64": false})));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::UnsupportedCritical
        );
    }

    #[test]
    fn alg_none() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = rs256_header_with(json!({ "alg": alg }));
            let token = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::AlgNone,
                "{alg}"
            );
        }
    }

    #[test]
    fn alg_symmetric() {
        // The classic confusion: HMAC keyed with the provider's public key.
        let header = rs256_header_with(json!({ "alg": "HS256" }));
        let input = format!("{}.{}", b64(header.to_string()), b64(claims().to_string()));
        let hmac = josekit::jws::HS256
            .signer_from_bytes(KEYS.rsa.to_public_key().unwrap().to_string())
            .unwrap();
        let token = format!(
            "{input}.{}",
            b64(josekit::jws::JwsSigner::sign(&hmac, input.as_bytes()).unwrap())
        );
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::AlgSymmetric);
    }

    #[test]
    fn alg_not_allowed() {
        let only_rs256 = policy().with_allowed_algs([JwsAlg::Rs256]).unwrap();
        let token = sign(&header(JwsAlg::Es256), &claims(), JwsAlg::Es256);
        assert_eq!(
            verify_with(&token, &only_rs256).unwrap_err(),
            LogoutTokenError::AlgNotAllowed
        );
        for alg in ["ES384", "RS1", "rs256", "", "A128KW"] {
            let token = with_header(rs256_header_with(json!({ "alg": alg })));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::AlgNotAllowed,
                "{alg}"
            );
        }
    }

    #[test]
    fn missing_kid() {
        let token = with_header(rs256_header_with(json!({ "kid": null })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingKid);
    }

    #[test]
    fn unknown_kid() {
        let token = with_header(rs256_header_with(json!({ "kid": "rotated-away" })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::UnknownKid);
    }

    #[test]
    fn alg_key_mismatch() {
        // An RSA key cannot verify ES256; the EC key's JWK pins ES256.
        let token = sign_with(
            &rs256_header_with(json!({"alg": "ES256"})),
            &claims(),
            JwsAlg::Es256,
            &KEYS.ec,
        );
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::AlgKeyMismatch
        );
        let token = sign(
            &rs256_header_with(json!({"alg": "EdDSA", "kid": "ec"})),
            &claims(),
            JwsAlg::EdDsa,
        );
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::AlgKeyMismatch
        );
    }

    #[test]
    fn bad_signature() {
        let good = token(&claims());
        let (input, signature) = good.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
        sig[10] ^= 1;
        let cases = [
            format!("{input}.{}", b64(&sig)),
            format!("{input}."),
            format!("{input}.{}", b64(&sig[..200])),
            sign_with(
                &header(JwsAlg::Rs256),
                &claims(),
                JwsAlg::Rs256,
                &KEYS.stranger,
            ),
            // RS256 signature presented as PS256.
            format!(
                "{}.{}.{signature}",
                b64(rs256_header_with(json!({"alg": "PS256"})).to_string()),
                b64(claims().to_string())
            ),
        ];
        for token in cases {
            assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::BadSignature);
        }
    }

    #[test]
    fn a_forged_token_with_bad_claims_reports_the_signature() {
        let claims = claims_with(json!({"iss": "https://evil.example", "nonce": "n", "iat": 0}));
        let token = sign_with(
            &header(JwsAlg::Rs256),
            &claims,
            JwsAlg::Rs256,
            &KEYS.stranger,
        );
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::BadSignature);
    }

    #[test]
    fn issuer_mismatch() {
        for iss in [
            json!("https://idp.example/realms/home/"),
            json!("https://IDP.example/realms/home"),
            Value::Null,
        ] {
            let token = token(&claims_with(json!({ "iss": iss })));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::IssuerMismatch,
                "{iss}"
            );
        }
    }

    #[test]
    fn audience_mismatch() {
        for aud in [
            json!("someone-else"),
            json!([]),
            json!(["a", "b"]),
            Value::Null,
            json!("REVOKD"),
        ] {
            let token = token(&claims_with(json!({ "aud": aud })));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::AudienceMismatch,
                "{aud}"
            );
        }
    }

    #[test]
    fn untrusted_audience() {
        let token = token(&claims_with(json!({ "aud": [CLIENT, "attacker-app"] })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::UntrustedAudience
        );
    }

    #[test]
    fn missing_iat() {
        let token = token(&claims_with(json!({ "iat": null })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingIat);
    }

    #[test]
    fn issued_in_future() {
        let token = token(&claims_with(json!({ "iat": NOW + 61 })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::IssuedInFuture
        );
    }

    #[test]
    fn too_old() {
        let token = token(&claims_with(json!({ "iat": NOW - 361, "exp": NOW + 100 })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::TooOld);
    }

    #[test]
    fn expired() {
        let token = token(&claims_with(json!({ "iat": NOW - 100, "exp": NOW - 60 })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::Expired);
    }

    #[test]
    fn missing_exp() {
        let token = token(&claims_with(json!({ "exp": null })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingExp);
        let lenient = policy().with_exp_required(false);
        let verified = verify_with(&token, &lenient).unwrap();
        assert_eq!(verified.exp(), None);
    }

    #[test]
    fn missing_jti() {
        let token = token(&claims_with(json!({ "jti": null })));
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingJti);
    }

    #[test]
    fn bad_events() {
        for events in [
            Value::Null,
            json!({}),
            json!([BACKCHANNEL_LOGOUT_EVENT]),
            json!(BACKCHANNEL_LOGOUT_EVENT),
            json!({ BACKCHANNEL_LOGOUT_EVENT: [] }),
            json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }),
            json!({ BACKCHANNEL_LOGOUT_EVENT: null }),
            json!({ "https://schemas.openid.net/event/backchannel-logout": {} }),
        ] {
            let token = token(&claims_with(json!({ "events": events.clone() })));
            let expected = LogoutTokenError::BadEvents;
            // `null` in the patch removes the claim: also BadEvents.
            assert_eq!(verify(&token).unwrap_err(), expected, "{events}");
        }
    }

    #[test]
    fn missing_sub_and_sid() {
        let token = token(&claims_with(json!({ "sub": null, "sid": null })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::MissingSubAndSid
        );
    }

    #[test]
    fn nonce_forbidden() {
        let token = token(&claims_with(json!({ "nonce": "n-0S6_WzA2Mj" })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::NonceForbidden
        );
        // Present as `null` is still present.
        let mut claims = claims();
        claims["nonce"] = Value::Null;
        assert_eq!(
            verify(&super::tests::token(&claims)).unwrap_err(),
            LogoutTokenError::NonceForbidden
        );
    }

    #[test]
    fn invalid_claim() {
        let cases = [
            (json!({ "iss": 5 }), "iss"),
            (json!({ "aud": 5 }), "aud"),
            (json!({ "aud": [CLIENT, 5] }), "aud"),
            (json!({ "iat": "1764331613" }), "iat"),
            (json!({ "exp": true }), "exp"),
            (json!({ "jti": "" }), "jti"),
            (json!({ "jti": 7 }), "jti"),
            (json!({ "jti": "x".repeat(257) }), "jti"),
            (json!({ "sub": 248289761001_u64 }), "sub"),
            (json!({ "sub": "line\nbreak" }), "sub"),
            (json!({ "sid": "" }), "sid"),
            (json!({ "sid": {} }), "sid"),
        ];
        for (patch, claim) in cases {
            let token = token(&claims_with(patch.clone()));
            assert_eq!(
                verify(&token).unwrap_err(),
                LogoutTokenError::InvalidClaim { claim },
                "{patch}"
            );
        }
        let mut claims = claims();
        claims["sub"] = Value::Null;
        assert_eq!(
            verify(&super::tests::token(&claims)).unwrap_err(),
            LogoutTokenError::InvalidClaim { claim: "sub" }
        );
    }

    // ---- encryption (§2.6 step 1) ------------------------------------

    fn jws() -> String {
        token(&claims())
    }

    fn encrypted_policy(alg: KeyManagementAlg) -> LogoutTokenPolicy {
        policy().with_decryption_key(testkit::decryption_key(alg), true)
    }

    #[test]
    fn encrypted_tokens_verify_for_every_key_and_content_algorithm() {
        let cases = [
            (KeyManagementAlg::RsaOaep, "A128GCM"),
            (KeyManagementAlg::RsaOaep256, "A256GCM"),
            (KeyManagementAlg::RsaOaep, "A128CBC-HS256"),
            (KeyManagementAlg::EcdhEs, "A128GCM"),
            (KeyManagementAlg::EcdhEs, "A128CBC-HS256"),
            (KeyManagementAlg::EcdhEsA128Kw, "A256GCM"),
            (KeyManagementAlg::EcdhEsA256Kw, "A256CBC-HS512"),
        ];
        for (alg, enc) in cases {
            let jwe = testkit::encrypt(&jws(), alg, enc, json!({}));
            let token = UnverifiedLogoutToken::decode(&jwe).unwrap();
            assert!(token.is_encrypted());
            assert_eq!(token.issuer_hint(), None);
            assert_eq!(token.alg(), Some(alg.name()));
            let verified = token
                .verify(&encrypted_policy(alg), &KEY_SET, now())
                .unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
            assert!(verified.was_encrypted());
            assert_eq!(verified.jti().as_ref(), "bWJq");
        }
    }

    #[test]
    fn decrypt_reveals_the_issuer_before_verification() {
        let key = testkit::decryption_key(KeyManagementAlg::RsaOaep);
        let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
        let token = UnverifiedLogoutToken::decode(&jwe)
            .unwrap()
            .decrypt(&key)
            .unwrap();
        assert!(!token.is_encrypted());
        assert_eq!(token.issuer_hint(), Some(ISSUER));
        assert_eq!(token.kid(), Some("rsa"));
        // The provider requires encryption and has no key of its own here:
        // the caller decrypted, so the requirement is met.
        let requires =
            policy().with_decryption_key(testkit::decryption_key(KeyManagementAlg::EcdhEs), true);
        assert!(token.verify(&requires, &KEY_SET, now()).is_ok());
        // Decrypting a plain token is a no-op.
        let plain = UnverifiedLogoutToken::decode(&jws())
            .unwrap()
            .decrypt(&key)
            .unwrap();
        assert_eq!(
            plain.verify(&requires, &KEY_SET, now()).unwrap_err(),
            LogoutTokenError::EncryptionRequired
        );
    }

    #[test]
    fn encryption_required() {
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jws(), &policy).unwrap_err(),
            LogoutTokenError::EncryptionRequired
        );
        // Optional encryption accepts both.
        let optional = self::policy()
            .with_decryption_key(testkit::decryption_key(KeyManagementAlg::RsaOaep), false);
        assert!(verify_with(&jws(), &optional).is_ok());
    }

    #[test]
    fn no_decryption_key() {
        let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
        assert_eq!(verify(&jwe).unwrap_err(), LogoutTokenError::NoDecryptionKey);
    }

    #[test]
    fn jwe_alg_not_allowed() {
        let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep256, "A128GCM", json!({}));
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::JweAlgNotAllowed
        );
    }

    #[test]
    fn jwe_enc_not_allowed() {
        let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A192GCM", json!({}));
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::JweEncNotAllowed
        );
    }

    #[test]
    fn jwe_compression_forbidden() {
        let jwe = testkit::encrypt(
            &jws(),
            KeyManagementAlg::RsaOaep,
            "A128GCM",
            json!({"zip": "DEF"}),
        );
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::JweCompressionForbidden
        );
    }

    #[test]
    fn jwe_not_nested_jwt() {
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        for cty in [Value::Null, json!("json"), json!("application/jose")] {
            let jwe = testkit::encrypt(
                &jws(),
                KeyManagementAlg::RsaOaep,
                "A128GCM",
                json!({ "cty": cty }),
            );
            assert_eq!(
                verify_with(&jwe, &policy).unwrap_err(),
                LogoutTokenError::JweNotNestedJwt
            );
        }
        let jwe = testkit::encrypt(
            &jws(),
            KeyManagementAlg::RsaOaep,
            "A128GCM",
            json!({ "cty": "application/jwt" }),
        );
        assert!(verify_with(&jwe, &policy).is_ok());
    }

    #[test]
    fn jwe_unknown_kid() {
        let jwe = testkit::encrypt(
            &jws(),
            KeyManagementAlg::RsaOaep,
            "A128GCM",
            json!({ "kid": "old-key" }),
        );
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::JweUnknownKid
        );
    }

    #[test]
    fn jwe_with_crit_is_refused() {
        let jwe = testkit::encrypt(
            &jws(),
            KeyManagementAlg::RsaOaep,
            "A128GCM",
            json!({ "crit": ["exp"], "exp": 1 }),
        );
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::UnsupportedCritical
        );
    }

    #[test]
    fn cannot_decrypt() {
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        for enc in ["A128GCM", "A128CBC-HS256"] {
            let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, enc, json!({}));
            let parts: Vec<&str> = jwe.split('.').collect();
            let flip = |part: &str| {
                let mut bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
                bytes[0] ^= 1;
                b64(bytes)
            };
            let tampered = [
                // encrypted key (the RFC 7516 §11.5 path: a random CEK)
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0],
                    flip(parts[1]),
                    parts[2],
                    parts[3],
                    parts[4]
                ),
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0],
                    parts[1],
                    flip(parts[2]),
                    parts[3],
                    parts[4]
                ),
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0],
                    parts[1],
                    parts[2],
                    flip(parts[3]),
                    parts[4]
                ),
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0],
                    parts[1],
                    parts[2],
                    parts[3],
                    flip(parts[4])
                ),
                // truncated tag
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0],
                    parts[1],
                    parts[2],
                    parts[3],
                    &parts[4][..8]
                ),
                // header changed: it is the AAD
                format!(
                    "{}.{}.{}.{}.{}",
                    b64(format!(
                        "{{\"alg\":\"RSA-OAEP\",\"enc\":\"{enc}\",\"cty\":\"JWT\",\"kid\":\"enc-rsa\",\"x\":1}}"
                    )),
                    parts[1],
                    parts[2],
                    parts[3],
                    parts[4]
                ),
            ];
            for jwe in tampered {
                assert_eq!(
                    verify_with(&jwe, &policy).unwrap_err(),
                    LogoutTokenError::CannotDecrypt,
                    "{enc}"
                );
            }
        }
        // Encrypted to someone else's key.
        let ec = testkit::encrypt(&jws(), KeyManagementAlg::EcdhEs, "A128GCM", json!({}));
        let other = josekit::jwk::Jwk::generate_ec_key(josekit::jwk::P_256).unwrap();
        let other = DecryptionKey::from_jwk(KeyManagementAlg::EcdhEs, other.to_string().as_bytes())
            .unwrap();
        let policy = self::policy().with_decryption_key(other, true);
        assert_eq!(
            verify_with(&ec, &policy).unwrap_err(),
            LogoutTokenError::CannotDecrypt
        );
    }

    #[test]
    fn a_nested_token_must_be_a_jws() {
        let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
        let inner = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
        let outer = testkit::encrypt(&inner, KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
        assert!(matches!(
            verify_with(&outer, &policy),
            Err(LogoutTokenError::Malformed { .. })
        ));
    }

    // ---- labels and messages -----------------------------------------

    #[test]
    fn every_rule_has_a_distinct_label_and_no_message_echoes_the_token() {
        let all = [
            LogoutTokenError::TooLarge,
            LogoutTokenError::Malformed { detail: "x" },
            LogoutTokenError::UnsupportedType,
            LogoutTokenError::UnsupportedCritical,
            LogoutTokenError::AlgNone,
            LogoutTokenError::AlgSymmetric,
            LogoutTokenError::AlgNotAllowed,
            LogoutTokenError::MissingKid,
            LogoutTokenError::UnknownKid,
            LogoutTokenError::AlgKeyMismatch,
            LogoutTokenError::BadSignature,
            LogoutTokenError::EncryptionRequired,
            LogoutTokenError::NoDecryptionKey,
            LogoutTokenError::JweAlgNotAllowed,
            LogoutTokenError::JweEncNotAllowed,
            LogoutTokenError::JweCompressionForbidden,
            LogoutTokenError::JweNotNestedJwt,
            LogoutTokenError::JweUnknownKid,
            LogoutTokenError::CannotDecrypt,
            LogoutTokenError::IssuerMismatch,
            LogoutTokenError::AudienceMismatch,
            LogoutTokenError::UntrustedAudience,
            LogoutTokenError::MissingIat,
            LogoutTokenError::IssuedInFuture,
            LogoutTokenError::TooOld,
            LogoutTokenError::Expired,
            LogoutTokenError::MissingExp,
            LogoutTokenError::MissingJti,
            LogoutTokenError::BadEvents,
            LogoutTokenError::MissingSubAndSid,
            LogoutTokenError::NonceForbidden,
            LogoutTokenError::InvalidClaim { claim: "iat" },
        ];
        let labels: std::collections::BTreeSet<_> =
            all.iter().map(LogoutTokenError::rule).collect();
        assert_eq!(labels.len(), all.len());
        for label in labels {
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{label}"
            );
        }
        // Errors carry no token data: their fields are `&'static str`.
        let claims = claims_with(json!({"iss": "https://evil.example/<script>"}));
        let err = verify(&token(&claims)).unwrap_err();
        assert!(!err.to_string().contains("evil"), "{err}");
    }

    // ---- time rules at the boundaries --------------------------------

    fn times(iat: Option<i64>, exp: Option<i64>) -> Result<(UnixTime, UnixTime), LogoutTokenError> {
        check_times(iat, exp, now(), &policy())
    }

    #[test]
    fn time_boundaries_at_now_plus_and_minus_skew() {
        // skew 60 s, max_age 300 s
        let ok = |iat, exp| times(Some(iat), exp).is_ok();
        assert!(ok(NOW + 60, Some(NOW + 120)), "iat = now + skew");
        assert_eq!(
            times(Some(NOW + 61), Some(NOW + 120)).unwrap_err(),
            LogoutTokenError::IssuedInFuture
        );
        assert!(ok(NOW - 360, Some(NOW + 1)), "iat = now - max_age - skew");
        assert_eq!(
            times(Some(NOW - 361), Some(NOW + 1)).unwrap_err(),
            LogoutTokenError::TooOld
        );
        assert!(ok(NOW - 100, Some(NOW - 59)), "exp = now - skew + 1");
        assert_eq!(
            times(Some(NOW - 100), Some(NOW - 60)).unwrap_err(),
            LogoutTokenError::Expired
        );
        assert_eq!(
            times(None, Some(NOW)).unwrap_err(),
            LogoutTokenError::MissingIat
        );
        assert_eq!(
            times(Some(NOW), None).unwrap_err(),
            LogoutTokenError::MissingExp
        );
    }

    #[test]
    fn accepted_until_is_the_first_refused_instant() {
        let (_, until) = times(Some(NOW - 5), Some(NOW + 115)).unwrap();
        assert_eq!(until, UnixTime::from_secs(NOW + 115 + 60));
        let (_, until) = times(Some(NOW - 5), Some(NOW + 10_000)).unwrap();
        assert_eq!(until, UnixTime::from_secs(NOW - 5 + 300 + 60 + 1));
    }

    #[test]
    fn extreme_numeric_dates_saturate() {
        for iat in [
            json!(1e300),
            json!(u64::MAX),
            json!(-1e300),
            json!(i64::MIN),
        ] {
            let err = verify(&token(&claims_with(json!({ "iat": iat.clone() })))).unwrap_err();
            assert!(
                matches!(
                    err,
                    LogoutTokenError::IssuedInFuture | LogoutTokenError::TooOld
                ),
                "{iat}: {err}"
            );
        }
        let err = verify(&token(&claims_with(json!({ "exp": -1e300 })))).unwrap_err();
        assert_eq!(err, LogoutTokenError::Expired);
        assert!(verify(&token(&claims_with(json!({ "exp": 1e300 })))).is_ok());
    }

    proptest! {
        #[test]
        fn time_rules_match_their_definition(
            now in -1_000_000i64..1_000_000,
            iat in proptest::option::of(-1_100_000i64..1_100_000),
            exp in proptest::option::of(-1_100_000i64..1_100_000),
            skew in 0u64..1000,
            max_age in 0u64..100_000,
            require_exp: bool,
        ) {
            let policy = policy()
                .with_clock_skew(Duration::from_secs(skew))
                .with_max_age(Duration::from_secs(max_age))
                .with_exp_required(require_exp);
            let (skew, max_age) = (skew as i64, max_age as i64);
            let at = |t| check_times(iat, exp, UnixTime::from_secs(t), &policy);
            let expected_ok = iat.is_some_and(|iat| iat <= now + skew && iat >= now - max_age - skew)
                && match exp {
                    Some(exp) => now < exp + skew,
                    None => !require_exp,
                };
            let result = at(now);
            prop_assert_eq!(result.is_ok(), expected_ok, "{:?}", result);
            if let Ok((_, until)) = result {
                // Accepted right up to `until`, refused from it on.
                let until = until.as_secs();
                prop_assert!(until > now);
                prop_assert!(at(until - 1).is_ok());
                prop_assert!(at(until).is_err());
            }
        }

        #[test]
        fn decode_never_panics_on_any_string(s in ".{0,300}") {
            let _ = UnverifiedLogoutToken::decode(&s);
        }

        #[test]
        fn decode_and_verify_never_panic_on_token_shaped_input(
            header in prop::collection::vec(any::<u8>(), 0..64),
            payload in prop::collection::vec(any::<u8>(), 0..128),
            signature in prop::collection::vec(any::<u8>(), 0..300),
            parts in prop::sample::select(vec![3usize, 5]),
        ) {
            let mut token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
            if parts == 5 {
                token = format!("{token}.{}.{}", b64(&payload), b64(&header));
            }
            if let Ok(token) = UnverifiedLogoutToken::decode(&token) {
                let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
                let _ = token.verify(&policy, &KEY_SET, now());
            }
        }

        #[test]
        fn verify_never_panics_on_arbitrary_json_claims(
            claims in proptest::collection::btree_map(
                prop::sample::select(vec!["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events", "nonce", "x"]),
                prop_oneof![
                    Just(Value::Null),
                    any::<bool>().prop_map(Value::from),
                    any::<i64>().prop_map(Value::from),
                    any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
                    ".{0,20}".prop_map(Value::from),
                    Just(json!([CLIENT])),
                    Just(json!({ BACKCHANNEL_LOGOUT_EVENT: {} })),
                ],
                0..10,
            ),
        ) {
            let claims = Value::Object(claims.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            let _ = verify(&token(&claims));
        }
    }
}

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

use serde_json::Value;

use super::decryption_key::DecryptionKey;
use super::error::LogoutTokenError;
pub use super::error::MAX_TOKEN_BYTES;
use super::jwe::{EncryptedParts, is_media_type};
use super::jwks::{JwsAlg, KeySet};
use super::jws::CompactJws;
use crate::domain::{Change, Issuer, Session, SessionId, Subject, SubjectId, TokenId, UnixTime};

mod claims;

use claims::check_claims;
pub use claims::check_times;

/// The member of `events` that makes a JWT a Logout Token (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

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

    /// The relying party's key for encrypted logout tokens, if any.
    pub fn decryption_key(&self) -> Option<&DecryptionKey> {
        self.decryption_key.as_ref()
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
    Signed(CompactJws),
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
            3 => Form::Signed(CompactJws::decode(&parts)?),
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
                form: Form::Signed(nested_jws(jwe.decrypt(key)?)?),
                was_encrypted: true,
            }),
        }
    }

    /// The rules of §2.6 that need no signing key — header `typ`, `crit`
    /// and `alg`, encryption when required, and every claim rule at `now`
    /// — for a token that must wait for its provider's keys (DESIGN 10):
    /// only a token that could still be accepted is worth keeping. Returns
    /// the first instant at which it would be refused on time grounds.
    /// Decrypt an encrypted token first ([`decrypt`](Self::decrypt)).
    ///
    /// Nothing here is verified: the answer only says the token is
    /// well-formed, never that it is genuine.
    ///
    /// # Errors
    /// The first rule the token breaks; [`LogoutTokenError::Malformed`]
    /// for a token that is still encrypted.
    pub fn check_unverified(
        &self,
        policy: &LogoutTokenPolicy,
        now: UnixTime,
    ) -> Result<UnixTime, LogoutTokenError> {
        let Form::Signed(signed) = &self.form else {
            return Err(LogoutTokenError::Malformed {
                detail: "an encrypted token is checked once decrypted",
            });
        };
        if policy.require_encryption && !self.was_encrypted {
            return Err(LogoutTokenError::EncryptionRequired);
        }
        check_typ(signed.header.get("typ"), policy.require_explicit_typ)?;
        signed.check_header(&policy.allowed_algs)?;
        check_claims(&signed.claims, policy, now, self.was_encrypted)
            .map(|claims| claims.accepted_until)
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
                verify_signed(&nested_jws(jwe.decrypt(key)?)?, policy, keys, now, true)
            }
            Form::Signed(signed) => {
                if policy.require_encryption && !self.was_encrypted {
                    return Err(LogoutTokenError::EncryptionRequired);
                }
                verify_signed(signed, policy, keys, now, self.was_encrypted)
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

/// The nested JWS inside a decrypted JWE.
fn nested_jws(plaintext: Vec<u8>) -> Result<CompactJws, LogoutTokenError> {
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
    CompactJws::decode(&parts)
}

/// The header rules of §2.6 steps 2–3, the signature against the
/// provider's keys, then the claims.
fn verify_signed(
    signed: &CompactJws,
    policy: &LogoutTokenPolicy,
    keys: &KeySet,
    now: UnixTime,
    was_encrypted: bool,
) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    check_typ(signed.header.get("typ"), policy.require_explicit_typ)?;
    signed.verify_signature(&policy.allowed_algs, keys)?;
    check_claims(&signed.claims, policy, now, was_encrypted)
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

    /// What the token asks of the relying party (§2.7): a `sid` ends that
    /// session; `sub` alone ends every session of the subject, which for
    /// revokd means every token issued until `now`. The two expiries are
    /// how long each fact is kept (the service's lifetimes).
    ///
    /// # Errors
    /// [`LogoutTokenError::MissingSubAndSid`], which verification already
    /// refuses; kept so that the mapping stands on its own.
    pub fn change(
        &self,
        now: UnixTime,
        session_expires_at: UnixTime,
        revoked_before_expires_at: UnixTime,
    ) -> Result<Change, LogoutTokenError> {
        match (self.session(), self.subject()) {
            (Some(session), _) => Ok(Change::SessionRevoked {
                session,
                expires_at: session_expires_at,
            }),
            (None, Some(subject)) => Ok(Change::SubjectRevokedBefore {
                subject,
                before: now,
                expires_at: revoked_before_expires_at,
            }),
            (None, None) => Err(LogoutTokenError::MissingSubAndSid),
        }
    }
}

#[cfg(test)]
mod tests;

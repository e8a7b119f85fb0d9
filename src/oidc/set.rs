//! Security Event Tokens (RFC 8417) as OpenID Shared Signals Framework 1.0
//! transmitters send them, with CAEP 1.0 and RISC 1.0 events, and the
//! signed JWT a provider authenticates a Global Token Revocation request
//! with: the pure validation core. Bytes and `now` in, a verdict out.
//!
//! The signature rules are those of the logout token
//! ([`super::logout_token`]): never `none`, never `HS*`, only the
//! provider's JWK Set, the key must fit `alg`; the signature is checked
//! before any claim, so a forged token is always reported as
//! [`JwtError::BadSignature`]. Then, for a SET:
//!
//! 1. `typ` is `secevent+jwt` (RFC 8417 §2.3; SSF 1.0 §4.1.8 requires it);
//! 2. `iss` is the stream's transmitter, `aud` names us;
//! 3. `iat` present, not in the future, not older than the stream allows;
//!    `exp`, when present, not passed;
//! 4. `jti` present (replay-once is the caller's, with the store);
//! 5. `events` an object with exactly one member (SSF 1.0 §4.1.2), whose
//!    value is an object;
//! 6. the subject: `sub_id` (SSF 1.0 §4.1.1), or the event's own `subject`
//!    member as older CAEP/RISC transmitters send it.
//!
//! [`classify`] then says what an event asks of revokd, and [`plan`] what
//! it means for the subject it names.

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::LogoutTokenError;
use super::jwe::is_media_type;
use super::jwks::{JwsAlg, KeySet};
use super::jws::{CompactJws, SignatureError};
use super::subject_id::{SubjectError, SubjectIdentifier, Target};
use crate::domain::{Issuer, Session, Subject, TokenId, UnixTime};

/// Largest SET or caller token accepted, in bytes.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// Event type URIs' common prefixes.
pub const CAEP_EVENT: &str = "https://schemas.openid.net/secevent/caep/event-type/";
pub const RISC_EVENT: &str = "https://schemas.openid.net/secevent/risc/event-type/";
pub const SSF_EVENT: &str = "https://schemas.openid.net/secevent/ssf/event-type/";

/// Why a SET or a caller's token was refused: one variant per rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is larger than {max} bytes", max = MAX_JWT_BYTES)]
    TooLarge,
    #[error("the token is malformed: {detail}")]
    Malformed { detail: &'static str },
    #[error("the token's `typ` header is not `{expected}`")]
    UnsupportedType { expected: &'static str },
    #[error("the token has a `crit` header parameter; no extension is supported")]
    UnsupportedCritical,
    #[error("the token is not signed (`alg` is `none`)")]
    AlgNone,
    #[error("the token's `alg` is symmetric (HS*); only public-key signatures are accepted")]
    AlgSymmetric,
    #[error("the token's `alg` is not allowed")]
    AlgNotAllowed,
    #[error("the token has no `kid` and the key set has more than one key")]
    MissingKid,
    #[error("the token's `kid` is not in the key set")]
    UnknownKid,
    #[error("the token's `alg` does not fit the key")]
    AlgKeyMismatch,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token's `iss` is not the expected issuer")]
    IssuerMismatch,
    #[error("the token's `aud` does not name this receiver")]
    AudienceMismatch,
    #[error("the token has no `iat`")]
    MissingIat,
    #[error("the token's `iat` is in the future")]
    IssuedInFuture,
    #[error("the token's `iat` is older than the accepted age")]
    TooOld,
    #[error("the token has expired (`exp`)")]
    Expired,
    #[error("the token has no `exp`")]
    MissingExp,
    #[error("the token has no `jti`")]
    MissingJti,
    #[error("the SET's `events` is not an object holding one event object")]
    BadEvents,
    #[error("the SET's `events` holds {0} events; SSF 1.0 allows exactly one")]
    NotOneEvent(usize),
    #[error("the SET names no subject (`sub_id`, or the event's `subject`)")]
    MissingSubject,
    #[error(transparent)]
    Subject(#[from] SubjectError),
    #[error("the token's claim `{claim}` has an invalid value")]
    InvalidClaim { claim: &'static str },
}

impl JwtError {
    /// A stable snake_case label for metrics and error descriptions.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedType { .. } => "unsupported_type",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::AlgNone => "alg_none",
            Self::AlgSymmetric => "alg_symmetric",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::AlgKeyMismatch => "alg_key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::MissingIat => "missing_iat",
            Self::IssuedInFuture => "issued_in_future",
            Self::TooOld => "too_old",
            Self::Expired => "expired",
            Self::MissingExp => "missing_exp",
            Self::MissingJti => "missing_jti",
            Self::BadEvents => "bad_events",
            Self::NotOneEvent(_) => "not_one_event",
            Self::MissingSubject => "missing_subject",
            Self::Subject(err) => err.rule(),
            Self::InvalidClaim { .. } => "invalid_claim",
        }
    }

    /// The RFC 8935 §2.4 error code (IANA "Security Event Token Error
    /// Codes") a push receiver answers with.
    pub const fn set_error_code(&self) -> &'static str {
        match self {
            Self::AlgNone
            | Self::AlgSymmetric
            | Self::AlgNotAllowed
            | Self::MissingKid
            | Self::UnknownKid
            | Self::AlgKeyMismatch
            | Self::BadSignature => "invalid_key",
            Self::IssuerMismatch => "invalid_issuer",
            Self::AudienceMismatch => "invalid_audience",
            _ => "invalid_request",
        }
    }
}

impl From<SignatureError> for JwtError {
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

impl From<LogoutTokenError> for JwtError {
    fn from(err: LogoutTokenError) -> Self {
        match err {
            LogoutTokenError::Malformed { detail } => Self::Malformed { detail },
            _ => Self::Malformed {
                detail: "not a compact JWS",
            },
        }
    }
}

/// What one issuer's signed JWTs must satisfy.
#[derive(Debug, Clone)]
pub struct JwtPolicy {
    pub issuer: Issuer,
    /// `aud` must name one of these, and nothing else.
    pub audiences: Vec<String>,
    pub allowed_algs: Vec<JwsAlg>,
    pub clock_skew: Duration,
    /// Oldest `iat` accepted, before skew.
    pub max_age: Duration,
    /// The `typ` required (a media type, RFC 7515 §4.1.9); `None` accepts
    /// `JWT` or no `typ`.
    pub typ: Option<&'static str>,
    /// Whether a token without `exp` is refused.
    pub require_exp: bool,
}

/// A signed JWT whose signature and common claims passed.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    pub claims: Map<String, Value>,
    pub iss: Issuer,
    pub jti: TokenId,
    pub iat: UnixTime,
    /// The first instant at which the token would be refused on time
    /// grounds: remember its `jti` until then.
    pub accepted_until: UnixTime,
}

/// A compact JWS, decoded and not trusted.
pub struct UnverifiedJwt(CompactJws);

impl std::fmt::Debug for UnverifiedJwt {
    /// Never the claims or the signature.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnverifiedJwt")
            .field("alg", &self.0.alg)
            .field("kid", &self.0.kid)
            .finish_non_exhaustive()
    }
}

impl UnverifiedJwt {
    /// Decodes a compact JWS (RFC 7515 §7.1). A JWE is refused: no
    /// transmitter revokd knows encrypts SETs.
    ///
    /// # Errors
    /// Too large or not a compact JWS of JSON objects.
    pub fn decode(token: &str) -> Result<Self, JwtError> {
        if token.len() > MAX_JWT_BYTES {
            return Err(JwtError::TooLarge);
        }
        let parts: Vec<&str> = token.trim().splitn(4, '.').collect();
        if parts.len() != 3 {
            return Err(JwtError::Malformed {
                detail: "not a compact JWS (three parts)",
            });
        }
        Ok(Self(CompactJws::decode(&parts)?))
    }

    /// The unverified `iss`, to choose whose keys verify. Never use it for
    /// anything else.
    pub fn issuer_hint(&self) -> Option<&str> {
        self.0.claims.get("iss").and_then(Value::as_str)
    }

    /// Header rules, key, signature, then `iss`, `aud`, `iat`/`exp`, `jti`.
    ///
    /// # Errors
    /// The first rule the token breaks.
    pub fn verify(
        &self,
        policy: &JwtPolicy,
        keys: &KeySet,
        now: UnixTime,
    ) -> Result<VerifiedJwt, JwtError> {
        check_typ(self.0.header.get("typ"), policy.typ)?;
        self.0.verify_signature(&policy.allowed_algs, keys)?;
        check_claims(&self.0.claims, policy, now)
    }
}

fn check_typ(typ: Option<&Value>, required: Option<&'static str>) -> Result<(), JwtError> {
    match (typ, required) {
        (Some(Value::String(typ)), Some(expected)) if is_media_type(typ, expected) => Ok(()),
        (None, None) => Ok(()),
        (Some(Value::String(typ)), None) if is_media_type(typ, "jwt") => Ok(()),
        (_, expected) => Err(JwtError::UnsupportedType {
            expected: expected.unwrap_or("JWT"),
        }),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
    now: UnixTime,
) -> Result<VerifiedJwt, JwtError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == policy.issuer.as_ref() => {}
        Some(Value::String(_)) | None => return Err(JwtError::IssuerMismatch),
        Some(_) => return Err(JwtError::InvalidClaim { claim: "iss" }),
    }
    let aud: Vec<&str> = match claims.get("aud") {
        None => return Err(JwtError::AudienceMismatch),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(values)) => values
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(JwtError::InvalidClaim { claim: "aud" })?,
        Some(_) => return Err(JwtError::InvalidClaim { claim: "aud" }),
    };
    if aud.is_empty() || !aud.iter().all(|a| policy.audiences.iter().any(|o| o == a)) {
        return Err(JwtError::AudienceMismatch);
    }
    let (iat, accepted_until) = check_times(claims, policy, now)?;
    let jti = match claims.get("jti") {
        None => return Err(JwtError::MissingJti),
        Some(Value::String(jti)) => {
            TokenId::parse(jti.clone()).map_err(|_| JwtError::InvalidClaim { claim: "jti" })?
        }
        Some(_) => return Err(JwtError::InvalidClaim { claim: "jti" }),
    };
    Ok(VerifiedJwt {
        claims: claims.clone(),
        iss: policy.issuer.clone(),
        jti,
        iat,
        accepted_until,
    })
}

fn numeric_date(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(if let Some(i) = n.as_i64() {
            i
        } else if n.is_u64() {
            i64::MAX
        } else {
            n.as_f64().map_or(0, |f| f.floor() as i64)
        })),
        Some(_) => Err(JwtError::InvalidClaim { claim }),
    }
}

/// `iat` within `[now - max_age - skew, now + skew]`; `exp`, when present,
/// `now < exp + skew`. Returns `iat` and the end of acceptance.
fn check_times(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
    now: UnixTime,
) -> Result<(UnixTime, UnixTime), JwtError> {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let (skew, max_age, now) = (secs(policy.clock_skew), secs(policy.max_age), now.as_secs());
    let iat = numeric_date(claims, "iat")?.ok_or(JwtError::MissingIat)?;
    if iat > now.saturating_add(skew) {
        return Err(JwtError::IssuedInFuture);
    }
    if iat < now.saturating_sub(max_age).saturating_sub(skew) {
        return Err(JwtError::TooOld);
    }
    let mut until = iat
        .saturating_add(max_age)
        .saturating_add(skew)
        .saturating_add(1);
    match numeric_date(claims, "exp")? {
        Some(exp) => {
            let deadline = exp.saturating_add(skew);
            if now >= deadline {
                return Err(JwtError::Expired);
            }
            until = until.min(deadline);
        }
        None if policy.require_exp => return Err(JwtError::MissingExp),
        None => {}
    }
    Ok((UnixTime::from_secs(iat), UnixTime::from_secs(until)))
}

/// A SET that passed every rule: one event, its subject (if it names
/// one), and what the audit log keeps of it.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSet {
    pub jwt: VerifiedJwt,
    /// The event type URI.
    pub event_type: String,
    /// The event's payload object.
    pub payload: Map<String, Value>,
    /// `sub_id`, or the event's `subject`; `None` when neither is present
    /// (an SSF `verification` event needs none).
    pub subject: Option<SubjectIdentifier>,
    /// `txn` (RFC 8417 §2.2), kept for the audit log.
    pub txn: Option<String>,
}

/// Verifies a SET (`policy.typ` should be `Some("secevent+jwt")`).
///
/// # Errors
/// The first rule the SET breaks.
pub fn verify_set(
    token: &UnverifiedJwt,
    policy: &JwtPolicy,
    keys: &KeySet,
    now: UnixTime,
) -> Result<VerifiedSet, JwtError> {
    let jwt = token.verify(policy, keys, now)?;
    let (event_type, payload) = match jwt.claims.get("events") {
        Some(Value::Object(events)) => {
            if events.len() != 1 {
                return Err(JwtError::NotOneEvent(events.len()));
            }
            match events.iter().next() {
                Some((uri, Value::Object(payload))) => (uri.clone(), payload.clone()),
                _ => return Err(JwtError::BadEvents),
            }
        }
        _ => return Err(JwtError::BadEvents),
    };
    let subject = match jwt.claims.get("sub_id").or_else(|| payload.get("subject")) {
        Some(value) => Some(SubjectIdentifier::from_json(value)?),
        None => None,
    };
    let txn = match jwt.claims.get("txn") {
        None => None,
        Some(Value::String(txn)) => Some(txn.chars().take(128).collect()),
        Some(_) => return Err(JwtError::InvalidClaim { claim: "txn" }),
    };
    Ok(VerifiedSet {
        jwt,
        event_type,
        payload,
        subject,
        txn,
    })
}

/// What an event asks of revokd, before its subject is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// CAEP `session-revoked`: the session, or (a user subject) every
    /// token of the person until now.
    SessionRevoked,
    /// Every token of the person until now (CAEP `credential-change`
    /// `revoke`/`delete`, `token-claims-change`; RISC `sessions-revoked`,
    /// `tokens-revoked`, `credential-compromise`).
    RevokeBefore,
    /// RISC `account-disabled`: disabled (and every token until now).
    Disable,
    /// RISC `account-enabled`.
    Enable,
    /// RISC `account-purged`: disabled and every token until now.
    Purge,
    /// Known, recorded in the log and the metrics, no change (CAEP
    /// `assurance-level-change`, `device-compliance-change`,
    /// `credential-change` `create`/`update`; RISC `identifier-changed`,
    /// `identifier-recycled`, …).
    Recorded,
    /// SSF `verification`, with its `state`.
    Verification { state: Option<String> },
    /// SSF `stream-updated`, with its `status`.
    StreamUpdated { status: Option<String> },
    /// Not an event revokd knows: acknowledged, ignored, counted.
    Unknown,
}

impl Signal {
    /// Whether acting on it needs a subject.
    pub const fn needs_subject(&self) -> bool {
        matches!(
            self,
            Self::SessionRevoked | Self::RevokeBefore | Self::Disable | Self::Enable | Self::Purge
        )
    }
}

/// The short name of an event for metric labels: the last path segment of
/// a known CAEP/RISC/SSF type, else `unknown` (labels stay a closed set).
pub fn event_label(event_type: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "session-revoked",
        "credential-change",
        "token-claims-change",
        "assurance-level-change",
        "device-compliance-change",
        "session-established",
        "session-presented",
        "risc-account-disabled",
        "risc-account-enabled",
        "risc-account-purged",
        "risc-account-credential-change-required",
        "risc-credential-compromise",
        "risc-identifier-changed",
        "risc-identifier-recycled",
        "risc-sessions-revoked",
        "risc-tokens-revoked",
        "risc-opt-in",
        "risc-opt-out-initiated",
        "risc-opt-out-cancelled",
        "risc-opt-out-effective",
        "risc-recovery-activated",
        "risc-recovery-information-changed",
        "verification",
        "stream-updated",
    ];
    let name = if let Some(name) = event_type.strip_prefix(CAEP_EVENT) {
        name.to_owned()
    } else if let Some(name) = event_type.strip_prefix(RISC_EVENT) {
        format!("risc-{name}")
    } else if let Some(name) = event_type.strip_prefix(SSF_EVENT) {
        name.to_owned()
    } else {
        return "unknown";
    };
    KNOWN
        .iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("unknown")
}

/// What `event_type` with `payload` asks of revokd.
pub fn classify(event_type: &str, payload: &Map<String, Value>) -> Signal {
    let string = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
    match event_label(event_type) {
        "session-revoked" => Signal::SessionRevoked,
        "credential-change" => match string("change_type").as_deref() {
            Some("revoke" | "delete") => Signal::RevokeBefore,
            _ => Signal::Recorded,
        },
        "token-claims-change"
        | "risc-sessions-revoked"
        | "risc-tokens-revoked"
        | "risc-credential-compromise" => Signal::RevokeBefore,
        "risc-account-disabled" => Signal::Disable,
        "risc-account-enabled" => Signal::Enable,
        "risc-account-purged" => Signal::Purge,
        "verification" => Signal::Verification {
            state: string("state"),
        },
        "stream-updated" => Signal::StreamUpdated {
            status: string("status"),
        },
        "unknown" => Signal::Unknown,
        _ => Signal::Recorded,
    }
}

/// A change to make for one signal about one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    RevokeSession(Session),
    RevokeBefore(Subject),
    Disable(Subject),
    Enable(Subject),
    /// Disabled and every token until now.
    Purge(Subject),
}

/// The change `signal` asks for on `target`, `None` for a signal that
/// changes nothing.
///
/// # Errors
/// The signal needs a person but the target is a session without one.
pub fn plan(signal: &Signal, target: Target) -> Result<Option<Plan>, JwtError> {
    let person = |target: Target| match target {
        Target::Subject(subject)
        | Target::Session {
            subject: Some(subject),
            ..
        } => Ok(subject),
        Target::Session { subject: None, .. } => {
            Err(JwtError::Subject(SubjectError::NoUserOrSession))
        }
    };
    Ok(Some(match signal {
        Signal::SessionRevoked => match target {
            Target::Session { session, .. } => Plan::RevokeSession(session),
            Target::Subject(subject) => Plan::RevokeBefore(subject),
        },
        // A session-only subject of a token-wide event: that session.
        Signal::RevokeBefore => match target {
            Target::Session {
                session,
                subject: None,
            } => Plan::RevokeSession(session),
            other => Plan::RevokeBefore(person(other)?),
        },
        Signal::Disable => Plan::Disable(person(target)?),
        Signal::Enable => Plan::Enable(person(target)?),
        Signal::Purge => Plan::Purge(person(target)?),
        Signal::Recorded
        | Signal::Verification { .. }
        | Signal::StreamUpdated { .. }
        | Signal::Unknown => return Ok(None),
    }))
}

#[cfg(test)]
mod tests;

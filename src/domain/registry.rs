//! The session registry: which application tokens belong to which provider
//! session and subject.
//!
//! A back-channel logout names a provider session (`sid`) or subject (`sub`),
//! never the application's own tokens. An application that registers "this
//! login (`iss`, `sid`, `sub`) owns tokens T1, T2" lets a check that knows
//! only a token id find the session and subject it belongs to, so a logout
//! at the provider reaches tokens the provider never saw.
//!
//! A registration for a session that is already revoked (the logout arrived
//! before the application finished the login) or for a disabled subject is
//! refused, and its tokens are born revoked: see [`Registration::Refused`].
//!
//! # Ownership
//!
//! A registration belongs to the API key that made it (its [`Owner`], the
//! key's name). Registrations are kept per `(owner, iss, sid)`, and every
//! token id's binding records the key that first bound it. So:
//! - only the owner (or an admin naming it) can add to or remove a
//!   registration: another key's `DELETE /v1/sessions` for the same
//!   `(iss, sid)` removes its own registration, never this one;
//! - a token id bound by one key is never rebound, refreshed or unbound by
//!   another: the first binding wins;
//! - a refused registration revokes only the token ids that no *other* key
//!   has bound, so one app cannot use a revoked session to revoke another
//!   app's tokens (only an admin revokes what another app holds).
//!
//! # Bounds
//!
//! Every registration carries its [`RegistrationLimits`]: at most
//! `per_registration` ids per call (checked here) and at most
//! `per_session` ids in one owner's registration of a session (checked by
//! the store, atomically). Both bound the work of one store call, so no
//! client can make a single call (or the delete of a session) grow without
//! bound.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Event, Issuer, Reason, Session, SessionId, Subject, SubjectId, TokenId, UnixTime};

/// The API key a registration belongs to, by its configured name (never
/// the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Owner(String);

impl Owner {
    /// # Errors
    /// The name is empty or holds a control character (key names are
    /// validated the same way at start-up, so every key's name parses).
    pub fn parse(name: impl Into<String>) -> Result<Self, RegistrationError> {
        let name = name.into();
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(RegistrationError::InvalidOwner);
        }
        Ok(Self(name))
    }
}

impl AsRef<str> for Owner {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many token ids one registration may carry and one owner's
/// registration of a session may hold (`[sessions]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationLimits {
    /// `sessions.max_token_ids_per_registration`.
    pub per_registration: usize,
    /// `sessions.max_token_ids_per_session`.
    pub per_session: usize,
    /// `sessions.max_token_ids_per_key` (or the key's own entry in
    /// `sessions.key_quotas`): live token ids the owner may hold
    /// registered at once, over every session; `usize::MAX` for none.
    pub per_key: usize,
}

impl Default for RegistrationLimits {
    /// 100 per call (a login yields a handful: an access and a refresh
    /// token, perhaps a few devices), 1,000 per session (years of token
    /// refreshes of one login) and 10,000 per key (a Home Assistant with
    /// 100 people on 10 devices each holds 1,000 refresh tokens).
    fn default() -> Self {
        Self {
            per_registration: 100,
            per_session: 1_000,
            per_key: 10_000,
        }
    }
}

/// What an application reports after a login: the provider session and
/// subject, and the ids of the tokens it issued for them.
///
/// Fields are private so that every value went through
/// [`SessionRegistration::new`]: a store never sees an empty or oversized
/// list of token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRegistration {
    owner: Owner,
    limits: RegistrationLimits,
    iss: Issuer,
    sid: Option<SessionId>,
    sub: SubjectId,
    token_ids: Vec<TokenId>,
    expires_at: UnixTime,
}

/// Why a registration was refused before it reached a store. The messages
/// are written for API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("`token_ids` must hold at least one token id")]
    NoTokenIds,
    #[error(
        "`token_ids` holds {given} token ids; at most {max} per registration (sessions.max_token_ids_per_registration)"
    )]
    TooManyTokenIds { given: usize, max: usize },
    #[error("the key name is not a valid registration owner")]
    InvalidOwner,
    #[error("`token_ids` holds `{0}` more than once")]
    DuplicateTokenId(TokenId),
}

impl SessionRegistration {
    /// # Errors
    /// `token_ids` is empty, longer than `limits.per_registration`, or names
    /// one id twice (a duplicate is almost certainly a client bug, and
    /// refusing it keeps the stores from writing one key twice in a step).
    pub fn new(
        owner: Owner,
        limits: RegistrationLimits,
        iss: Issuer,
        sid: Option<SessionId>,
        sub: SubjectId,
        token_ids: Vec<TokenId>,
        expires_at: UnixTime,
    ) -> Result<Self, RegistrationError> {
        if token_ids.is_empty() {
            return Err(RegistrationError::NoTokenIds);
        }
        if token_ids.len() > limits.per_registration {
            return Err(RegistrationError::TooManyTokenIds {
                given: token_ids.len(),
                max: limits.per_registration,
            });
        }
        let mut seen = HashSet::with_capacity(token_ids.len());
        for id in &token_ids {
            if !seen.insert(id) {
                return Err(RegistrationError::DuplicateTokenId(id.clone()));
            }
        }
        Ok(Self {
            owner,
            limits,
            iss,
            sid,
            sub,
            token_ids,
            expires_at,
        })
    }

    /// The key the registration belongs to.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Most token ids the owner's registration of this session may hold
    /// after this call (the store refuses with [`Registration::SessionFull`]
    /// beyond).
    pub fn max_per_session(&self) -> usize {
        self.limits.per_session
    }

    /// Most live token ids the owner may hold bound, over all its
    /// registrations, after this call (the store refuses with
    /// [`Registration::KeyFull`] beyond).
    pub fn max_per_key(&self) -> usize {
        self.limits.per_key
    }

    pub fn iss(&self) -> &Issuer {
        &self.iss
    }

    pub fn sid(&self) -> Option<&SessionId> {
        self.sid.as_ref()
    }

    pub fn sub(&self) -> &SubjectId {
        &self.sub
    }

    /// Distinct, in the order given; between 1 and the per-registration
    /// limit.
    pub fn token_ids(&self) -> &[TokenId] {
        &self.token_ids
    }

    /// When the registration (and each binding it creates) may be
    /// forgotten: typically when the last of its tokens expires.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// `(iss, sub)`.
    pub fn subject(&self) -> Subject {
        Subject {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
        }
    }

    /// `(iss, sid)`, when the provider gave a `sid`.
    pub fn session(&self) -> Option<Session> {
        self.sid.as_ref().map(|sid| Session {
            iss: self.iss.clone(),
            sid: sid.clone(),
        })
    }
}

/// What a store remembers about one registered token id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBinding {
    pub subject: Subject,
    /// `None` when the registration carried no `sid`.
    pub session: Option<Session>,
    /// When the token id was first registered. It stands in for the
    /// token's `iat` when a check does not give one, so it is never moved
    /// forward by a later registration: a later instant could let the
    /// token slip past a revoked-before mark.
    pub registered_at: UnixTime,
    /// The key that bound it; `None` for a binding written before
    /// registrations were owned, which no key may change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The session record and the bindings are stored.
    Registered,
    /// Nothing was registered, because the session is already revoked
    /// ([`Reason::SessionRevoked`], which is checked first) or the subject
    /// is disabled ([`Reason::SubjectDisabled`]). Every token id of the
    /// registration that no other key has bound was revoked instead, until
    /// the registration's `expires_at`; `event` is the one audit event that
    /// records them, a [`crate::domain::Change::TokensRevoked`] listing them
    /// in the order of the registration's ids (`None` when every id was
    /// another key's, and nothing was written).
    Refused {
        reason: Reason,
        event: Option<Event>,
    },
    /// Nothing was stored: the owner's registration of this session holds
    /// `held` token ids, and the `adding` new ones would take it past
    /// `max` ([`SessionRegistration::max_per_session`]).
    SessionFull {
        held: usize,
        adding: usize,
        max: usize,
    },
    /// Nothing was stored: the owner holds `held` live token ids bound
    /// (over all its registrations), and the `adding` ids not bound yet
    /// would take it past `max` ([`SessionRegistration::max_per_key`]).
    /// Room frees as bindings expire or sessions are unregistered.
    KeyFull {
        held: usize,
        adding: usize,
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: &[&str]) -> Vec<TokenId> {
        values.iter().map(|v| TokenId::parse(*v).unwrap()).collect()
    }

    fn registration(token_ids: Vec<TokenId>) -> Result<SessionRegistration, RegistrationError> {
        SessionRegistration::new(
            Owner::parse("app").unwrap(),
            RegistrationLimits::default(),
            Issuer::parse("https://idp.example").unwrap(),
            Some(SessionId::parse("s1").unwrap()),
            SubjectId::parse("alice").unwrap(),
            token_ids,
            UnixTime::from_secs(100),
        )
    }

    #[test]
    fn token_ids_must_be_one_to_a_hundred_distinct_values() {
        let hundred: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        let mut hundred_and_one = hundred.clone();
        hundred_and_one.push("t100".into());
        let as_ids = |v: &[String]| {
            v.iter()
                .map(|s| TokenId::parse(s.as_str()).unwrap())
                .collect()
        };
        let cases = [
            (Vec::new(), Err(RegistrationError::NoTokenIds)),
            (ids(&["a"]), Ok(())),
            (as_ids(&hundred), Ok(())),
            (
                as_ids(&hundred_and_one),
                Err(RegistrationError::TooManyTokenIds {
                    given: 101,
                    max: 100,
                }),
            ),
            (
                ids(&["a", "b", "a"]),
                Err(RegistrationError::DuplicateTokenId(ids(&["a"])[0].clone())),
            ),
        ];
        for (token_ids, expected) in cases {
            let count = token_ids.len();
            assert_eq!(
                registration(token_ids).map(|_| ()),
                expected,
                "{count} token ids"
            );
        }
    }

    #[test]
    fn the_per_registration_limit_is_configurable() {
        let limits = RegistrationLimits {
            per_registration: 2,
            per_session: 10,
            per_key: 100,
        };
        let build = |token_ids| {
            SessionRegistration::new(
                Owner::parse("app").unwrap(),
                limits,
                Issuer::parse("https://idp.example").unwrap(),
                None,
                SubjectId::parse("alice").unwrap(),
                token_ids,
                UnixTime::from_secs(100),
            )
        };
        assert!(build(ids(&["a", "b"])).is_ok(), "at the limit");
        let err = build(ids(&["a", "b", "c"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`token_ids` holds 3 token ids; at most 2 per registration (sessions.max_token_ids_per_registration)"
        );
    }

    #[test]
    fn owners_are_printable_names() {
        assert!(Owner::parse("home-assistant").is_ok());
        for bad in [String::new(), " ".into(), "a\nb".into()] {
            assert_eq!(
                Owner::parse(bad.clone()),
                Err(RegistrationError::InvalidOwner),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn session_and_subject_carry_the_issuer() {
        let reg = registration(ids(&["a", "b"])).unwrap();
        let session = reg.session().unwrap();
        assert_eq!(session.iss.as_ref(), "https://idp.example");
        assert_eq!(session.sid.as_ref(), "s1");
        assert_eq!(reg.subject().sub.as_ref(), "alice");
        assert_eq!(reg.token_ids(), ids(&["a", "b"]).as_slice());
    }

    #[test]
    fn a_registration_without_sid_has_no_session() {
        let reg = SessionRegistration::new(
            Owner::parse("app").unwrap(),
            RegistrationLimits::default(),
            Issuer::parse("https://idp.example").unwrap(),
            None,
            SubjectId::parse("alice").unwrap(),
            ids(&["a"]),
            UnixTime::from_secs(100),
        )
        .unwrap();
        assert_eq!(reg.session(), None);
    }
}

// Listed by `RevocationStore::subject_registrations`.
/// One live registered token id of a subject: what an operator needs to see
/// a subject's logins (the token's id, never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RegisteredToken {
    /// The token id (`jti`) the app registered.
    pub jti: TokenId,
    /// The login session it belongs to, when the provider gave a `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<SessionId>,
    /// The name of the API key that registered it (the app).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "home-assistant")]
    pub owner: Option<Owner>,
    /// When it was first registered.
    pub registered_at: UnixTime,
    /// When its binding expires (the registration's `expires_at`).
    pub expires_at: UnixTime,
}

/// A bounded list of a subject's live registered token ids, the latest
/// expiry first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectRegistrations {
    pub tokens: Vec<RegisteredToken>,
    /// More live ids exist beyond the limit (those expiring soonest are
    /// left out).
    pub truncated: bool,
}

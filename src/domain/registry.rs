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

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Event, Issuer, Reason, Session, SessionId, Subject, SubjectId, TokenId, UnixTime};

/// What an application reports after a login: the provider session and
/// subject, and the ids of the tokens it issued for them.
///
/// Fields are private so that every value went through
/// [`SessionRegistration::new`]: a store never sees an empty or oversized
/// list of token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRegistration {
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
    #[error("`token_ids` holds more than {max} token ids")]
    TooManyTokenIds { max: usize },
    #[error("`token_ids` holds `{0}` more than once")]
    DuplicateTokenId(TokenId),
}

impl SessionRegistration {
    /// Most token ids one registration may carry. A login yields a handful
    /// (an access and a refresh token, perhaps a few devices); the bound
    /// keeps one request from making the store do unbounded work in one
    /// atomic step.
    pub const MAX_TOKEN_IDS: usize = 100;

    /// # Errors
    /// `token_ids` is empty, longer than [`Self::MAX_TOKEN_IDS`], or names
    /// one id twice (a duplicate is almost certainly a client bug, and
    /// refusing it keeps the stores from writing one key twice in a step).
    pub fn new(
        iss: Issuer,
        sid: Option<SessionId>,
        sub: SubjectId,
        token_ids: Vec<TokenId>,
        expires_at: UnixTime,
    ) -> Result<Self, RegistrationError> {
        if token_ids.is_empty() {
            return Err(RegistrationError::NoTokenIds);
        }
        if token_ids.len() > Self::MAX_TOKEN_IDS {
            return Err(RegistrationError::TooManyTokenIds {
                max: Self::MAX_TOKEN_IDS,
            });
        }
        let mut seen = HashSet::with_capacity(token_ids.len());
        for id in &token_ids {
            if !seen.insert(id) {
                return Err(RegistrationError::DuplicateTokenId(id.clone()));
            }
        }
        Ok(Self {
            iss,
            sid,
            sub,
            token_ids,
            expires_at,
        })
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

    /// Distinct, in the order given; between 1 and [`Self::MAX_TOKEN_IDS`].
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
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The session record and the bindings are stored.
    Registered,
    /// Nothing was registered, because the session is already revoked
    /// ([`Reason::SessionRevoked`], which is checked first) or the subject
    /// is disabled ([`Reason::SubjectDisabled`]). Every token id of the
    /// registration was revoked instead, until the registration's
    /// `expires_at`; `events` records those revocations, one per id, in the
    /// order of the registration's ids.
    Refused { reason: Reason, events: Vec<Event> },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: &[&str]) -> Vec<TokenId> {
        values.iter().map(|v| TokenId::parse(*v).unwrap()).collect()
    }

    fn registration(token_ids: Vec<TokenId>) -> Result<SessionRegistration, RegistrationError> {
        SessionRegistration::new(
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
                Err(RegistrationError::TooManyTokenIds { max: 100 }),
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

//! The check decision: is this token still active?
//!
//! [`decide`] is the one place that holds the rules. It is a pure function
//! of the identifiers presented and the [`Facts`] a store (or, later, an
//! in-memory mirror) found for them, so every source of facts answers alike.

use serde::Serialize;

use super::{Issuer, Session, SessionId, Subject, SubjectId, TokenId, UnixTime};

/// The identifiers a caller knows about one token. At least one of `jti`,
/// `sid`, `sub` is present, and `sid` / `sub` come with their issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    jti: Option<TokenId>,
    session: Option<Session>,
    subject: Option<Subject>,
    iat: Option<UnixTime>,
}

/// Why a set of identifiers cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckRequestError {
    #[error("give at least one of `jti`, `sid`, `sub`")]
    NothingToCheck,
    #[error("`sid` and `sub` are only meaningful with their issuer: give `iss`")]
    MissingIssuer,
}

impl CheckRequest {
    /// # Errors
    /// No identifier at all, or `sid`/`sub` without `iss`.
    pub fn new(
        iss: Option<Issuer>,
        jti: Option<TokenId>,
        sid: Option<SessionId>,
        sub: Option<SubjectId>,
        iat: Option<UnixTime>,
    ) -> Result<Self, CheckRequestError> {
        if jti.is_none() && sid.is_none() && sub.is_none() {
            return Err(CheckRequestError::NothingToCheck);
        }
        let Some(iss) = iss else {
            if sid.is_some() || sub.is_some() {
                return Err(CheckRequestError::MissingIssuer);
            }
            return Ok(Self {
                jti,
                session: None,
                subject: None,
                iat,
            });
        };
        Ok(Self {
            jti,
            session: sid.map(|sid| Session {
                iss: iss.clone(),
                sid,
            }),
            subject: sub.map(|sub| Subject { iss, sub }),
            iat,
        })
    }

    /// What a store must look up to decide this request.
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            jti: self.jti.as_ref(),
            session: self.session.as_ref(),
            subject: self.subject.as_ref(),
        }
    }
}

/// The keys of one check, borrowed from a [`CheckRequest`] (or built by an
/// admin status read with just a subject).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lookup<'a> {
    pub jti: Option<&'a TokenId>,
    pub session: Option<&'a Session>,
    pub subject: Option<&'a Subject>,
}

/// What a store knows, at one instant, about the keys of a [`Lookup`].
/// Expired facts are never reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    pub token_revoked: bool,
    pub session_revoked: bool,
    pub subject_disabled: bool,
    /// The subject's revoked-before mark, if one is live.
    pub subject_revoked_before: Option<UnixTime>,
}

/// Why a token is not active. The order of the variants is the order in
/// which [`decide`] tests them: the most specific fact wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    TokenRevoked,
    SessionRevoked,
    SubjectDisabled,
    SubjectRevokedBefore,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Self::TokenRevoked,
        Self::SessionRevoked,
        Self::SubjectDisabled,
        Self::SubjectRevokedBefore,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TokenRevoked => "token_revoked",
            Self::SessionRevoked => "session_revoked",
            Self::SubjectDisabled => "subject_disabled",
            Self::SubjectRevokedBefore => "subject_revoked_before",
        }
    }
}

/// The answer to a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Active,
    Inactive(Reason),
}

/// Decides whether the token described by `request` is active, given the
/// `facts` found for `request.lookup()`.
///
/// A revoked-before mark kills tokens with `iat <= before`. A token whose
/// `iat` is unknown cannot prove it was issued after the mark, so it is
/// treated as issued before it: the decision fails closed.
pub fn decide(request: &CheckRequest, facts: &Facts) -> Verdict {
    if request.jti.is_some() && facts.token_revoked {
        return Verdict::Inactive(Reason::TokenRevoked);
    }
    if request.session.is_some() && facts.session_revoked {
        return Verdict::Inactive(Reason::SessionRevoked);
    }
    if request.subject.is_some() {
        if facts.subject_disabled {
            return Verdict::Inactive(Reason::SubjectDisabled);
        }
        if let Some(before) = facts.subject_revoked_before
            && request.iat.is_none_or(|iat| iat <= before)
        {
            return Verdict::Inactive(Reason::SubjectRevokedBefore);
        }
    }
    Verdict::Active
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iss() -> Issuer {
        Issuer::parse("https://idp.example").unwrap()
    }

    fn full(iat: Option<i64>) -> CheckRequest {
        CheckRequest::new(
            Some(iss()),
            Some(TokenId::parse("t1").unwrap()),
            Some(SessionId::parse("s1").unwrap()),
            Some(SubjectId::parse("alice").unwrap()),
            iat.map(UnixTime::from_secs),
        )
        .unwrap()
    }

    #[test]
    fn request_needs_an_identifier_and_an_issuer_for_sid_and_sub() {
        assert_eq!(
            CheckRequest::new(None, None, None, None, None),
            Err(CheckRequestError::NothingToCheck)
        );
        let sid = Some(SessionId::parse("s").unwrap());
        assert_eq!(
            CheckRequest::new(None, None, sid, None, None),
            Err(CheckRequestError::MissingIssuer)
        );
        let sub = Some(SubjectId::parse("u").unwrap());
        assert_eq!(
            CheckRequest::new(None, None, None, sub, None),
            Err(CheckRequestError::MissingIssuer)
        );
        assert!(
            CheckRequest::new(None, Some(TokenId::parse("t").unwrap()), None, None, None).is_ok()
        );
    }

    #[test]
    fn no_facts_means_active() {
        assert_eq!(decide(&full(Some(5)), &Facts::default()), Verdict::Active);
    }

    #[test]
    fn each_fact_yields_its_reason_in_order() {
        let all = Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: true,
            subject_revoked_before: Some(UnixTime::from_secs(10)),
        };
        let req = full(Some(5));
        assert_eq!(decide(&req, &all), Verdict::Inactive(Reason::TokenRevoked));
        let f = Facts {
            token_revoked: false,
            ..all
        };
        assert_eq!(decide(&req, &f), Verdict::Inactive(Reason::SessionRevoked));
        let f = Facts {
            session_revoked: false,
            ..f
        };
        assert_eq!(decide(&req, &f), Verdict::Inactive(Reason::SubjectDisabled));
        let f = Facts {
            subject_disabled: false,
            ..f
        };
        assert_eq!(
            decide(&req, &f),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
    }

    #[test]
    fn revoked_before_is_inclusive_and_lets_later_logins_through() {
        let facts = Facts {
            subject_revoked_before: Some(UnixTime::from_secs(100)),
            ..Facts::default()
        };
        assert_eq!(
            decide(&full(Some(99)), &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
        assert_eq!(
            decide(&full(Some(100)), &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
        assert_eq!(decide(&full(Some(101)), &facts), Verdict::Active);
    }

    #[test]
    fn revoked_before_without_iat_fails_closed() {
        let facts = Facts {
            subject_revoked_before: Some(UnixTime::from_secs(100)),
            ..Facts::default()
        };
        assert_eq!(
            decide(&full(None), &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
    }

    #[test]
    fn facts_about_keys_not_asked_for_are_ignored() {
        let only_jti =
            CheckRequest::new(None, Some(TokenId::parse("t").unwrap()), None, None, None).unwrap();
        let facts = Facts {
            session_revoked: true,
            subject_disabled: true,
            ..Facts::default()
        };
        assert_eq!(decide(&only_jti, &facts), Verdict::Active);
    }
}

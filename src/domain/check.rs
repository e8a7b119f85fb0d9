//! The check decision: is this token still active?
//!
//! [`decide`] is the one place that holds the rules. It is a pure function
//! of the identifiers presented and the [`Facts`] found for them, by the
//! store or by this instance's in-memory mirror (`crate::mirror`), so every
//! source of facts answers alike.

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
    /// Present when the lookup's `jti` has a live binding from a session
    /// registration: what is known about the session and subject it is
    /// bound to. This is how a logout that names only a `sid` or `sub`
    /// reaches a token checked by its id alone.
    pub bound: Option<BoundFacts>,
    /// Present when the lookup's session has a live binding from a session
    /// registration: what is known about the subject it belongs to
    /// (`session_revoked` is always `false` here: the session's own
    /// revocation is `session_revoked` above), with the session's first
    /// registration as `registered_at`. This is how a logout that names
    /// only the `sub` reaches a session checked by `(iss, sid)` alone.
    pub session_bound: Option<BoundFacts>,
}

/// The facts about the session and subject a registered token id is bound
/// to (see [`crate::domain::TokenBinding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundFacts {
    /// The bound session is revoked. Always `false` for a binding without
    /// a session.
    pub session_revoked: bool,
    pub subject_disabled: bool,
    /// The bound subject's revoked-before mark, if one is live.
    pub subject_revoked_before: Option<UnixTime>,
    /// When the token id was first registered: the stand-in for `iat` when
    /// the check does not give one.
    pub registered_at: UnixTime,
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

#[cfg(test)]
mod reason_names {
    use super::Reason;

    /// The label is what a check answers as `reason` (serde) and what
    /// metrics and refusals carry: one distinct name per reason.
    #[test]
    fn each_reason_is_named_as_it_is_serialised() {
        for reason in Reason::ALL {
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json.as_str(), Some(reason.as_str()), "{reason:?}");
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
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
/// treated as issued before it: the decision fails closed. A token bound by
/// a session registration is the exception: its registration instant is a
/// known upper bound of its `iat` (the application registers a token after
/// issuing it), so that instant stands in for a missing `iat`.
///
/// Facts about the bound session and subject count exactly like facts about
/// a session or subject named in the request, and in the same order.
///
/// A session named in the request and bound by a registration to a subject
/// is dead when that subject is disabled, or when its revoked-before mark
/// is at or after the token's `iat`, or, without `iat`, at or after the
/// session's first registration. That instant is the latest the session can
/// have begun (the application registers after the login), so a session
/// registered at or before the mark began before it and is dead, inclusively,
/// as a token of unknown `iat` is: in the second of the mark it fails closed.
/// A session first registered after the mark is taken to have begun after
/// it, as a bound token's registration stands in for its `iat`.
pub fn decide(request: &CheckRequest, facts: &Facts) -> Verdict {
    let bound = request.jti.as_ref().and(facts.bound.as_ref());
    let session_bound = request.session.as_ref().and(facts.session_bound.as_ref());
    if request.jti.is_some() && facts.token_revoked {
        return Verdict::Inactive(Reason::TokenRevoked);
    }
    if (request.session.is_some() && facts.session_revoked)
        || bound.is_some_and(|b| b.session_revoked)
    {
        return Verdict::Inactive(Reason::SessionRevoked);
    }
    if (request.subject.is_some() && facts.subject_disabled)
        || bound.is_some_and(|b| b.subject_disabled)
        || session_bound.is_some_and(|b| b.subject_disabled)
    {
        return Verdict::Inactive(Reason::SubjectDisabled);
    }
    if request.subject.is_some()
        && let Some(before) = facts.subject_revoked_before
        && request.iat.is_none_or(|iat| iat <= before)
    {
        return Verdict::Inactive(Reason::SubjectRevokedBefore);
    }
    for bound in [bound, session_bound].into_iter().flatten() {
        if let Some(before) = bound.subject_revoked_before
            && request.iat.unwrap_or(bound.registered_at) <= before
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
            bound: None,
            session_bound: None,
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
    fn jti_only(iat: Option<i64>) -> CheckRequest {
        CheckRequest::new(
            None,
            Some(TokenId::parse("t1").unwrap()),
            None,
            None,
            iat.map(UnixTime::from_secs),
        )
        .unwrap()
    }

    fn bound(registered_at: i64) -> BoundFacts {
        BoundFacts {
            session_revoked: false,
            subject_disabled: false,
            subject_revoked_before: None,
            registered_at: UnixTime::from_secs(registered_at),
        }
    }

    fn with_bound(bound: BoundFacts) -> Facts {
        Facts {
            bound: Some(bound),
            ..Facts::default()
        }
    }

    #[test]
    fn a_live_binding_without_facts_is_active() {
        assert_eq!(
            decide(&jti_only(None), &with_bound(bound(100))),
            Verdict::Active
        );
    }

    #[test]
    fn a_revoked_bound_session_kills_the_token() {
        let facts = with_bound(BoundFacts {
            session_revoked: true,
            ..bound(100)
        });
        assert_eq!(
            decide(&jti_only(None), &facts),
            Verdict::Inactive(Reason::SessionRevoked)
        );
    }

    #[test]
    fn a_disabled_bound_subject_kills_the_token() {
        let facts = with_bound(BoundFacts {
            subject_disabled: true,
            ..bound(100)
        });
        assert_eq!(
            decide(&jti_only(Some(500)), &facts),
            Verdict::Inactive(Reason::SubjectDisabled)
        );
    }

    #[test]
    fn a_bound_mark_without_iat_compares_with_registered_at_inclusively() {
        let mark = |before| {
            with_bound(BoundFacts {
                subject_revoked_before: Some(UnixTime::from_secs(before)),
                ..bound(100)
            })
        };
        let request = jti_only(None);
        assert_eq!(
            decide(&request, &mark(101)),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
        assert_eq!(
            decide(&request, &mark(100)),
            Verdict::Inactive(Reason::SubjectRevokedBefore),
            "a mark in the second of registration kills"
        );
        assert_eq!(
            decide(&request, &mark(99)),
            Verdict::Active,
            "a mark before registration does not"
        );
    }

    #[test]
    fn a_given_iat_takes_the_place_of_registered_at() {
        let facts = with_bound(BoundFacts {
            subject_revoked_before: Some(UnixTime::from_secs(150)),
            ..bound(100)
        });
        assert_eq!(
            decide(&jti_only(Some(151)), &facts),
            Verdict::Active,
            "issued after the mark, though registered before it"
        );
        assert_eq!(
            decide(&jti_only(Some(150)), &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
        let after_mark = with_bound(BoundFacts {
            subject_revoked_before: Some(UnixTime::from_secs(50)),
            ..bound(100)
        });
        assert_eq!(
            decide(&jti_only(Some(40)), &after_mark),
            Verdict::Inactive(Reason::SubjectRevokedBefore),
            "issued before the mark, though registered after it"
        );
    }

    #[test]
    fn bound_facts_keep_the_order_of_reasons() {
        let every = BoundFacts {
            session_revoked: true,
            subject_disabled: true,
            subject_revoked_before: Some(UnixTime::from_secs(200)),
            ..bound(100)
        };
        let request = jti_only(None);
        let facts = Facts {
            token_revoked: true,
            ..with_bound(every)
        };
        assert_eq!(
            decide(&request, &facts),
            Verdict::Inactive(Reason::TokenRevoked)
        );
        let facts = with_bound(every);
        assert_eq!(
            decide(&request, &facts),
            Verdict::Inactive(Reason::SessionRevoked)
        );
        let facts = with_bound(BoundFacts {
            session_revoked: false,
            ..every
        });
        assert_eq!(
            decide(&request, &facts),
            Verdict::Inactive(Reason::SubjectDisabled)
        );
        let facts = with_bound(BoundFacts {
            session_revoked: false,
            subject_disabled: false,
            ..every
        });
        assert_eq!(
            decide(&request, &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
    }

    #[test]
    fn a_named_session_outranks_a_bound_subject() {
        // The request names a revoked session; the binding says the subject
        // is disabled. Session comes first, whichever source it came from.
        let facts = Facts {
            session_revoked: true,
            ..with_bound(BoundFacts {
                subject_disabled: true,
                ..bound(100)
            })
        };
        assert_eq!(
            decide(&full(Some(500)), &facts),
            Verdict::Inactive(Reason::SessionRevoked)
        );
    }

    #[test]
    fn bound_facts_without_a_jti_in_the_request_are_ignored() {
        let sub_only = CheckRequest::new(
            Some(iss()),
            None,
            None,
            Some(SubjectId::parse("alice").unwrap()),
            Some(UnixTime::from_secs(500)),
        )
        .unwrap();
        let facts = with_bound(BoundFacts {
            session_revoked: true,
            subject_disabled: true,
            ..bound(100)
        });
        assert_eq!(decide(&sub_only, &facts), Verdict::Active);
    }

    fn sid_only(iat: Option<i64>) -> CheckRequest {
        CheckRequest::new(
            Some(iss()),
            None,
            Some(SessionId::parse("s1").unwrap()),
            None,
            iat.map(UnixTime::from_secs),
        )
        .unwrap()
    }

    fn with_session_bound(bound: BoundFacts) -> Facts {
        Facts {
            session_bound: Some(bound),
            ..Facts::default()
        }
    }

    #[test]
    fn a_bound_session_dies_with_a_mark_at_or_after_its_first_registration() {
        let mark = |before| {
            with_session_bound(BoundFacts {
                subject_revoked_before: Some(UnixTime::from_secs(before)),
                ..bound(100)
            })
        };
        let request = sid_only(None);
        assert_eq!(
            decide(&request, &mark(101)),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
        assert_eq!(
            decide(&request, &mark(100)),
            Verdict::Inactive(Reason::SubjectRevokedBefore),
            "a mark in the second of registration kills: fail closed"
        );
        assert_eq!(
            decide(&request, &mark(99)),
            Verdict::Active,
            "a session registered after the mark began after it"
        );
    }

    #[test]
    fn a_bound_session_with_iat_compares_the_iat() {
        let facts = with_session_bound(BoundFacts {
            subject_revoked_before: Some(UnixTime::from_secs(150)),
            ..bound(100)
        });
        assert_eq!(decide(&sid_only(Some(151)), &facts), Verdict::Active);
        assert_eq!(
            decide(&sid_only(Some(150)), &facts),
            Verdict::Inactive(Reason::SubjectRevokedBefore)
        );
    }

    #[test]
    fn a_bound_session_of_a_disabled_subject_is_dead() {
        let facts = with_session_bound(BoundFacts {
            subject_disabled: true,
            subject_revoked_before: Some(UnixTime::from_secs(200)),
            ..bound(100)
        });
        assert_eq!(
            decide(&sid_only(Some(500)), &facts),
            Verdict::Inactive(Reason::SubjectDisabled)
        );
        let revoked = Facts {
            session_revoked: true,
            ..facts
        };
        assert_eq!(
            decide(&sid_only(None), &revoked),
            Verdict::Inactive(Reason::SessionRevoked),
            "the session's own revocation comes first"
        );
        assert_eq!(
            decide(&sid_only(None), &with_session_bound(bound(100))),
            Verdict::Active,
            "a binding alone kills nothing"
        );
    }

    #[test]
    fn session_bound_facts_without_a_sid_in_the_request_are_ignored() {
        let facts = with_session_bound(BoundFacts {
            subject_disabled: true,
            subject_revoked_before: Some(UnixTime::from_secs(200)),
            ..bound(100)
        });
        assert_eq!(decide(&jti_only(None), &facts), Verdict::Active);
    }
}

//! Changes to the set of revocations, and the audit events that record them.
//!
//! A [`Change`] is what a store applies; an [`Event`] is the change as
//! recorded, with when, by whom and why. The same events later feed the
//! per-instance mirror and the event stream for consumers, so a change is
//! only ever applied together with its event, atomically.

use serde::{Deserialize, Serialize};

use super::{Issuer, Note, Session, Subject, TokenId, UnixTime};

/// One change to the revocation set. Every variant that revokes carries the
/// instant it stops mattering (`expires_at`): the store forgets it then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// One application token is dead until it would have expired anyway.
    TokenRevoked { jti: TokenId, expires_at: UnixTime },
    /// Several application tokens, each dead until `expires_at`: what a
    /// refused session registration records, as one audit event (so that a
    /// client cannot flood the audit log with one event per id). Only
    /// [`crate::store::RevocationStore::register_session`] writes it; each
    /// id is stored as its own token revocation. Its kind is
    /// [`ChangeKind::TokenRevoked`].
    TokensRevoked {
        jtis: Vec<TokenId>,
        expires_at: UnixTime,
    },
    /// Every token bound to this provider session is dead.
    SessionRevoked {
        #[serde(flatten)]
        session: Session,
        expires_at: UnixTime,
    },
    /// The subject may not use any token until enabled again (or until
    /// `expires_at`). A disable is usually recorded together with a
    /// [`Change::SubjectRevokedBefore`], so that enabling the subject again
    /// does not bring the tokens it held back to life.
    SubjectDisabled {
        #[serde(flatten)]
        subject: Subject,
        /// `None`: until enabled.
        expires_at: Option<UnixTime>,
    },
    /// Lifts a [`Change::SubjectDisabled`]. Revoked-before marks stay.
    SubjectEnabled {
        #[serde(flatten)]
        subject: Subject,
    },
    /// Every token of the subject issued at or before `before` is dead; a
    /// login after it works by itself. Marks only ever move forward.
    SubjectRevokedBefore {
        #[serde(flatten)]
        subject: Subject,
        before: UnixTime,
        expires_at: UnixTime,
    },
}

/// The closed set of change kinds, for metric labels and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    TokenRevoked,
    SessionRevoked,
    SubjectDisabled,
    SubjectEnabled,
    SubjectRevokedBefore,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 5] = [
        Self::TokenRevoked,
        Self::SessionRevoked,
        Self::SubjectDisabled,
        Self::SubjectEnabled,
        Self::SubjectRevokedBefore,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TokenRevoked => "token_revoked",
            Self::SessionRevoked => "session_revoked",
            Self::SubjectDisabled => "subject_disabled",
            Self::SubjectEnabled => "subject_enabled",
            Self::SubjectRevokedBefore => "subject_revoked_before",
        }
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownKind(text.to_owned()))
    }
}

/// A name that is not one of [`ChangeKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind `{0}`")]
pub struct UnknownKind(pub String);

/// A set of [`ChangeKind`]s: which revocations a reader wants. A reader
/// that only needs facts about people (an app that knows its own few
/// token ids) leaves out `token_revoked`, which may be millions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeKinds(u8);

impl ChangeKinds {
    pub const ALL: Self = Self((1 << ChangeKind::ALL.len()) - 1);

    pub const fn contains(self, kind: ChangeKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    const fn bit(kind: ChangeKind) -> u8 {
        1 << kind as u8
    }
}

impl FromIterator<ChangeKind> for ChangeKinds {
    fn from_iter<I: IntoIterator<Item = ChangeKind>>(kinds: I) -> Self {
        Self(kinds.into_iter().fold(0, |set, kind| set | Self::bit(kind)))
    }
}

impl std::str::FromStr for ChangeKinds {
    type Err = UnknownKind;

    /// A comma-separated list of kind names, e.g.
    /// `session_revoked,subject_disabled`; at least one.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::parse::<ChangeKind>)
            .collect::<Result<Self, _>>()
    }
}

impl Change {
    pub const fn kind(&self) -> ChangeKind {
        match self {
            Self::TokenRevoked { .. } | Self::TokensRevoked { .. } => ChangeKind::TokenRevoked,
            Self::SessionRevoked { .. } => ChangeKind::SessionRevoked,
            Self::SubjectDisabled { .. } => ChangeKind::SubjectDisabled,
            Self::SubjectEnabled { .. } => ChangeKind::SubjectEnabled,
            Self::SubjectRevokedBefore { .. } => ChangeKind::SubjectRevokedBefore,
        }
    }
}

/// A store-assigned event id. Ids increase monotonically within one store;
/// their text is opaque to callers (an integer in the embedded store, a
/// stream id in Redis).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct EventId(pub String);

impl EventId {
    /// The id's place in the log, comparable across the ids of one store:
    /// the embedded store's `n` is `(n, 0)`, a Redis stream id `ms-seq` is
    /// `(ms, seq)`. `None` for text neither store writes.
    pub fn order(&self) -> Option<(u64, u64)> {
        let number = |text: &str| {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        match self.0.split_once('-') {
            None => Some((number(&self.0)?, 0)),
            Some((ms, seq)) => Some((number(ms)?, number(seq)?)),
        }
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change as recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: EventId,
    /// When the change was applied.
    pub at: UnixTime,
    #[serde(flatten)]
    pub change: Change,
    /// Who or what asked for it: `admin:<key name>`, `client:<key name>`, …
    pub actor: String,
    /// Free text given by the caller, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Note>,
}

/// Who asked for a change and why: the part of an [`Event`] that the
/// caller, not the store, supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub actor: String,
    pub reason: Option<Note>,
}

/// Whether an event with this `actor` was caused by a client key (a
/// refused registration). Every other event — an admin's, a provider's
/// logout, revokd's own — is kept in the audit log's own retention as well,
/// which no client can flush (DESIGN.md decision 11).
pub fn is_client_actor(actor: &str) -> bool {
    actor.starts_with("client:")
}

/// A logout token already acted on: `(iss, jti)`, remembered until
/// `expires_at`.
///
/// OIDC Back-Channel Logout 1.0 §2.6 asks the receiver to reject a logout
/// token whose `jti` it has seen before. A `jti` is unique only per issuer,
/// so the issuer is part of the key. The marker only needs to outlive the
/// token's acceptance window (its `iat` plus the allowed age and skew): an
/// older replay fails validation anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenKey {
    pub iss: Issuer,
    pub jti: TokenId,
    /// When the marker may be forgotten. It must lie after the `now` of
    /// the call that writes it, or nothing is remembered.
    pub expires_at: UnixTime,
}

/// Which slice of the audit log to read: newest first, strictly older than
/// `before` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub before: Option<EventId>,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issuer, SubjectId};

    #[test]
    fn kind_lists_parse_and_refuse_unknown_names() {
        let kinds: ChangeKinds = "session_revoked,subject_disabled".parse().unwrap();
        assert!(kinds.contains(ChangeKind::SessionRevoked));
        assert!(kinds.contains(ChangeKind::SubjectDisabled));
        assert!(!kinds.contains(ChangeKind::TokenRevoked));
        assert!(!kinds.contains(ChangeKind::SubjectRevokedBefore));
        for kind in ChangeKind::ALL {
            assert!(ChangeKinds::ALL.contains(kind));
            assert_eq!(kind.as_str().parse::<ChangeKind>(), Ok(kind));
        }
        for bad in [
            "",
            "session_revoked,",
            "tokens",
            "Token_Revoked",
            "token_revoked, session_revoked",
        ] {
            assert!(bad.parse::<ChangeKinds>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "token_revoked,nope".parse::<ChangeKinds>(),
            Err(UnknownKind("nope".into()))
        );
    }

    #[test]
    fn events_serialise_flat_with_a_kind_tag() {
        let event = Event {
            id: EventId("7".into()),
            at: UnixTime::from_secs(10),
            change: Change::SubjectDisabled {
                subject: Subject {
                    iss: Issuer::parse("https://idp.example").unwrap(),
                    sub: SubjectId::parse("alice").unwrap(),
                },
                expires_at: None,
            },
            actor: "admin:ops".into(),
            reason: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "7", "at": 10, "kind": "subject_disabled",
                "iss": "https://idp.example", "sub": "alice", "expires_at": null,
                "actor": "admin:ops"
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}

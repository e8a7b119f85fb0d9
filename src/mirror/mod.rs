//! Placeholder for the per-instance mirror (being written on branch
//! `mirror`): only the update type the stores produce.

use crate::domain::{Session, Subject, TokenId, UnixTime};

/// The state of one fact after a write, as a store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactUpdate {
    Token {
        jti: TokenId,
        expires_at: UnixTime,
    },
    Session {
        session: Session,
        expires_at: UnixTime,
    },
    SubjectDisabled {
        subject: Subject,
        expires_at: Option<UnixTime>,
    },
    SubjectRevokedBefore {
        subject: Subject,
        before: UnixTime,
        expires_at: UnixTime,
    },
    Binding {
        jti: TokenId,
        session: Option<Session>,
        subject: Subject,
        registered_at: UnixTime,
        expires_at: UnixTime,
    },
    SubjectEnabled {
        subject: Subject,
    },
    Unbound {
        jti: TokenId,
    },
}

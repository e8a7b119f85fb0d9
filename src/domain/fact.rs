//! The state of one fact, as a store reports it and a mirror holds it.
//!
//! Shared vocabulary between [`crate::store`], which produces it (after a
//! write, in a snapshot, from the change feed), and [`crate::mirror`], which
//! applies it: it lives here, below both, so that neither imports the
//! other's module for it.

use super::{Session, Subject, TokenId, UnixTime};

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
        /// `None`: until enabled.
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
    /// A registered session's subject and first registration instant.
    SessionBound {
        session: Session,
        subject: Subject,
        registered_at: UnixTime,
        expires_at: UnixTime,
    },
    /// The session binding is gone.
    SessionUnbound {
        session: Session,
    },
    /// The disable is gone.
    SubjectEnabled {
        subject: Subject,
    },
    /// The binding is gone.
    Unbound {
        jti: TokenId,
    },
}

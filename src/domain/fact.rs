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

/// Token revocations in bulk, as a snapshot hands them over: the token ids
/// side by side in one string and their expiries beside them, so that a
/// load of millions allocates per batch, not per token (a
/// [`FactUpdate::Token`] holds a `String` each). Every id in it passed
/// [`TokenId::is_valid`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenBatch {
    ids: String,
    /// Where each id ends in `ids`, and its `expires_at` in seconds.
    entries: Vec<(usize, i64)>,
}

impl TokenBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `jti`, revoked until `expires_at`; `false` (and nothing added)
    /// when `jti` is not a valid [`TokenId`].
    pub fn push(&mut self, jti: &str, expires_at: UnixTime) -> bool {
        if !TokenId::is_valid(jti) {
            return false;
        }
        self.ids.push_str(jti);
        self.entries.push((self.ids.len(), expires_at.as_secs()));
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the batch, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.entries.clear();
    }

    /// Each token id with its `expires_at`, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, UnixTime)> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(end, expires)| {
            // Ends are char boundaries: each id was pushed whole.
            let jti = self.ids.get(start..end).unwrap_or_default();
            start = end;
            (jti, UnixTime::from_secs(expires))
        })
    }

    /// The same revocations as one [`FactUpdate::Token`] each.
    pub fn to_updates(&self) -> Vec<FactUpdate> {
        self.iter()
            .filter_map(|(jti, expires_at)| {
                Some(FactUpdate::Token {
                    jti: TokenId::parse(jti).ok()?,
                    expires_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_batch_gives_back_what_was_pushed_and_refuses_invalid_ids() {
        let mut batch = TokenBatch::new();
        assert!(batch.push("a", UnixTime::from_secs(10)));
        assert!(!batch.push("", UnixTime::from_secs(11)));
        assert!(!batch.push("bad\nid", UnixTime::from_secs(12)));
        assert!(batch.push("\u{e9}t\u{e9}", UnixTime::from_secs(i64::MAX)));
        assert_eq!(batch.len(), 2);
        assert_eq!(
            batch.iter().collect::<Vec<_>>(),
            [
                ("a", UnixTime::from_secs(10)),
                ("\u{e9}t\u{e9}", UnixTime::from_secs(i64::MAX))
            ]
        );
        assert_eq!(
            batch.to_updates()[1],
            FactUpdate::Token {
                jti: TokenId::parse("\u{e9}t\u{e9}").unwrap(),
                expires_at: UnixTime::from_secs(i64::MAX)
            }
        );
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.iter().count(), 0);
    }
}

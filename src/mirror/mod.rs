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

/// Placeholder mirror: owned keys in one locked map. Replaced by the
/// compact, hashed mirror on branch `mirror`.
#[derive(Default)]
pub struct Mirror {
    facts: std::sync::RwLock<std::collections::HashMap<crate::store::MirroredKey, FactUpdate>>,
}

/// Entries by kind and approximate heap bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorStats {
    pub tokens: usize,
    pub sessions: usize,
    pub subjects_disabled: usize,
    pub subjects_revoked_before: usize,
    pub bindings: usize,
    pub bytes: usize,
}

impl MirrorStats {
    pub fn total(&self) -> usize {
        self.tokens
            + self.sessions
            + self.subjects_disabled
            + self.subjects_revoked_before
            + self.bindings
    }

    pub fn by_kind(&self) -> [(&'static str, usize); 5] {
        [
            ("token", self.tokens),
            ("session", self.sessions),
            ("subject_disabled", self.subjects_disabled),
            ("subject_revoked_before", self.subjects_revoked_before),
            ("binding", self.bindings),
        ]
    }
}

impl Mirror {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&self, update: &FactUpdate) {
        use crate::store::MirroredKey as K;
        let key = match update {
            FactUpdate::Token { jti, .. } => K::Token(jti.clone()),
            FactUpdate::Session { session, .. } => K::Session(session.clone()),
            FactUpdate::SubjectDisabled { subject, .. }
            | FactUpdate::SubjectEnabled { subject } => K::SubjectDisabled(subject.clone()),
            FactUpdate::SubjectRevokedBefore { subject, .. } => {
                K::SubjectRevokedBefore(subject.clone())
            }
            FactUpdate::Binding { jti, .. } | FactUpdate::Unbound { jti } => {
                K::Binding(jti.clone())
            }
        };
        let mut facts = self
            .facts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match update {
            FactUpdate::SubjectEnabled { .. } | FactUpdate::Unbound { .. } => {
                facts.remove(&key);
            }
            _ => {
                facts.insert(key, update.clone());
            }
        }
    }

    pub fn lookup(&self, lookup: crate::domain::Lookup<'_>, now: UnixTime) -> crate::domain::Facts {
        use crate::store::MirroredKey as K;
        let facts = self
            .facts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = |key: &K| -> Option<&FactUpdate> {
            let f = facts.get(key)?;
            let exp = match f {
                FactUpdate::Token { expires_at, .. }
                | FactUpdate::Session { expires_at, .. }
                | FactUpdate::SubjectRevokedBefore { expires_at, .. }
                | FactUpdate::Binding { expires_at, .. } => Some(*expires_at),
                FactUpdate::SubjectDisabled { expires_at, .. } => *expires_at,
                _ => return None,
            };
            exp.is_none_or(|e| e > now).then_some(f)
        };
        let mark = |s: &Subject| match live(&K::SubjectRevokedBefore(s.clone())) {
            Some(FactUpdate::SubjectRevokedBefore { before, .. }) => Some(*before),
            _ => None,
        };
        let bound = lookup
            .jti
            .and_then(|jti| match live(&K::Binding(jti.clone())) {
                Some(FactUpdate::Binding {
                    session,
                    subject,
                    registered_at,
                    ..
                }) => Some(crate::domain::BoundFacts {
                    session_revoked: session
                        .as_ref()
                        .is_some_and(|s| live(&K::Session(s.clone())).is_some()),
                    subject_disabled: live(&K::SubjectDisabled(subject.clone())).is_some(),
                    subject_revoked_before: mark(subject),
                    registered_at: *registered_at,
                }),
                _ => None,
            });
        crate::domain::Facts {
            token_revoked: lookup
                .jti
                .is_some_and(|j| live(&K::Token(j.clone())).is_some()),
            session_revoked: lookup
                .session
                .is_some_and(|s| live(&K::Session(s.clone())).is_some()),
            subject_disabled: lookup
                .subject
                .is_some_and(|s| live(&K::SubjectDisabled(s.clone())).is_some()),
            subject_revoked_before: lookup.subject.and_then(mark),
            bound,
        }
    }

    pub fn sweep(&self, now: UnixTime) -> usize {
        let mut facts = self
            .facts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = facts.len();
        facts.retain(|_, f| match f {
            FactUpdate::Token { expires_at, .. }
            | FactUpdate::Session { expires_at, .. }
            | FactUpdate::SubjectRevokedBefore { expires_at, .. }
            | FactUpdate::Binding { expires_at, .. } => *expires_at > now,
            FactUpdate::SubjectDisabled { expires_at, .. } => expires_at.is_none_or(|e| e > now),
            _ => false,
        });
        before - facts.len()
    }

    pub fn clear(&self) {
        self.facts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    pub fn stats(&self) -> MirrorStats {
        let facts = self
            .facts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stats = MirrorStats::default();
        for f in facts.values() {
            match f {
                FactUpdate::Token { .. } => stats.tokens += 1,
                FactUpdate::Session { .. } => stats.sessions += 1,
                FactUpdate::SubjectDisabled { .. } => stats.subjects_disabled += 1,
                FactUpdate::SubjectRevokedBefore { .. } => stats.subjects_revoked_before += 1,
                FactUpdate::Binding { .. } => stats.bindings += 1,
                _ => {}
            }
        }
        stats.bytes = facts.len() * 200;
        stats
    }
}

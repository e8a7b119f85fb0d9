//! A test-only model of the mirror's semantics.

/// The obvious mirror: owned keys in one locked map, no hashing, no
/// compaction. The property test holds [`super::Mirror`] to it.
#[derive(Default)]
pub struct Reference {
    facts:
        std::sync::RwLock<std::collections::HashMap<crate::store::MirroredKey, super::FactUpdate>>,
}

impl Reference {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&self, update: &super::FactUpdate) {
        use crate::store::MirroredKey as K;
        let key = match update {
            super::FactUpdate::Token { jti, .. } => K::Token(jti.clone()),
            super::FactUpdate::Session { session, .. } => K::Session(session.clone()),
            super::FactUpdate::SubjectDisabled { subject, .. }
            | super::FactUpdate::SubjectEnabled { subject } => K::SubjectDisabled(subject.clone()),
            super::FactUpdate::SubjectRevokedBefore { subject, .. } => {
                K::SubjectRevokedBefore(subject.clone())
            }
            super::FactUpdate::Binding { jti, .. } | super::FactUpdate::Unbound { jti } => {
                K::Binding(jti.clone())
            }
            super::FactUpdate::SessionBound { session, .. }
            | super::FactUpdate::SessionUnbound { session } => K::SessionBinding(session.clone()),
        };
        let mut facts = self
            .facts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match update {
            super::FactUpdate::SubjectEnabled { .. }
            | super::FactUpdate::Unbound { .. }
            | super::FactUpdate::SessionUnbound { .. } => {
                facts.remove(&key);
            }
            _ => {
                facts.insert(key, update.clone());
            }
        }
    }

    pub fn lookup(
        &self,
        lookup: crate::domain::Lookup<'_>,
        now: crate::domain::UnixTime,
    ) -> crate::domain::Facts {
        use crate::store::MirroredKey as K;
        let facts = self
            .facts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = |key: &K| -> Option<&super::FactUpdate> {
            let f = facts.get(key)?;
            let exp = match f {
                super::FactUpdate::Token { expires_at, .. }
                | super::FactUpdate::Session { expires_at, .. }
                | super::FactUpdate::SubjectRevokedBefore { expires_at, .. }
                | super::FactUpdate::Binding { expires_at, .. }
                | super::FactUpdate::SessionBound { expires_at, .. } => Some(*expires_at),
                super::FactUpdate::SubjectDisabled { expires_at, .. } => *expires_at,
                _ => return None,
            };
            exp.is_none_or(|e| e > now).then_some(f)
        };
        let mark = |s: &crate::domain::Subject| match live(&K::SubjectRevokedBefore(s.clone())) {
            Some(super::FactUpdate::SubjectRevokedBefore { before, .. }) => Some(*before),
            _ => None,
        };
        let bound = lookup
            .jti
            .and_then(|jti| match live(&K::Binding(jti.clone())) {
                Some(super::FactUpdate::Binding {
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
            session_bound: lookup
                .session
                .and_then(|s| match live(&K::SessionBinding(s.clone())) {
                    Some(super::FactUpdate::SessionBound {
                        subject,
                        registered_at,
                        ..
                    }) => Some(crate::domain::BoundFacts {
                        session_revoked: false,
                        subject_disabled: live(&K::SubjectDisabled(subject.clone())).is_some(),
                        subject_revoked_before: mark(subject),
                        registered_at: *registered_at,
                    }),
                    _ => None,
                }),
        }
    }

    pub fn sweep(&self, now: crate::domain::UnixTime) -> usize {
        let mut facts = self
            .facts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = facts.len();
        facts.retain(|_, f| match f {
            super::FactUpdate::Token { expires_at, .. }
            | super::FactUpdate::Session { expires_at, .. }
            | super::FactUpdate::SubjectRevokedBefore { expires_at, .. }
            | super::FactUpdate::Binding { expires_at, .. }
            | super::FactUpdate::SessionBound { expires_at, .. } => *expires_at > now,
            super::FactUpdate::SubjectDisabled { expires_at, .. } => {
                expires_at.is_none_or(|e| e > now)
            }
            _ => false,
        });
        before - facts.len()
    }
}

//! The names of facts, shared by both stores so that they cannot drift.
//!
//! An issuer is a URL and may contain any separator, so composite keys
//! length-prefix it: `ses:19:https://idp.example:abc` cannot be confused
//! with another `(iss, sid)` pair whatever the characters involved.
//!
//! The Redis store's Lua scripts rebuild some of these names from stored
//! values (the bound session's and subject's keys from a binding, a
//! binding's key from a registered token id); the contract tests revoke
//! through keys built here and look up through keys built there, so the two
//! cannot drift apart unnoticed.

use crate::domain::{
    Change, ChangeKind, Issuer, Owner, SeenKey, Session, SessionId, Subject, SubjectId, TokenId,
};

/// One fact a store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKey<'a> {
    Token(&'a TokenId),
    Session(&'a Session),
    SubjectDisabled(&'a Subject),
    SubjectRevokedBefore(&'a Subject),
    /// A logout token already acted on (replay protection).
    Seen(&'a SeenKey),
    /// A registered token id's binding to its session and subject.
    Binding(&'a TokenId),
    /// A registered session's binding to its subject, with the session's
    /// first registration instant: how a `(iss, sid)` check reaches the
    /// subject's disable and revoked-before mark.
    SessionBinding(&'a Session),
    /// One owner's registration of a session: the token ids it registered
    /// for it.
    Registration(&'a Owner, &'a Session),
    /// The token ids one owner holds bound, by expiry (Redis: a sorted
    /// set): the key's volume.
    Volume(&'a Owner),
    /// The token ids bound to a subject, by expiry (Redis: a sorted set;
    /// embedded: rows of the `subject_tokens` table under this name): the
    /// subject's session registry, as the admin API lists it.
    SubjectTokens(&'a Subject),
}

impl FactKey<'_> {
    /// The key text, without any store prefix.
    pub fn encode(&self) -> String {
        match self {
            Self::Token(jti) => format!("tok:{jti}"),
            Self::Session(s) => composite("ses", s.iss.as_ref(), s.sid.as_ref()),
            Self::SubjectDisabled(s) => composite("dis", s.iss.as_ref(), s.sub.as_ref()),
            Self::SubjectRevokedBefore(s) => composite("rb", s.iss.as_ref(), s.sub.as_ref()),
            Self::Seen(s) => composite("seen", s.iss.as_ref(), s.jti.as_ref()),
            Self::Binding(jti) => format!("bnd:{jti}"),
            Self::Volume(owner) => format!("own:{owner}"),
            Self::SubjectTokens(s) => composite("stk", s.iss.as_ref(), s.sub.as_ref()),
            Self::SessionBinding(s) => composite("sbn", s.iss.as_ref(), s.sid.as_ref()),
            Self::Registration(owner, s) => {
                let owner = owner.as_ref();
                composite(
                    &format!("reg:{}:{owner}", owner.len()),
                    s.iss.as_ref(),
                    s.sid.as_ref(),
                )
            }
        }
    }
}

fn composite(kind: &str, iss: &str, id: &str) -> String {
    format!("{kind}:{}:{iss}:{id}", iss.len())
}

/// A fact the per-instance mirror holds, named by its identifiers: what
/// the change feed reports as touched and a snapshot enumerates. Seen
/// markers and registration records stay in the store only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MirroredKey {
    Token(TokenId),
    Session(Session),
    SubjectDisabled(Subject),
    SubjectRevokedBefore(Subject),
    Binding(TokenId),
    SessionBinding(Session),
}

impl MirroredKey {
    pub fn fact_key(&self) -> FactKey<'_> {
        match self {
            Self::Token(jti) => FactKey::Token(jti),
            Self::Session(session) => FactKey::Session(session),
            Self::SubjectDisabled(subject) => FactKey::SubjectDisabled(subject),
            Self::SubjectRevokedBefore(subject) => FactKey::SubjectRevokedBefore(subject),
            Self::Binding(jti) => FactKey::Binding(jti),
            Self::SessionBinding(session) => FactKey::SessionBinding(session),
        }
    }

    pub fn encode(&self) -> String {
        self.fact_key().encode()
    }

    /// The keys a change writes.
    pub fn of_change(change: &Change) -> Vec<Self> {
        let one = match change {
            Change::TokenRevoked { jti, .. } => Self::Token(jti.clone()),
            Change::TokensRevoked { jtis, .. } => {
                return jtis.iter().cloned().map(Self::Token).collect();
            }
            Change::SessionRevoked { session, .. } => Self::Session(session.clone()),
            Change::SubjectDisabled { subject, .. } | Change::SubjectEnabled { subject } => {
                Self::SubjectDisabled(subject.clone())
            }
            Change::SubjectRevokedBefore { subject, .. } => {
                Self::SubjectRevokedBefore(subject.clone())
            }
        };
        vec![one]
    }

    /// The kind of revocation that keys named `text` record, from the
    /// namespace alone (no parsing): `None` for bindings, seen markers,
    /// registrations and anything else. Every key of a namespace sorts
    /// before `{namespace};`, so a reader can skip a whole namespace.
    pub fn live_kind(text: &str) -> Option<ChangeKind> {
        match text
            .split_once(':')
            .map_or(text, |(namespace, _)| namespace)
        {
            "tok" => Some(ChangeKind::TokenRevoked),
            "ses" => Some(ChangeKind::SessionRevoked),
            "dis" => Some(ChangeKind::SubjectDisabled),
            "rb" => Some(ChangeKind::SubjectRevokedBefore),
            _ => None,
        }
    }

    /// The inverse of [`FactKey::encode`] for the mirrored kinds; `None`
    /// for any other key (seen markers, registrations) or a malformed one.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        let token = || TokenId::parse(rest).ok();
        match kind {
            "tok" => token().map(Self::Token),
            "bnd" => token().map(Self::Binding),
            "ses" | "sbn" => {
                let (iss, sid) = split_composite(rest)?;
                let session = Session {
                    iss: Issuer::parse(iss).ok()?,
                    sid: SessionId::parse(sid).ok()?,
                };
                Some(if kind == "ses" {
                    Self::Session(session)
                } else {
                    Self::SessionBinding(session)
                })
            }
            "dis" | "rb" => {
                let (iss, sub) = split_composite(rest)?;
                let subject = Subject {
                    iss: Issuer::parse(iss).ok()?,
                    sub: SubjectId::parse(sub).ok()?,
                };
                Some(if kind == "dis" {
                    Self::SubjectDisabled(subject)
                } else {
                    Self::SubjectRevokedBefore(subject)
                })
            }
            _ => None,
        }
    }
}

/// `{n}:{iss}:{id}` → `(iss, id)`, where `n` is the byte length of `iss`.
fn split_composite(rest: &str) -> Option<(&str, &str)> {
    let (len, tail) = rest.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let iss = tail.get(..len)?;
    let id = tail.get(len..)?.strip_prefix(':')?;
    Some((iss, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issuer, SessionId, UnixTime};

    fn session(iss: &str, sid: &str) -> Session {
        Session {
            iss: Issuer::parse(iss).unwrap(),
            sid: SessionId::parse(sid).unwrap(),
        }
    }

    #[test]
    fn composite_keys_are_unambiguous() {
        let a = FactKey::Session(&session("https://a:b", "c")).encode();
        let b = FactKey::Session(&session("https://a", "b:c")).encode();
        assert_ne!(a, b);
        assert_eq!(a, "ses:11:https://a:b:c");
    }

    #[test]
    fn every_kind_has_its_own_namespace() {
        let jti = TokenId::parse("x").unwrap();
        let ses = session("https://a", "x");
        let seen = SeenKey {
            iss: Issuer::parse("https://a").unwrap(),
            jti: jti.clone(),
            expires_at: UnixTime::from_secs(1),
        };
        let owner = Owner::parse("app:1").unwrap();
        let keys = [
            FactKey::Token(&jti).encode(),
            FactKey::Session(&ses).encode(),
            FactKey::Seen(&seen).encode(),
            FactKey::Binding(&jti).encode(),
            FactKey::Registration(&owner, &ses).encode(),
            FactKey::SessionBinding(&ses).encode(),
        ];
        assert_eq!(
            keys,
            [
                "tok:x",
                "ses:9:https://a:x",
                "seen:9:https://a:x",
                "bnd:x",
                "reg:5:app:1:9:https://a:x",
                "sbn:9:https://a:x"
            ]
        );
    }

    #[test]
    fn mirrored_keys_decode_what_encode_wrote() {
        let subject = Subject {
            iss: Issuer::parse("https://ü:1/x").unwrap(),
            sub: SubjectId::parse("a:b c").unwrap(),
        };
        let keys = [
            MirroredKey::Token(TokenId::parse("t:1").unwrap()),
            MirroredKey::Binding(TokenId::parse("b").unwrap()),
            MirroredKey::Session(session("https://a:b", "c:d")),
            MirroredKey::SessionBinding(session("https://a:b", "c:d")),
            MirroredKey::SubjectDisabled(subject.clone()),
            MirroredKey::SubjectRevokedBefore(subject),
        ];
        for key in keys {
            assert_eq!(
                MirroredKey::decode(&key.encode()),
                Some(key.clone()),
                "{key:?}"
            );
        }
        for other in [
            "seen:9:https://a:x",
            "reg:9:https://a:x",
            "ses:99:https://a:x",
            "ses:x:https://a:x",
            "ses:9:https://ax",
            "tok:",
            "nothing",
        ] {
            assert_eq!(MirroredKey::decode(other), None, "{other}");
        }
    }

    #[test]
    fn lengths_count_bytes() {
        // The Redis scripts use Lua's `#`, which counts bytes too.
        let key = FactKey::Session(&session("https://ü", "s")).encode();
        assert_eq!(key, "ses:10:https://ü:s");
    }
}

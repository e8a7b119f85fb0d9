//! The names of facts, shared by both stores so that they cannot drift.
//!
//! An issuer is a URL and may contain any separator, so composite keys
//! length-prefix it: `ses:19:https://idp.example:abc` cannot be confused
//! with another `(iss, sid)` pair whatever the characters involved.

use crate::domain::{Session, Subject, TokenId};

/// One fact a store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKey<'a> {
    Token(&'a TokenId),
    Session(&'a Session),
    SubjectDisabled(&'a Subject),
    SubjectRevokedBefore(&'a Subject),
}

impl FactKey<'_> {
    /// The key text, without any store prefix.
    pub fn encode(&self) -> String {
        match self {
            Self::Token(jti) => format!("tok:{jti}"),
            Self::Session(s) => composite("ses", s.iss.as_ref(), s.sid.as_ref()),
            Self::SubjectDisabled(s) => composite("dis", s.iss.as_ref(), s.sub.as_ref()),
            Self::SubjectRevokedBefore(s) => composite("rb", s.iss.as_ref(), s.sub.as_ref()),
        }
    }
}

fn composite(kind: &str, iss: &str, id: &str) -> String {
    format!("{kind}:{}:{iss}:{id}", iss.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issuer, SessionId};

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
}

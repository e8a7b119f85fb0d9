//! Subject Identifiers for Security Event Tokens (RFC 9493) and the
//! complex subjects of OpenID Shared Signals Framework 1.0 (§3.2), and how
//! one maps onto revokd's `(iss, sub)` / `(iss, sid)`.
//!
//! revokd knows people only as a provider's `(iss, sub)` and sessions as
//! `(iss, sid)`. A transmitter may name them otherwise; each stream says,
//! through a [`SubjectMapping`], which formats stand for its provider's
//! `sub`. Everything else is refused with a [`SubjectError`] that names the
//! format, so a transmitter's operator sees why nothing happened.
//!
//! `email` in particular: revokd's session registry records `(iss, sid,
//! sub)` and token ids, never an email address, so revokd cannot look an
//! email up. An `email` subject is therefore refused
//! ([`SubjectError::NoMapping`]) unless the stream declares that its
//! provider's `sub` *is* the email address (`subject_formats_as_sub`
//! holding `"email"`).

use serde_json::{Map, Value};

use crate::domain::{Issuer, Session, SessionId, Subject, SubjectId};

/// Nesting allowed inside `aliases` and complex subjects: one level each
/// is all the specifications use.
const MAX_DEPTH: usize = 3;

/// A subject as a SET or a Global Token Revocation request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectIdentifier {
    /// RFC 9493 §3.2.5 `iss_sub`.
    IssSub { iss: String, sub: String },
    /// RFC 9493 §3.2.4 `opaque` (`id`).
    Opaque(String),
    /// RFC 9493 §3.2.2 `email`.
    Email(String),
    /// RFC 9493 §3.2.6 `phone_number`.
    PhoneNumber(String),
    /// RFC 9493 §3.2.3 `did` (`url`).
    Did(String),
    /// RFC 9493 §3.2.7 `uri`.
    Uri(String),
    /// RFC 9493 §3.2.1 `account` (`uri`, an `acct:` URI).
    Account(String),
    /// RFC 9493 §3.2.8 `aliases`: several identifiers of one subject.
    Aliases(Vec<SubjectIdentifier>),
    /// SSF 1.0 §3.2: a complex subject. Only `user`, `session` and
    /// `tenant` matter to revokd; other members are ignored.
    Complex {
        user: Option<Box<SubjectIdentifier>>,
        session: Option<Box<SubjectIdentifier>>,
        tenant: Option<Box<SubjectIdentifier>>,
    },
}

/// Why a subject cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("the subject identifier is malformed: {0}")]
    Malformed(&'static str),
    #[error("subject identifier format `{0}` is not known (RFC 9493, SSF 1.0 §3.2)")]
    UnknownFormat(String),
    #[error("the `iss_sub` subject's `iss` is not the provider's issuer")]
    ForeignIssuer,
    #[error(
        "a `{0}` subject has no mapping to the provider's `sub`: revokd's session registry records no {0} values to look it up by; if this provider's `sub` is the {0} value, add \"{0}\" to subject_formats_as_sub"
    )]
    NoMapping(&'static str),
    #[error("the complex subject names neither a `user` nor a `session` revokd can map")]
    NoUserOrSession,
    #[error("the subject's identifier is not a valid `sub` or `sid`: {0}")]
    InvalidValue(String),
}

impl SubjectError {
    /// A stable label for metrics and error descriptions.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "subject_malformed",
            Self::UnknownFormat(_) => "subject_unknown_format",
            Self::ForeignIssuer => "subject_foreign_issuer",
            Self::NoMapping(_) => "subject_no_mapping",
            Self::NoUserOrSession => "subject_no_user_or_session",
            Self::InvalidValue(_) => "subject_invalid_value",
        }
    }
}

impl SubjectIdentifier {
    /// Parses a subject identifier object (RFC 9493 §3, SSF 1.0 §3.2).
    ///
    /// # Errors
    /// Not an object, a format without its members, or an unknown format.
    pub fn from_json(value: &Value) -> Result<Self, SubjectError> {
        Self::parse(value, 0)
    }

    fn parse(value: &Value, depth: usize) -> Result<Self, SubjectError> {
        if depth > MAX_DEPTH {
            return Err(SubjectError::Malformed("nested too deeply"));
        }
        let Value::Object(object) = value else {
            return Err(SubjectError::Malformed("not a JSON object"));
        };
        let Some(format) = object.get("format") else {
            return Self::complex(object, depth);
        };
        let Value::String(format) = format else {
            return Err(SubjectError::Malformed("`format` is not a string"));
        };
        let member = |name: &'static str| -> Result<String, SubjectError> {
            match object.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(SubjectError::Malformed(match name {
                    "iss" => "`iss` is missing or not a non-empty string",
                    "sub" => "`sub` is missing or not a non-empty string",
                    "id" => "`id` is missing or not a non-empty string",
                    "email" => "`email` is missing or not a non-empty string",
                    "phone_number" => "`phone_number` is missing or not a non-empty string",
                    "url" => "`url` is missing or not a non-empty string",
                    _ => "`uri` is missing or not a non-empty string",
                })),
            }
        };
        Ok(match format.as_str() {
            "iss_sub" => Self::IssSub {
                iss: member("iss")?,
                sub: member("sub")?,
            },
            "opaque" => Self::Opaque(member("id")?),
            "email" => Self::Email(member("email")?),
            "phone_number" => Self::PhoneNumber(member("phone_number")?),
            "did" => Self::Did(member("url")?),
            "uri" => Self::Uri(member("uri")?),
            "account" => Self::Account(member("uri")?),
            "aliases" => {
                let Some(Value::Array(ids)) = object.get("identifiers") else {
                    return Err(SubjectError::Malformed(
                        "`aliases` needs an `identifiers` array",
                    ));
                };
                if ids.is_empty() {
                    return Err(SubjectError::Malformed("`identifiers` is empty"));
                }
                let ids = ids
                    .iter()
                    .map(|id| Self::parse(id, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                // RFC 9493 §3.2.8: an alias MUST NOT itself be `aliases`.
                if ids.iter().any(|id| matches!(id, Self::Aliases(_))) {
                    return Err(SubjectError::Malformed("`aliases` nested in `aliases`"));
                }
                Self::Aliases(ids)
            }
            other => return Err(SubjectError::UnknownFormat(other.to_owned())),
        })
    }

    fn complex(object: &Map<String, Value>, depth: usize) -> Result<Self, SubjectError> {
        let member = |name: &str| {
            object
                .get(name)
                .map(|v| Self::parse(v, depth + 1).map(Box::new))
                .transpose()
        };
        let subject = Self::Complex {
            user: member("user")?,
            session: member("session")?,
            tenant: member("tenant")?,
        };
        if object.is_empty() {
            return Err(SubjectError::Malformed("no `format` and no members"));
        }
        Ok(subject)
    }

    /// The RFC 9493 format name, for logs and errors.
    pub const fn format(&self) -> &'static str {
        match self {
            Self::IssSub { .. } => "iss_sub",
            Self::Opaque(_) => "opaque",
            Self::Email(_) => "email",
            Self::PhoneNumber(_) => "phone_number",
            Self::Did(_) => "did",
            Self::Uri(_) => "uri",
            Self::Account(_) => "account",
            Self::Aliases(_) => "aliases",
            Self::Complex { .. } => "complex",
        }
    }
}

/// What a subject resolved to under one stream's [`SubjectMapping`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A person: `(iss, sub)`.
    Subject(Subject),
    /// One provider session, and its person when the subject named both.
    Session {
        session: Session,
        subject: Option<Subject>,
    },
}

/// How one stream (or Global Token Revocation caller) maps subjects onto
/// its provider's `(iss, sub)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectMapping {
    /// The provider's issuer: every mapped subject and session is its.
    pub issuer: Issuer,
    /// The simple formats (`opaque`, `email`, `phone_number`, `did`,
    /// `uri`, `account`) whose value is the provider's `sub` itself. Okta,
    /// for one, names its users `opaque` with the user id, which is the
    /// `sub` of the tokens it issues.
    pub formats_as_sub: Vec<String>,
}

impl SubjectMapping {
    /// Maps `subject` onto revokd's identifiers.
    ///
    /// - `iss_sub`: its `iss` must be the provider's issuer;
    /// - a simple format: only if listed in `formats_as_sub`, else
    ///   [`SubjectError::NoMapping`];
    /// - `aliases`: the first identifier that maps;
    /// - complex: `session` (an `opaque` id is the provider's `sid`) and/or
    ///   `user`; `tenant` is not used to choose (one stream is one tenant).
    ///
    /// # Errors
    /// The subject cannot be mapped; the error says why.
    pub fn map(&self, subject: &SubjectIdentifier) -> Result<Target, SubjectError> {
        match subject {
            SubjectIdentifier::Complex { user, session, .. } => {
                let user = user.as_deref().map(|u| self.person(u)).transpose()?;
                match session.as_deref() {
                    Some(session) => Ok(Target::Session {
                        session: self.session(session)?,
                        subject: user,
                    }),
                    None => user
                        .map(Target::Subject)
                        .ok_or(SubjectError::NoUserOrSession),
                }
            }
            other => self.person(other).map(Target::Subject),
        }
    }

    fn person(&self, subject: &SubjectIdentifier) -> Result<Subject, SubjectError> {
        let sub = match subject {
            SubjectIdentifier::IssSub { iss, sub } => {
                if iss != self.issuer.as_ref() {
                    return Err(SubjectError::ForeignIssuer);
                }
                sub
            }
            SubjectIdentifier::Aliases(ids) => {
                let mut first_error = None;
                for id in ids {
                    match self.person(id) {
                        Ok(found) => return Ok(found),
                        Err(err) => {
                            first_error.get_or_insert(err);
                        }
                    }
                }
                return Err(
                    first_error.unwrap_or(SubjectError::Malformed("`identifiers` is empty"))
                );
            }
            SubjectIdentifier::Complex { .. } => {
                return Err(SubjectError::Malformed(
                    "a complex subject nested as a user",
                ));
            }
            SubjectIdentifier::Opaque(value)
            | SubjectIdentifier::Email(value)
            | SubjectIdentifier::PhoneNumber(value)
            | SubjectIdentifier::Did(value)
            | SubjectIdentifier::Uri(value)
            | SubjectIdentifier::Account(value) => {
                let format = subject.format();
                if !self.formats_as_sub.iter().any(|f| f == format) {
                    return Err(SubjectError::NoMapping(format));
                }
                value
            }
        };
        Ok(Subject {
            iss: self.issuer.clone(),
            sub: SubjectId::parse(sub.clone())
                .map_err(|e| SubjectError::InvalidValue(e.to_string()))?,
        })
    }

    fn session(&self, subject: &SubjectIdentifier) -> Result<Session, SubjectError> {
        let sid = match subject {
            SubjectIdentifier::Opaque(sid) => sid,
            // A session named with its issuer: the provider's own only.
            SubjectIdentifier::IssSub { iss, sub } if iss == self.issuer.as_ref() => sub,
            SubjectIdentifier::IssSub { .. } => return Err(SubjectError::ForeignIssuer),
            _ => {
                return Err(SubjectError::Malformed(
                    "a `session` subject must be `opaque` (its `id` is the provider's `sid`)",
                ));
            }
        };
        Ok(Session {
            iss: self.issuer.clone(),
            sid: SessionId::parse(sid.clone())
                .map_err(|e| SubjectError::InvalidValue(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://org.okta.example";

    fn mapping(formats: &[&str]) -> SubjectMapping {
        SubjectMapping {
            issuer: Issuer::parse(ISS).unwrap(),
            formats_as_sub: formats.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn subject(sub: &str) -> Target {
        Target::Subject(Subject {
            iss: Issuer::parse(ISS).unwrap(),
            sub: SubjectId::parse(sub).unwrap(),
        })
    }

    fn map(m: &SubjectMapping, value: Value) -> Result<Target, SubjectError> {
        m.map(&SubjectIdentifier::from_json(&value)?)
    }

    #[test]
    fn iss_sub_of_the_provider_maps_to_its_subject() {
        let target = map(
            &mapping(&[]),
            json!({"format": "iss_sub", "iss": ISS, "sub": "00u1"}),
        );
        assert_eq!(target, Ok(subject("00u1")));
    }

    #[test]
    fn iss_sub_of_another_issuer_is_refused() {
        let err = map(
            &mapping(&[]),
            json!({"format": "iss_sub", "iss": "https://evil.example", "sub": "00u1"}),
        );
        assert_eq!(err, Err(SubjectError::ForeignIssuer));
    }

    #[test]
    fn opaque_maps_only_when_configured() {
        let value = json!({"format": "opaque", "id": "00u1"});
        assert_eq!(
            map(&mapping(&["opaque"]), value.clone()),
            Ok(subject("00u1"))
        );
        assert_eq!(
            map(&mapping(&[]), value),
            Err(SubjectError::NoMapping("opaque"))
        );
    }

    #[test]
    fn email_without_a_mapping_is_refused_with_the_reason() {
        let err = map(
            &mapping(&["opaque"]),
            json!({"format": "email", "email": "a@example.com"}),
        )
        .unwrap_err();
        assert_eq!(err, SubjectError::NoMapping("email"));
        let text = err.to_string();
        assert!(text.contains("session registry"), "{text}");
        assert!(text.contains("subject_formats_as_sub"), "{text}");
        assert_eq!(
            map(
                &mapping(&["email"]),
                json!({"format": "email", "email": "a@example.com"})
            ),
            Ok(subject("a@example.com"))
        );
    }

    #[test]
    fn phone_did_uri_and_account_need_a_mapping() {
        for (value, format) in [
            (
                json!({"format": "phone_number", "phone_number": "+12065550100"}),
                "phone_number",
            ),
            (json!({"format": "did", "url": "did:example:123"}), "did"),
            (
                json!({"format": "uri", "uri": "https://example.com/u/1"}),
                "uri",
            ),
            (
                json!({"format": "account", "uri": "acct:a@example.com"}),
                "account",
            ),
        ] {
            assert_eq!(
                map(&mapping(&[]), value.clone()),
                Err(SubjectError::NoMapping(format))
            );
            assert!(map(&mapping(&[format]), value).is_ok(), "{format}");
        }
    }

    #[test]
    fn aliases_take_the_first_identifier_that_maps() {
        let value = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "a@example.com"},
            {"format": "iss_sub", "iss": ISS, "sub": "00u1"},
        ]});
        assert_eq!(map(&mapping(&[]), value), Ok(subject("00u1")));
        let none = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "a@example.com"},
        ]});
        assert_eq!(
            map(&mapping(&[]), none),
            Err(SubjectError::NoMapping("email"))
        );
    }

    #[test]
    fn aliases_must_hold_identifiers_and_not_nest() {
        for value in [
            json!({"format": "aliases"}),
            json!({"format": "aliases", "identifiers": []}),
            json!({"format": "aliases", "identifiers": [{"format": "aliases", "identifiers": [{"format": "opaque", "id": "x"}]}]}),
        ] {
            assert!(
                matches!(
                    map(&mapping(&[]), value.clone()),
                    Err(SubjectError::Malformed(_))
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn complex_session_maps_to_the_provider_session_with_its_user() {
        let value = json!({
            "user": {"format": "iss_sub", "iss": ISS, "sub": "00u1"},
            "session": {"format": "opaque", "id": "sid-1"},
            "tenant": {"format": "opaque", "id": "t1"},
        });
        let Ok(Target::Session {
            session,
            subject: Some(user),
        }) = map(&mapping(&[]), value)
        else {
            panic!("a session with its user");
        };
        assert_eq!(session.sid.as_ref(), "sid-1");
        assert_eq!(session.iss.as_ref(), ISS);
        assert_eq!(user.sub.as_ref(), "00u1");
    }

    #[test]
    fn complex_user_alone_maps_to_the_subject() {
        let value = json!({"user": {"format": "iss_sub", "iss": ISS, "sub": "00u1"}});
        assert_eq!(map(&mapping(&[]), value), Ok(subject("00u1")));
    }

    #[test]
    fn complex_without_user_or_session_is_refused() {
        let value = json!({"tenant": {"format": "opaque", "id": "t1"}});
        assert_eq!(
            map(&mapping(&[]), value),
            Err(SubjectError::NoUserOrSession)
        );
        assert!(matches!(
            map(&mapping(&[]), json!({})),
            Err(SubjectError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_formats_and_missing_members_are_refused() {
        assert_eq!(
            map(&mapping(&[]), json!({"format": "x509", "id": "1"})),
            Err(SubjectError::UnknownFormat("x509".into()))
        );
        for value in [
            json!({"format": "iss_sub", "iss": ISS}),
            json!({"format": "opaque", "id": ""}),
            json!({"format": "email", "email": 5}),
            json!({"format": 1}),
            json!("opaque"),
        ] {
            assert!(
                matches!(
                    map(&mapping(&["opaque", "email"]), value.clone()),
                    Err(SubjectError::Malformed(_))
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn an_oversized_sub_is_an_invalid_value() {
        let value = json!({"format": "iss_sub", "iss": ISS, "sub": "x".repeat(300)});
        assert!(matches!(
            map(&mapping(&[]), value),
            Err(SubjectError::InvalidValue(_))
        ));
    }
}

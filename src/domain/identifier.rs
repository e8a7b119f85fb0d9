//! Identifiers: token ids, issuers, `sub` and `sid` values.
//!
//! Each is a newtype with a private field and a `parse` constructor that
//! rejects what no honest caller sends: empty strings, control characters
//! and values longer than any real provider issues. The limits bound the
//! memory one request can make the store hold.

use serde::{Deserialize, Serialize};

/// Why an identifier was refused. The message names the field, because it
/// is shown to API callers as `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("`{field}` is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("`{field}` contains a control character")]
    ControlCharacter { field: &'static str },
}

fn check(field: &'static str, max: usize, value: &str) -> Result<(), ParseError> {
    if value.is_empty() {
        return Err(ParseError::Empty { field });
    }
    if value.len() > max {
        return Err(ParseError::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter { field });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, field = $field:literal, max = $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;
            /// The wire name of the field, used in error messages.
            pub const FIELD: &'static str = $field;

            /// # Errors
            /// Empty, longer than [`Self::MAX_LEN`], or containing a control character.
            pub fn parse(value: impl Into<String>) -> Result<Self, ParseError> {
                let value = value.into();
                check($field, $max, &value)?;
                Ok(Self(value))
            }

            /// Whether [`Self::parse`] accepts `value`, without copying it
            /// (a bulk load checks millions).
            pub fn is_valid(value: &str) -> bool {
                check($field, $max, value).is_ok()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                // The pattern says what `parse` refuses: empty, control
                // characters (`char::is_control`: Unicode category Cc), more
                // than `$max` characters. `$max` counts bytes, which no
                // JSON Schema keyword can: the description says so.
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some(format!(
                        "^[^\\u0000-\\u001F\\u007F-\\u009F]{{1,{}}}$",
                        $max
                    )))
                    .description(Some(format!(
                        "1 to {} bytes of UTF-8 (a character outside ASCII takes 2 to 4), \
                         without control characters (U+0000-U+001F, U+007F-U+009F).",
                        $max
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

identifier!(
    /// An identity provider, by its `iss` value (compared exactly, as OIDC
    /// Core §2 requires; no normalisation).
    Issuer, field = "iss", max = 1024
);
identifier!(
    /// An application token id: a `jti`, or Home Assistant's refresh-token id.
    TokenId, field = "jti", max = 256
);
identifier!(
    /// A provider's `sub` claim. Meaningless without its issuer: see [`Subject`].
    SubjectId, field = "sub", max = 256
);
identifier!(
    /// A provider's `sid` claim. Meaningless without its issuer: see [`Session`].
    SessionId, field = "sid", max = 256
);

identifier!(
    /// Free text saying why a change was made, kept in the audit log.
    Note, field = "reason", max = 512
);

/// A person at one provider: `(issuer, sub)`. Never `sub` alone, since two
/// providers may issue the same `sub`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Subject {
    pub iss: Issuer,
    pub sub: SubjectId,
}

/// A login session at one provider: `(issuer, sid)`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct Session {
    pub iss: Issuer,
    pub sid: SessionId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_empty_long_and_control() {
        let cases = [
            ("", ParseError::Empty { field: "jti" }),
            ("a\u{0}b", ParseError::ControlCharacter { field: "jti" }),
            ("line\nbreak", ParseError::ControlCharacter { field: "jti" }),
            (
                &"x".repeat(257),
                ParseError::TooLong {
                    field: "jti",
                    max: 256,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(TokenId::parse(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn accepts_the_longest_value_and_unicode() {
        assert!(TokenId::parse("x".repeat(256)).is_ok());
        assert_eq!(SubjectId::parse("jürgen").unwrap().as_ref(), "jürgen");
    }

    #[test]
    fn deserialising_applies_the_same_rules() {
        let err = serde_json::from_str::<Issuer>("\"\"").unwrap_err();
        assert!(err.to_string().contains("`iss` must not be empty"), "{err}");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".*") {
            if let Ok(id) = SessionId::parse(s.clone()) {
                prop_assert_eq!(id.as_ref(), s.as_str());
            }
        }
    }
}

//! `[[scim]]`: the identity providers that provision users into revokd
//! over SCIM 2.0, each with its own bearer token (apart from `[[keys]]`:
//! a SCIM token acts only on its own client's users), the issuer its users
//! belong to, and which attribute of a SCIM user is that issuer's `sub`.
//! Each entry validates itself here; unique names are checked across
//! entries by [`validate_all`]. Kept beside the other signal settings so
//! that `crate::config` (below `crate::scim`) can compose it.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use crate::config::error::ConfigError;

/// The shortest bearer token accepted, as for API keys.
pub const MIN_TOKEN_LEN: usize = 16;

/// The core User schema (RFC 7643 §8.7.1), the prefix of its
/// fully-qualified attribute names.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn default_subject_attribute() -> String {
    "externalId".to_owned()
}

/// Which attribute of a SCIM user is the provider's `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAttribute {
    ExternalId,
    UserName,
    /// Any other single-valued string attribute, by name: a core one
    /// (`"nickName"`) or one of an extension, fully qualified
    /// (`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"`).
    Custom {
        /// The extension schema URN; `None` for a core attribute.
        schema: Option<String>,
        name: String,
    },
}

impl SubjectAttribute {
    /// Reads `subject_attribute`.
    ///
    /// # Errors
    /// Empty, or an attribute path this mapping cannot follow.
    pub fn parse(text: &str) -> Result<Self, String> {
        let simple = |name: &str| {
            !name.is_empty()
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        let (schema, name) = match text.rsplit_once(':') {
            Some((schema, name)) if schema.starts_with("urn:") => (Some(schema), name),
            Some(_) => return Err(format!("`{text}` is not `<schema URN>:<attribute>`")),
            None => (None, text),
        };
        if !simple(name) {
            return Err(format!(
                "`{text}` does not name one attribute (sub-attributes and filters are not followed)"
            ));
        }
        let core = schema.is_none_or(|s| s == USER_SCHEMA);
        Ok(match name {
            n if core && n.eq_ignore_ascii_case("externalId") => Self::ExternalId,
            n if core && n.eq_ignore_ascii_case("userName") => Self::UserName,
            n if core && (n.eq_ignore_ascii_case("id") || n.eq_ignore_ascii_case("active")) => {
                return Err(format!(
                    "`{text}` is not the provider's: `id` is revokd's, `active` a flag"
                ));
            }
            _ => Self::Custom {
                schema: schema.filter(|s| *s != USER_SCHEMA).map(str::to_owned),
                name: name.to_owned(),
            },
        })
    }
}

/// One `[[scim]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimClientSettings {
    /// Short name: the audit actor (`scim:<name>`), logs, metrics.
    pub name: String,
    /// The `iss` of the provider whose users these are: each user maps to
    /// `(issuer, sub)`.
    pub issuer: String,
    /// The bearer token the provider sends (prefer `token_sha256` or
    /// `token_file`: this one sits in the configuration in clear).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// Or its SHA-256, hex.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// Or a file holding it (systemd credentials).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The SCIM attribute whose value is the provider's `sub`:
    /// `externalId` (default), `userName`, or another attribute's name.
    #[serde(default = "default_subject_attribute")]
    pub subject_attribute: String,
}

impl ScimClientSettings {
    /// The rules of the `i`th `[[scim]]` entry alone (the token file is
    /// read when the service is built).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let at = |field: &str| format!("scim[{i}].{field}");
        let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.name.is_empty() || !self.name.chars().all(url_safe) {
            return Err(ConfigError::invalid(
                at("name"),
                "use letters, digits, '-', '_' or '.'",
            ));
        }
        crate::domain::Issuer::parse(self.issuer.clone())
            .map_err(|e| ConfigError::invalid(at("issuer"), e.to_string()))?;
        let sources = [
            self.token.is_some(),
            self.token_sha256.is_some(),
            self.token_file.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(ConfigError::invalid(
                at("token"),
                "give exactly one of token, token_sha256 or token_file",
            ));
        }
        if let Some(token) = &self.token {
            use secrecy::ExposeSecret;
            if token.expose_secret().trim().len() < MIN_TOKEN_LEN {
                return Err(ConfigError::invalid(
                    at("token"),
                    format!("the token is shorter than {MIN_TOKEN_LEN} characters"),
                ));
            }
        }
        if let Some(hex) = &self.token_sha256 {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex, &mut digest)
                .map_err(|e| ConfigError::invalid(at("token_sha256"), e.to_string()))?;
        }
        SubjectAttribute::parse(&self.subject_attribute)
            .map_err(|e| ConfigError::invalid(at("subject_attribute"), e))?;
        Ok(())
    }
}

/// Every `[[scim]]` entry, and names unique across them.
///
/// # Errors
/// A [`ConfigError`] naming the offending key.
pub fn validate_all(clients: &[ScimClientSettings]) -> Result<(), ConfigError> {
    for (i, c) in clients.iter().enumerate() {
        c.validate(i)?;
        if clients[..i].iter().any(|d| d.name == c.name) {
            return Err(ConfigError::invalid(
                format!("scim[{i}].name"),
                format!("`{}` is used twice", c.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ScimClientSettings {
        ScimClientSettings {
            name: "entra".into(),
            issuer: "https://login.example.com/tenant/v2.0".into(),
            token: Some(SecretString::from("a-token-of-enough-length")),
            token_sha256: None,
            token_file: None,
            subject_attribute: default_subject_attribute(),
        }
    }

    #[test]
    fn a_complete_entry_is_valid() {
        entry().validate(0).unwrap();
    }

    #[test]
    fn each_broken_rule_names_its_key() {
        type Breaks = Box<dyn Fn(&mut ScimClientSettings)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("scim[0].name", Box::new(|s| s.name = "a b".into())),
            ("scim[0].name", Box::new(|s| s.name = String::new())),
            ("scim[0].issuer", Box::new(|s| s.issuer = String::new())),
            ("scim[0].token", Box::new(|s| s.token = None)),
            (
                "scim[0].token",
                Box::new(|s| s.token_sha256 = Some("00".repeat(32))),
            ),
            (
                "scim[0].token",
                Box::new(|s| s.token = Some(SecretString::from("short"))),
            ),
            (
                "scim[0].token_sha256",
                Box::new(|s| {
                    s.token = None;
                    s.token_sha256 = Some("zz".into());
                }),
            ),
            (
                "scim[0].subject_attribute",
                Box::new(|s| s.subject_attribute = "name.givenName".into()),
            ),
            (
                "scim[0].subject_attribute",
                Box::new(|s| s.subject_attribute = "id".into()),
            ),
            (
                "scim[0].subject_attribute",
                Box::new(|s| s.subject_attribute = "emails[type eq \"work\"].value".into()),
            ),
        ];
        for (key, breaks) in cases {
            let mut s = entry();
            breaks(&mut s);
            let err = s.validate(0).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn a_name_used_twice_is_refused() {
        let err = validate_all(&[entry(), entry()]).unwrap_err().to_string();
        assert!(err.contains("scim[1].name"), "{err}");
    }

    #[test]
    fn subject_attributes_parse() {
        assert_eq!(
            SubjectAttribute::parse("externalId").unwrap(),
            SubjectAttribute::ExternalId
        );
        assert_eq!(
            SubjectAttribute::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(),
            SubjectAttribute::UserName
        );
        assert_eq!(
            SubjectAttribute::parse(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            )
            .unwrap(),
            SubjectAttribute::Custom {
                schema: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
                name: "employeeNumber".into()
            }
        );
        assert_eq!(
            SubjectAttribute::parse("nickName").unwrap(),
            SubjectAttribute::Custom {
                schema: None,
                name: "nickName".into()
            }
        );
    }
}

//! API keys and their roles.
//!
//! Keys are held only as SHA-256 digests. A presented key is hashed once and
//! compared with every configured digest in constant time, without stopping
//! at the first match, so neither timing nor the number of keys tells an
//! attacker how close a guess came.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::error::ConfigError;

/// Shortest accepted key: 16 characters, so that a key cannot be guessed
/// online however many tries an attacker makes.
pub const MIN_KEY_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every endpoint.
    Admin,
    /// Checks and, for apps, the session registry.
    Client,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Client => "client",
        }
    }

    /// Whether a key of this role may act as `required`. Admin keys may do
    /// what client keys may.
    pub fn satisfies(self, required: Role) -> bool {
        self == Role::Admin || self == required
    }
}

/// One `[[keys]]` entry as written in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub key: Option<SecretString>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// An authenticated caller: the key's name and role. The name is what the
/// audit log records, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// `admin:ops`, `client:home-assistant`: the audit log's `actor`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }
}

#[derive(Clone)]
struct StoredKey {
    principal: Principal,
    digest: [u8; 32],
}

/// The configured keys.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Vec<StoredKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.principal))
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The hex SHA-256 of a key: what `sha256 = "..."` in `[[keys]]` expects.
pub fn sha256_hex(key: &str) -> String {
    hex::encode(digest(key))
}

impl KeyRing {
    /// # Errors
    /// See [`crate::config::Settings::key_ring`].
    pub fn from_settings(settings: &[KeySettings]) -> Result<Self, ConfigError> {
        let mut keys: Vec<StoredKey> = Vec::with_capacity(settings.len());
        for (i, entry) in settings.iter().enumerate() {
            let at = |field: &str| format!("keys[{i}].{field}");
            if entry.name.trim().is_empty() || entry.name.chars().any(char::is_control) {
                return Err(ConfigError::invalid(
                    at("name"),
                    "must be a non-empty printable name",
                ));
            }
            if keys.iter().any(|k| k.principal.name == entry.name) {
                return Err(ConfigError::invalid(
                    at("name"),
                    format!("`{}` is used twice", entry.name),
                ));
            }
            let digest = match (&entry.key, &entry.sha256, &entry.file) {
                (Some(key), None, None) => digest_of_plain(key.expose_secret(), || at("key"))?,
                (None, Some(hex_digest), None) => {
                    parse_hex_digest(hex_digest).ok_or_else(|| {
                        ConfigError::invalid(at("sha256"), "must be 64 hexadecimal digits")
                    })?
                }
                (None, None, Some(path)) => {
                    let bytes = crate::config::secret_file::read_secret_file(&at("file"), path)?;
                    let content = String::from_utf8(bytes).map_err(|_| {
                        ConfigError::invalid(at("file"), "the key file is not UTF-8")
                    })?;
                    digest_of_plain(content.trim(), || at("file"))?
                }
                _ => {
                    return Err(ConfigError::invalid(
                        format!("keys[{i}]"),
                        "give exactly one of `key`, `sha256`, `file`",
                    ));
                }
            };
            keys.push(StoredKey {
                principal: Principal {
                    name: entry.name.clone(),
                    role: entry.role,
                },
                digest,
            });
        }
        Ok(Self { keys })
    }

    /// A ring with the given `(name, role, key)` entries, for tests and tools.
    ///
    /// # Panics
    /// When a key is shorter than [`MIN_KEY_LEN`].
    pub fn with_keys<'a>(entries: impl IntoIterator<Item = (&'a str, Role, &'a str)>) -> Self {
        let keys = entries
            .into_iter()
            .map(|(name, role, key)| {
                assert!(
                    key.len() >= MIN_KEY_LEN,
                    "test keys must be at least {MIN_KEY_LEN} characters"
                );
                StoredKey {
                    principal: Principal {
                        name: name.to_owned(),
                        role,
                    },
                    digest: digest(key),
                }
            })
            .collect();
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.keys.iter().any(|k| k.principal.role == role)
    }

    /// The principal whose key is `presented`, if any. Runs in time that
    /// depends only on the number of configured keys.
    pub fn authenticate(&self, presented: &str) -> Option<&Principal> {
        let candidate = digest(presented);
        let mut found: Option<&Principal> = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&candidate)) {
                found = Some(&key.principal);
            }
        }
        found
    }
}

fn digest_of_plain(key: &str, at: impl Fn() -> String) -> Result<[u8; 32], ConfigError> {
    if key.chars().count() < MIN_KEY_LEN {
        return Err(ConfigError::invalid(
            at(),
            format!("must be at least {MIN_KEY_LEN} characters"),
        ));
    }
    Ok(digest(key))
}

fn parse_hex_digest(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, key: Option<&str>, sha: Option<&str>) -> KeySettings {
        KeySettings {
            name: name.into(),
            role: Role::Client,
            key: key.map(|k| SecretString::from(k.to_owned())),
            sha256: sha.map(str::to_owned),
            file: None,
        }
    }

    #[test]
    fn plain_and_hashed_keys_authenticate() {
        let key = "correct horse battery staple";
        let sha = hex::encode(Sha256::digest(key.as_bytes()));
        let ring = KeyRing::from_settings(&[
            entry("a", Some("another key of length"), None),
            entry("b", None, Some(&sha)),
        ])
        .unwrap();
        assert_eq!(ring.authenticate(key).unwrap().name, "b");
        assert_eq!(
            ring.authenticate("another key of length").unwrap().name,
            "a"
        );
        assert!(ring.authenticate("correct horse battery stapl").is_none());
        assert!(ring.authenticate("").is_none());
    }

    #[test]
    fn bad_entries_are_refused_with_their_key_path() {
        let cases = [
            (vec![entry("a", Some("short"), None)], "keys[0].key"),
            (vec![entry("a", None, Some("zz"))], "keys[0].sha256"),
            (vec![entry("a", None, None)], "keys[0]"),
            (
                vec![entry("a", Some("0123456789abcdef"), Some("00"))],
                "keys[0]",
            ),
            (
                vec![
                    entry("a", Some("0123456789abcdef"), None),
                    entry("a", Some("fedcba9876543210"), None),
                ],
                "keys[1].name",
            ),
            (
                vec![entry(" ", Some("0123456789abcdef"), None)],
                "keys[0].name",
            ),
        ];
        for (settings, key) in cases {
            let err = KeyRing::from_settings(&settings).unwrap_err().to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn admin_satisfies_client_but_not_the_reverse() {
        assert!(Role::Admin.satisfies(Role::Client));
        assert!(!Role::Client.satisfies(Role::Admin));
    }

    #[test]
    fn debug_output_holds_no_digest() {
        let ring = KeyRing::with_keys([("ops", Role::Admin, "0123456789abcdef0123")]);
        let text = format!("{ring:?}");
        assert!(
            text.contains("ops") && !text.contains(&hex::encode(digest("0123456789abcdef0123")))
        );
    }
}

//! [`ConfigError`]: why a configuration cannot be used.
//!
//! Apart from the rest of `config` so that every feature module can
//! validate its own settings type with it, while [`super::Settings`]
//! composes those types: this file imports nothing of the crate, so
//! neither side has to import the other.

use std::path::PathBuf;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file, TOML syntax, unknown key, wrong type. Figment's
    /// message names the key and where its value came from.
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("configuration file {path} cannot be read")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value of the right type that breaks a rule.
    #[error("invalid configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// A `REVOKD_*` environment variable that is no configuration key (a
    /// typo such as `REVOKD_REDIS_URL`, or another program's `REVOKD_BIN`).
    /// Refused rather than ignored: a mistyped key would otherwise leave its
    /// setting at the default without a word.
    #[error(
        "unknown environment variable `{variable}`: revokd reads every REVOKD_* variable as a configuration key (REVOKD_<SECTION>__<KEY>), and `{key}` is none{}; rename or unset it",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownVariable {
        variable: String,
        key: String,
        suggestion: Option<String>,
    },
}

impl From<Box<figment::Error>> for ConfigError {
    fn from(err: Box<figment::Error>) -> Self {
        Self::Load(err)
    }
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

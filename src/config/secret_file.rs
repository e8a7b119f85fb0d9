//! Reading a secret file named in the configuration, with systemd's
//! credentials directory as a placeholder. Apart from the rest of `config`,
//! and like [`super::error`] importing nothing of the crate above it, so
//! that the settings types below `config` (API keys, providers, the
//! gateway's verifier) can read their files.

use std::path::{Path, PathBuf};

use super::error::ConfigError;

/// What a secret file's path may start with to name a file in systemd's
/// credentials directory (`LoadCredential=`), whose location only the
/// environment knows (`$CREDENTIALS_DIRECTORY`).
pub const CREDENTIALS_PLACEHOLDER: &str = "${CREDENTIALS_DIRECTORY}";

/// Reads a file that holds a secret (`keys[].file`, a provider's
/// `decryption_key_file`, `forward_auth.jwt.hmac_secret_file`, ...), with a
/// leading [`CREDENTIALS_PLACEHOLDER`] replaced by `$CREDENTIALS_DIRECTORY`,
/// so that a configuration file with no secret in it can point at the
/// credentials systemd hands the service.
///
/// # Errors
/// [`ConfigError::Invalid`] naming `key`: the placeholder without
/// `$CREDENTIALS_DIRECTORY` set, or a file that cannot be read.
pub fn read_secret_file(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY");
    let path = expand_credentials(path, credentials.as_deref())
        .map_err(|message| ConfigError::invalid(key, message))?;
    std::fs::read(&path)
        .map_err(|e| ConfigError::invalid(key, format!("{} cannot be read: {e}", path.display())))
}

/// `${CREDENTIALS_DIRECTORY}/name` → `<credentials>/name`; any other path
/// as it is.
fn expand_credentials(
    path: &Path,
    credentials: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    let Ok(rest) = path.strip_prefix(CREDENTIALS_PLACEHOLDER) else {
        return Ok(path.to_owned());
    };
    match credentials {
        Some(dir) if !dir.is_empty() => Ok(Path::new(dir).join(rest)),
        _ => Err(format!(
            "{} names {CREDENTIALS_PLACEHOLDER}, but CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with LoadCredential=)",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths_may_start_in_the_credentials_directory() {
        let dir = Some(std::ffi::OsStr::new("/run/credentials/revokd.service"));
        assert_eq!(
            expand_credentials(Path::new("${CREDENTIALS_DIRECTORY}/admin.key"), dir).unwrap(),
            Path::new("/run/credentials/revokd.service/admin.key")
        );
        // Any other path is left alone, also one that merely contains it.
        for plain in [
            "/etc/revokd/admin.key",
            "keys/${CREDENTIALS_DIRECTORY}/x",
            "admin.key",
        ] {
            assert_eq!(
                expand_credentials(Path::new(plain), dir).unwrap(),
                Path::new(plain)
            );
        }
        for unset in [None, Some(std::ffi::OsStr::new(""))] {
            let err = expand_credentials(Path::new("${CREDENTIALS_DIRECTORY}/admin.key"), unset)
                .unwrap_err();
            assert!(err.contains("CREDENTIALS_DIRECTORY is not set"), "{err}");
        }
    }
}

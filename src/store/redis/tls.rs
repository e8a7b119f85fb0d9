//! `[redis.tls]`: what a `rediss://` connection trusts and shows.
//!
//! Without any file, a `rediss://` connection trusts the system's roots
//! (what a managed Redis with a public certificate needs). `ca_file`
//! replaces them with a private CA; `cert_file` and `key_file` add a client
//! certificate for servers that require one (`tls-auth-clients yes`). The
//! files are read and checked at start-up (and by `check-config`), so a
//! typo is a start-up error naming the key, not a connection failure later.
//! There is no "insecure" switch: the server's certificate is always
//! verified, host name included.

use std::path::{Path, PathBuf};

use deadpool_redis::redis::{ClientTlsConfig, TlsCertificates};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

/// `[redis.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTlsSettings {
    /// PEM CA certificate(s) that sign the server's certificate, instead of
    /// the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for servers that require one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Its PEM private key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// A `[redis.tls]` setting that cannot be used: the key and why.
#[derive(Debug)]
pub struct BadTlsSetting {
    pub key: &'static str,
    pub message: String,
}

impl RedisTlsSettings {
    /// Whether any file is configured.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The files, read and checked, in the form the redis crate takes;
    /// `None` when no file is configured.
    ///
    /// # Errors
    /// The key at fault: unreadable, not PEM, no certificate, a client key
    /// without its certificate (or the reverse) or not matching it.
    pub fn certificates(&self) -> Result<Option<TlsCertificates>, BadTlsSetting> {
        if !self.is_set() {
            return Ok(None);
        }
        let root_cert = match &self.ca_file {
            Some(path) => Some(read_ca(path).map_err(|message| BadTlsSetting {
                key: "redis.tls.ca_file",
                message,
            })?),
            None => None,
        };
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                // The same checks as the listener's pair: both parse, the
                // key is the certificate's.
                crate::tls::load_pair(cert, key).map_err(|err| BadTlsSetting {
                    key: match &err {
                        crate::tls::TlsError::BadKey { .. } => "redis.tls.key_file",
                        crate::tls::TlsError::Read { path, .. } if path == key => {
                            "redis.tls.key_file"
                        }
                        _ => "redis.tls.cert_file",
                    },
                    message: err.to_string(),
                })?;
                let read = |key: &'static str, path: &Path| {
                    std::fs::read(path).map_err(|err| BadTlsSetting {
                        key,
                        message: format!("cannot read {}: {err}", path.display()),
                    })
                };
                Some(ClientTlsConfig {
                    client_cert: read("redis.tls.cert_file", cert)?,
                    client_key: read("redis.tls.key_file", key)?,
                })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(BadTlsSetting {
                    key: "redis.tls.key_file",
                    message: "must be set when redis.tls.cert_file is (both or neither)".into(),
                });
            }
            (None, Some(_)) => {
                return Err(BadTlsSetting {
                    key: "redis.tls.cert_file",
                    message: "must be set when redis.tls.key_file is (both or neither)".into(),
                });
            }
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

/// The CA file's bytes, once they are known to hold at least one PEM
/// certificate (the redis crate would accept an empty trust store, and
/// then refuse every server).
fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let pem =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{} is not a PEM certificate file: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

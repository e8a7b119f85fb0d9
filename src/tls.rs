//! TLS on the API listener (`[tls]`): rustls with the ring provider,
//! TLS 1.2 and 1.3 only, ALPN `http/1.1` (actix adds it; `h2` is not built).
//!
//! The certificate is served through a [`ResolvesServerCert`] that reads an
//! [`ArcSwap`], so a renewed certificate replaces the old one without
//! closing the listener: a handshake after the swap gets the new pair,
//! connections already open keep theirs. The reload task swaps it when the
//! files change (compared every `tls.reload_interval`) and on `SIGHUP`. A
//! new pair that does not load (unreadable, not PEM, key not matching the
//! certificate, a half-written renewal) is refused with an ERROR log and
//! `revokd_tls_reloads_total{result="error"}`; the old pair keeps serving.
//!
//! `ops_listen` stays plain HTTP: it serves health and metrics to local
//! probes and Prometheus, on an address that should not face the network.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::{IntCounterVec, IntGauge, Opts};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::config::error::ConfigError;
use crate::metrics::Metrics;

/// `[tls]`: the API listener's certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first. With `key_file`: the listener
    /// speaks TLS only.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or Ed25519).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How often the two files are compared with what is served.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl TlsSettings {
    /// The certificate and key paths, when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }

    /// Both files or neither, and a pair that loads now (so `check-config`
    /// catches what `serve` would refuse).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tls = self;
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                load_pair(cert, key).map_err(|err| {
                    let name = match &err {
                        TlsError::BadKey { .. } => "tls.key_file",
                        TlsError::Read { path, .. } if path == key => "tls.key_file",
                        _ => "tls.cert_file",
                    };
                    ConfigError::invalid(name, err.to_string())
                })?;
            }
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "tls.key_file",
                    "must be set when tls.cert_file is (both or neither)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "tls.cert_file",
                    "must be set when tls.key_file is (both or neither)",
                ));
            }
            (None, None) => {}
        }
        if tls.reload_interval.is_zero() {
            return Err(ConfigError::invalid(
                "tls.reload_interval",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

/// Why a certificate/key pair cannot be served. Names the file, never
/// prints key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a PEM certificate chain: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {path} cannot be read: {reason}")]
    Unparsable { path: PathBuf, reason: String },
}

/// A loaded pair, with the certificate's expiry.
pub struct LoadedPair {
    pub key: Arc<CertifiedKey>,
    /// The leaf's notAfter, seconds since the epoch.
    pub not_after: i64,
    /// Digest of both files' bytes, to notice a change.
    fingerprint: [u8; 32],
}

/// The one crypto provider: ring.
///
/// rustls 0.23.48 deprecates ring's provider because it has no
/// post-quantum key exchange (X25519MLKEM768 is aws-lc-rs only). ring is
/// kept on purpose: it builds in a fraction of aws-lc-rs's time and needs
/// no cmake, and the classical groups (X25519, P-256, P-384) it offers are
/// what every client of revokd (providers, proxies, Home Assistant) speaks.
/// Switching is one feature in Cargo.toml and this function.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's default provider, for the redis crate's
/// `rediss://` connections (which ask rustls for the default). Idempotent.
pub fn install_default_provider() {
    // Err means a provider is installed already: ours, by an earlier call.
    let _ = CryptoProvider::install_default(Arc::unwrap_or_clone(provider()));
}

/// Reads and checks a pair: the chain parses, the key parses and is of a
/// supported type, and the key is the certificate's.
///
/// # Errors
/// A [`TlsError`] naming the file at fault.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<LoadedPair, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let (cert_pem, key_pem) = (read(cert_path)?, read(key_path)?);
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::BadCertificate {
            path: cert_path.to_owned(),
            reason: err.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    };
    let not_after = not_after(leaf).map_err(|reason| TlsError::Unparsable {
        path: cert_path.to_owned(),
        reason,
    })?;
    let bad_key = |reason: String| TlsError::BadKey {
        path: key_path.to_owned(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| bad_key(err.to_string()))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|err| bad_key(err.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
    })?;
    Ok(LoadedPair {
        key: Arc::new(certified),
        not_after,
        fingerprint: fingerprint(&cert_pem, &key_pem),
    })
}

fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(cert_pem);
    digest.update(key_pem);
    digest.finalize().into()
}

/// The fingerprint of the two files, when both can be read.
fn fingerprint_of(cert: &Path, key: &Path) -> Option<[u8; 32]> {
    Some(fingerprint(
        &std::fs::read(cert).ok()?,
        &std::fs::read(key).ok()?,
    ))
}

/// The certificate's notAfter in seconds since the epoch (through the
/// OpenSSL already linked for JOSE, rather than another X.509 parser).
fn not_after(cert: &CertificateDer<'_>) -> Result<i64, String> {
    let x509 = openssl::x509::X509::from_der(cert.as_ref()).map_err(|e| e.to_string())?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
    let diff = epoch.diff(x509.not_after()).map_err(|e| e.to_string())?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// Hands every handshake the pair currently loaded.
#[derive(Debug)]
struct Resolver(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// `revokd_tls_*` metrics.
struct TlsMetrics {
    not_after: IntGauge,
    reloads: IntCounterVec,
}

impl TlsMetrics {
    fn register(metrics: &Metrics) -> anyhow::Result<Self> {
        let not_after = IntGauge::new(
            "tls_certificate_not_after_seconds",
            "The served certificate's notAfter, seconds since the epoch.",
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "tls_reloads_total",
                "Certificate reloads by result: ok, or error (the previous pair kept serving).",
            ),
            &["result"],
        )?;
        for result in ["ok", "error"] {
            reloads.with_label_values(&[result]);
        }
        metrics.register(Box::new(not_after.clone()))?;
        metrics.register(Box::new(reloads.clone()))?;
        Ok(Self { not_after, reloads })
    }
}

/// The listener's TLS: its rustls configuration and what reloads it.
pub struct ListenerTls {
    config: ServerConfig,
    reloader: Reloader,
}

struct Reloader {
    resolver: Arc<Resolver>,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    metrics: TlsMetrics,
    /// Of the files last read, good or bad, so that a bad pair is reported
    /// once, not at every look (`None`: a file could not be read).
    last_seen: Option<[u8; 32]>,
}

impl ListenerTls {
    /// Loads the pair and builds the server configuration; `None` when TLS
    /// is not configured.
    ///
    /// # Errors
    /// The pair does not load, or the metrics cannot be registered.
    pub fn new(settings: &TlsSettings, metrics: &Metrics) -> anyhow::Result<Option<Self>> {
        let Some((cert, key)) = settings.files() else {
            return Ok(None);
        };
        let pair = load_pair(cert, key)?;
        let metrics = TlsMetrics::register(metrics)?;
        metrics.not_after.set(pair.not_after);
        let resolver = Arc::new(Resolver(ArcSwap::new(pair.key)));
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(Some(Self {
            config,
            reloader: Reloader {
                resolver,
                cert: cert.to_owned(),
                key: key.to_owned(),
                every: settings.reload_interval,
                metrics,
                last_seen: Some(pair.fingerprint),
            },
        }))
    }

    /// Splits off the task that reloads the pair when its files change and
    /// on `SIGHUP`, until `cancel`.
    ///
    /// The signal is hooked here, before the listener serves, so that a
    /// SIGHUP right after start-up cannot meet its default action (exit).
    pub fn into_parts(
        self,
        cancel: CancellationToken,
    ) -> (ServerConfig, impl Future<Output = ()> + Send + 'static) {
        (self.config, self.reloader.watch(hangups(), cancel))
    }
}

impl Reloader {
    async fn watch(mut self, mut hangup: Hangups, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => self.reload(false),
                () = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP received; reloading the TLS certificate");
                    self.reload(true);
                }
            }
        }
    }

    /// Reloads when the files differ from what was last read, or always
    /// when `forced` (SIGHUP).
    fn reload(&mut self, forced: bool) {
        let seen = fingerprint_of(&self.cert, &self.key);
        if !forced && seen == self.last_seen {
            return;
        }
        match load_pair(&self.cert, &self.key) {
            Ok(pair) => {
                self.last_seen = Some(pair.fingerprint);
                self.resolver.0.store(pair.key);
                self.metrics.not_after.set(pair.not_after);
                self.metrics.reloads.with_label_values(&["ok"]).inc();
                tracing::info!(
                    not_after = pair.not_after,
                    cert_file = %self.cert.display(),
                    "TLS certificate reloaded"
                );
            }
            Err(err) => {
                self.last_seen = seen;
                self.metrics.reloads.with_label_values(&["error"]).inc();
                tracing::error!(
                    error = %err,
                    "the new TLS certificate or key cannot be used; still serving the previous one"
                );
            }
        }
    }
}

/// `SIGHUP`s, when they can be received.
#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// Hooks `SIGHUP` (from then on it no longer ends the process).
fn hangups() -> Hangups {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGHUP");
            None
        }
    }
    #[cfg(not(unix))]
    None
}

/// The next `SIGHUP`; never, when they cannot be received.
async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(signal) = hangups.as_mut()
        && signal.recv().await.is_some()
    {
        return;
    }
    let _ = hangups;
    std::future::pending::<()>().await;
}

/// Without TLS there is nothing to reload, but `SIGHUP` (what `systemctl
/// reload` or a renewal hook may send) must not end the process, which is
/// what the signal does by default: it is logged and otherwise ignored.
/// Hooked when called (in `Application::build`), not when first polled.
pub fn ignore_hangup(cancel: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
    let mut hangup = hangups();
    async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP received; no TLS certificate is configured, nothing to reload");
                }
            }
        }
    }
}

//! `revokd healthcheck`: asks the running instance's `/readyz`, for a
//! container `HEALTHCHECK` (the image has no shell, curl or wget to do it).
//!
//! It reads the same configuration as `serve`, so it asks the address the
//! instance listens on: the operations listener when `ops_listen` is set
//! (that is where `/readyz` moves), else `listen`. An unspecified address
//! (`0.0.0.0`, `[::]`) is asked on the loopback of the same family.
//!
//! When the API listener serves TLS (and there is no `ops_listen`), the
//! probe speaks https and trusts exactly the certificate the instance
//! serves: the leaf of `tls.cert_file`, byte for byte. A loopback address
//! is rarely a name in that certificate and its CA need not be in the
//! image's trust store, so neither name nor chain is what proves the
//! answer comes from this instance; the pinned leaf and the handshake
//! signature made with its key do. While a renewed certificate waits for
//! the next reload (`tls.reload_interval`), the pin misses and that one
//! probe fails; a container runtime's retries cover it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::Settings;

/// Well inside any container runtime's health-check timeout: an instance
/// that cannot answer `/readyz` in this time is not healthy.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Why the instance is not healthy; the message is the one line an
/// operator sees in `podman inspect` / `docker inspect`.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// The source carries no URL: the message names it once, first.
    #[error("{url} could not be asked")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: not ready")]
    NotReady {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot read the served certificate from {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
}

/// What to ask: the `/readyz` URL, and for https the certificate the
/// instance serves there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// `tls.cert_file`, when the URL is https.
    pub served_certificate: Option<PathBuf>,
}

/// The `/readyz` target of the instance `settings` configure.
pub fn target(settings: &Settings) -> Target {
    match (settings.ops_listen, settings.tls.files()) {
        (Some(ops), _) => Target {
            url: format!("http://{}/readyz", reachable(ops)),
            served_certificate: None,
        },
        (None, Some((cert, _))) => Target {
            url: format!("https://{}/readyz", reachable(settings.listen)),
            served_certificate: Some(cert.to_owned()),
        },
        (None, None) => Target {
            url: format!("http://{}/readyz", reachable(settings.listen)),
            served_certificate: None,
        },
    }
}

/// The address a local client reaches a listener bound to `addr` on.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// GETs the target's URL: Ok on 200, else why not.
///
/// # Errors
/// [`HealthcheckError`]: no answer within `timeout`, not 200, or (https)
/// the served certificate cannot be read or is not the one presented.
pub async fn probe(target: &Target, timeout: Duration) -> Result<(), HealthcheckError> {
    let url = target.url.as_str();
    let unreachable = |source: reqwest::Error| HealthcheckError::Unreachable {
        url: url.to_owned(),
        source: source.without_url(),
    };
    // No proxy: an HTTP_PROXY meant for the instance's outbound fetches
    // must not carry a loopback probe elsewhere.
    let mut builder = reqwest::Client::builder().no_proxy().timeout(timeout);
    if let Some(path) = &target.served_certificate {
        builder = builder.use_preconfigured_tls(pinned_tls(path)?);
    }
    let client = builder.build().map_err(unreachable)?;
    let status = client.get(url).send().await.map_err(unreachable)?.status();
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(HealthcheckError::NotReady {
            url: url.to_owned(),
            status,
        })
    }
}

/// A rustls client configuration that accepts exactly the leaf of the
/// chain in `path`.
fn pinned_tls(path: &Path) -> Result<rustls::ClientConfig, HealthcheckError> {
    let unreadable = |reason: String| HealthcheckError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let leaf = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(err.to_string()))?
        .next()
        .ok_or_else(|| unreadable("no PEM certificate in it".into()))?
        .map_err(|err| unreadable(err.to_string()))?;
    let provider = crate::tls::provider();
    let verifier = Arc::new(ServedLeaf {
        leaf,
        provider: Arc::clone(&provider),
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| unreadable(err.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Trusts one certificate: the leaf revokd is configured to serve. The
/// handshake signature is still checked, so only the holder of its key
/// passes.
#[derive(Debug)]
struct ServedLeaf {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ServedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_asked_on_loopback() {
        let cases = [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:8080", "[::1]:8080"),
            ("192.0.2.7:80", "192.0.2.7:80"),
            ("127.0.0.1:9", "127.0.0.1:9"),
        ];
        for (bound, asked) in cases {
            assert_eq!(reachable(bound.parse().unwrap()).to_string(), asked);
        }
    }

    #[test]
    fn the_operations_listener_is_asked_when_there_is_one() {
        use figment::providers::Format;
        let mut settings = figment::Figment::from(figment::providers::Toml::string(
            crate::config::DEFAULT_TOML,
        ))
        .merge(("listen", "0.0.0.0:8080"))
        .extract::<Settings>()
        .unwrap();
        assert_eq!(target(&settings).url, "http://127.0.0.1:8080/readyz");
        settings.tls.cert_file = Some("/run/cert.pem".into());
        settings.tls.key_file = Some("/run/key.pem".into());
        assert_eq!(
            target(&settings),
            Target {
                url: "https://127.0.0.1:8080/readyz".into(),
                served_certificate: Some("/run/cert.pem".into()),
            },
            "the TLS listener is asked over https, pinned to its certificate"
        );
        settings.ops_listen = Some("[::]:9090".parse().unwrap());
        assert_eq!(
            target(&settings),
            Target {
                url: "http://[::1]:9090/readyz".into(),
                served_certificate: None,
            },
            "ops_listen stays plain HTTP"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unhealthy() {
        // Bound and dropped: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/readyz");
        let target = Target {
            url: url.clone(),
            served_certificate: None,
        };
        let err = probe(&target, TIMEOUT).await.unwrap_err();
        assert!(matches!(err, HealthcheckError::Unreachable { .. }), "{err}");
        assert!(err.to_string().starts_with(&url), "{err}");
    }

    #[tokio::test]
    async fn a_listener_that_never_answers_is_unhealthy_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target {
            url: format!("http://{}/readyz", listener.local_addr().unwrap()),
            served_certificate: None,
        };
        let started = std::time::Instant::now();
        let err = probe(&target, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, HealthcheckError::Unreachable { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}

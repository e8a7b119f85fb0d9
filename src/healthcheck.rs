//! `revokd healthcheck`: asks the running instance's `/readyz`, for a
//! container `HEALTHCHECK` (the image has no shell, curl or wget to do it).
//!
//! It reads the same configuration as `serve`, so it asks the address the
//! instance listens on: the operations listener when `ops_listen` is set
//! (that is where `/readyz` moves), else `listen`. An unspecified address
//! (`0.0.0.0`, `[::]`) is asked on the loopback of the same family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

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
}

/// The `/readyz` URL of the instance `settings` configure.
pub fn readiness_url(settings: &Settings) -> String {
    let (addr, scheme) = match settings.ops_listen {
        Some(ops) => (ops, "http"),
        None => (settings.listen, api_scheme(settings)),
    };
    format!("{scheme}://{}/readyz", reachable(addr))
}

/// The scheme of the API listener: the one place to change when the
/// listener serves TLS.
fn api_scheme(_settings: &Settings) -> &'static str {
    "http"
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

/// GETs `url`: Ok on 200, else why not.
///
/// # Errors
/// [`HealthcheckError`]: no answer within `timeout`, or not 200.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), HealthcheckError> {
    let unreachable = |source: reqwest::Error| HealthcheckError::Unreachable {
        url: url.to_owned(),
        source: source.without_url(),
    };
    // No proxy: an HTTP_PROXY meant for the instance's outbound fetches
    // must not carry a loopback probe elsewhere.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(unreachable)?;
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
        assert_eq!(readiness_url(&settings), "http://127.0.0.1:8080/readyz");
        settings.ops_listen = Some("[::]:9090".parse().unwrap());
        assert_eq!(readiness_url(&settings), "http://[::1]:9090/readyz");
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
        let err = probe(&url, TIMEOUT).await.unwrap_err();
        assert!(matches!(err, HealthcheckError::Unreachable { .. }), "{err}");
        assert!(err.to_string().starts_with(&url), "{err}");
    }

    #[tokio::test]
    async fn a_listener_that_never_answers_is_unhealthy_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/readyz", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let err = probe(&url, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, HealthcheckError::Unreachable { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}

//! A connection of a snapshot's own, read as raw bytes (`resp.rs`) rather
//! than through the redis crate's [`redis::Value`]s, which cost an
//! allocation per field (see `resp.rs` for why).
//!
//! It goes where the pool's connections go ([`Connector::primary`]: the
//! URL's address, or the primary Sentinel names now), with the same TLS
//! (`rediss://`: `[redis.tls]`'s CA or the system's roots, the client
//! certificate if any, the host name verified) and the same login (`AUTH`
//! with the URL's user and password, `SELECT` of its database), speaking
//! RESP2. Every read waits at most `command_timeout`; opening it, at most
//! `connect_timeout`. It is dropped at the end of the snapshot.
//!
//! [`redis::Value`]: deadpool_redis::redis::Value

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use deadpool_redis::redis::{self, ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::RedisStore;
use super::resp::{self, RespError};
use crate::store::StoreError;

/// Bytes read per system call at most, and the buffer's least free room.
const READ_SIZE: usize = 256 << 10;

/// Why the snapshot's connection failed. Never shows the URL or a password.
#[derive(Debug, thiserror::Error)]
enum RawFault {
    #[error("cannot connect to Redis at {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Redis at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("Redis at {0} closed the connection")]
    Closed(String),
    #[error("reading from Redis at {address}")]
    Io {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Redis at {address} refused the login")]
    Login {
        address: String,
        #[source]
        source: RespError,
    },
    #[error("TLS to Redis at {0}: {1}")]
    Tls(String, String),
    #[error("finding the Redis primary")]
    Primary(#[source] redis::RedisError),
}

/// Either kind of stream.
enum Stream {
    Tcp(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    Unix(tokio::net::UnixStream),
}

macro_rules! delegate {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).$method($($arg),*),
            Stream::Tls(s) => Pin::new(&mut **s).$method($($arg),*),
            Stream::Unix(s) => Pin::new(s).$method($($arg),*),
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        delegate!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, poll_shutdown(cx))
    }
}

/// See the module documentation.
pub(super) struct RawConnection {
    stream: Stream,
    buf: BytesMut,
    address: String,
    timeout: Duration,
    items: Vec<Range<usize>>,
}

impl RedisStore {
    /// A new [`RawConnection`] to the primary.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: the primary cannot be found, reached or
    /// logged in to in time.
    pub(super) async fn raw_connection(&self) -> Result<RawConnection, StoreError> {
        let (info, certificates) = self
            .pool
            .manager()
            .primary()
            .await
            .map_err(|err| StoreError::unavailable(RawFault::Primary(err)))?;
        let address = info.addr().to_string();
        let open = RawConnection::open(
            &info,
            certificates.as_ref(),
            address.clone(),
            self.command_timeout,
        );
        tokio::time::timeout(self.connect_timeout, open)
            .await
            .map_err(|_| {
                StoreError::unavailable(RawFault::Timeout(address, self.connect_timeout))
            })?
    }
}

impl RawConnection {
    async fn open(
        info: &ConnectionInfo,
        certificates: Option<&TlsCertificates>,
        address: String,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let connect = |source| {
            StoreError::unavailable(RawFault::Connect {
                address: address.clone(),
                source,
            })
        };
        let stream = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect)?;
                tcp.set_nodelay(true).map_err(connect)?;
                Stream::Tcp(tcp)
            }
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => {
                if *insecure {
                    return Err(StoreError::unavailable(RawFault::Tls(
                        address,
                        "`#insecure` is not supported: the server's certificate is always verified"
                            .into(),
                    )));
                }
                let config = tls_config(certificates)
                    .map_err(|why| StoreError::unavailable(RawFault::Tls(address.clone(), why)))?;
                let name = ServerName::try_from(host.clone()).map_err(|err| {
                    StoreError::unavailable(RawFault::Tls(address.clone(), err.to_string()))
                })?;
                let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect)?;
                tcp.set_nodelay(true).map_err(connect)?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(connect)?;
                Stream::Tls(Box::new(tls))
            }
            ConnectionAddr::Unix(path) => Stream::Unix(
                tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect)?,
            ),
            _ => {
                return Err(connect(std::io::Error::other(
                    "an address kind this version cannot open",
                )));
            }
        };
        let mut conn = Self {
            stream,
            buf: BytesMut::with_capacity(READ_SIZE),
            address,
            timeout,
            items: Vec::new(),
        };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            auth.arg(password);
            conn.login(&auth.get_packed_command()).await?;
        }
        if settings.db() != 0 {
            conn.login(&redis::cmd("SELECT").arg(settings.db()).get_packed_command())
                .await?;
        }
        Ok(conn)
    }

    fn unavailable(&self, fault: impl FnOnce(String) -> RawFault) -> StoreError {
        StoreError::unavailable(fault(self.address.clone()))
    }

    /// Sends `command` and reads its status reply.
    async fn login(&mut self, command: &[u8]) -> Result<(), StoreError> {
        self.send(command).await?;
        loop {
            match resp::status(&self.buf) {
                Ok(Some(n)) => {
                    self.buf.advance(n);
                    return Ok(());
                }
                Ok(None) => self.fill().await?,
                Err(source) => {
                    return Err(self.unavailable(|address| RawFault::Login { address, source }));
                }
            }
        }
    }

    /// Writes `bytes` (one or more packed commands).
    pub(super) async fn send(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(self.unavailable(|address| RawFault::Io { address, source })),
            Err(_) => Err(self.unavailable(|address| RawFault::Timeout(address, self.timeout))),
        }
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self) -> Result<(), StoreError> {
        self.buf.reserve(READ_SIZE);
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Ok(Ok(0)) => Err(self.unavailable(RawFault::Closed)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(self.unavailable(|address| RawFault::Io { address, source })),
            Err(_) => Err(self.unavailable(|address| RawFault::Timeout(address, self.timeout))),
        }
    }

    /// Reads the next reply, an array of field-value pairs (`HGETALL`),
    /// and calls `entry` with each pair, in place in the buffer.
    ///
    /// # Errors
    /// The connection fails ([`StoreError::Unavailable`]); the reply is an
    /// error or not a hash ([`StoreError::Corrupt`] for `WRONGTYPE` and
    /// malformed replies, else unavailable); `entry` fails.
    pub(super) async fn read_hash(
        &mut self,
        mut entry: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let len = loop {
            match resp::bulk_array(&self.buf, &mut self.items) {
                Ok(Some(n)) => break n,
                Ok(None) => self.fill().await?,
                Err(err) => return Err(resp_error(err)),
            }
        };
        for pair in self.items.chunks_exact(2) {
            let (field, value) = (&self.buf[pair[0].clone()], &self.buf[pair[1].clone()]);
            entry(field, value)?;
        }
        self.buf.advance(len);
        Ok(())
    }
}

/// As `connect.rs`'s `store_error` sorts the redis crate's errors: a key
/// of the wrong type or a reply not in the expected shape is data revokd
/// cannot read; any other error reply (`NOPERM`, `LOADING`) is the store
/// being unavailable.
fn resp_error(err: RespError) -> StoreError {
    match &err {
        RespError::Malformed(_) => StoreError::Corrupt(err.to_string()),
        RespError::Server(_) if err.code() == Some("WRONGTYPE") => {
            StoreError::Corrupt(err.to_string())
        }
        RespError::Server(_) => StoreError::unavailable(err),
    }
}

/// What the redis crate's rustls set-up trusts and shows: `[redis.tls]`'s
/// CA (else the system's roots) and client certificate.
fn tls_config(certificates: Option<&TlsCertificates>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match certificates.and_then(|c| c.root_cert.as_ref()) {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|err| format!("the CA file: {err}"))?;
                roots
                    .add(cert)
                    .map_err(|err| format!("the CA file: {err}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // As the redis crate does: a root that does not parse is
                // skipped, not fatal.
                let _ = roots.add(cert);
            }
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match certificates.and_then(|c| c.client_tls.as_ref()) {
        Some(client) => {
            let chain = CertificateDer::pem_slice_iter(&client.client_cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| format!("the client certificate: {err}"))?;
            let key = PrivateKeyDer::from_pem_slice(&client.client_key)
                .map_err(|err| format!("the client key: {err}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| format!("the client certificate: {err}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

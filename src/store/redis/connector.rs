//! Connections to the Redis primary: straight to `redis.url`, or to the
//! primary that Redis Sentinel names, followed across failovers; pooled.
//!
//! # Why not deadpool-redis's managers
//!
//! deadpool-redis's Sentinel manager checks a connection with `PING`, which
//! a demoted primary passes, so writes would fail with `READONLY` until the
//! process restarts. Here:
//!
//! - every connection is checked before it is handed out: `PING`, or with
//!   Sentinel `ROLE`, which must say `master` (one round trip, as
//!   deadpool-redis's `UNWATCH` + `PING`; revokd never `WATCH`es). That is
//!   what makes a Redis restart or failover transparent to the next call.
//!   The check path does not pay it: it reads the in-memory mirror;
//! - a connection that failed in a way that leaves it unusable (dropped,
//!   I/O error, timeout, `READONLY`, `LOADING`) is never handed out again
//!   ([`Pooled`] takes it out of the pool when dropped), so the next call
//!   opens a new one, asking Sentinel again.
//!
//! (Skipping the check for recently used connections would save that round
//! trip, but redis-rs reports a closed connection only to RESP3 clients, so
//! a restart would then fail one call per pooled connection.)

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::sentinel::{
    SentinelClient, SentinelClientBuilder, SentinelNodeConnectionInfo, SentinelServerType,
};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    RedisError, RedisFuture, RedisResult, TlsCertificates, TlsMode, Value,
};

/// Where the primary is.
enum Target {
    Direct(Client),
    /// Sentinel's client caches nothing about the primary: each connection
    /// it opens asks a Sentinel, and checks that the node it names says it
    /// is the primary.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// Opens connections to the primary.
pub struct Connector {
    target: Target,
    /// For pooled connections: the command timeout.
    config: AsyncConnectionConfig,
    /// Where connections go, for error messages: `host:port` (or a socket
    /// path), never the URL, which may hold a password.
    address: String,
    /// `[redis.tls]`'s files, for the snapshot's own connections
    /// (`raw.rs`), which the redis crate does not open.
    certificates: Option<TlsCertificates>,
}

impl Connector {
    /// Straight to `url`. A `rediss://` URL speaks TLS, trusting
    /// `certificates`' CA (else the system's roots) and showing its client
    /// certificate if any.
    pub fn direct(
        url: &str,
        config: AsyncConnectionConfig,
        certificates: Option<TlsCertificates>,
    ) -> RedisResult<Self> {
        let client = match certificates.clone() {
            Some(certificates) if is_tls(url)? => Client::build_with_tls(url, certificates)?,
            _ => Client::open(url)?,
        };
        Ok(Self {
            address: client.get_connection_info().addr().to_string(),
            target: Target::Direct(client),
            config,
            certificates,
        })
    }

    /// To the primary of `service` as `sentinels` name it, with the
    /// credentials and database of `url` (whose host is not used).
    ///
    /// TLS: `rediss://` Sentinel URLs reach the Sentinels over TLS; a
    /// `rediss://` `url` reaches the primary Sentinel names over TLS.
    /// `certificates` (CA, client certificate) apply to both.
    pub fn sentinel(
        sentinels: &[String],
        service: &str,
        url: &str,
        config: AsyncConnectionConfig,
        certificates: Option<TlsCertificates>,
    ) -> RedisResult<Self> {
        let primary = url.into_connection_info()?;
        let primary_tls = matches!(primary.addr(), ConnectionAddr::TcpTls { .. });
        let infos = sentinels
            .iter()
            .map(|s| s.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        let addresses: Vec<String> = infos.iter().map(|info| info.addr().to_string()).collect();
        let client = match certificates.clone() {
            None => {
                let mut node = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(primary.redis_settings().clone());
                if primary_tls {
                    node = node.set_tls_mode(TlsMode::Secure);
                }
                SentinelClient::build(
                    sentinels.to_vec(),
                    service,
                    Some(node),
                    SentinelServerType::Master,
                )?
            }
            Some(certificates) => {
                sentinel_with_certificates(&infos, service, &primary, certificates)?
            }
        };
        Ok(Self {
            target: Target::Sentinel(tokio::sync::Mutex::new(client)),
            config,
            address: format!(
                "the primary of `{service}` (Sentinels {})",
                addresses.join(", ")
            ),
            certificates,
        })
    }

    /// Where the primary is now and how to log in to it (asking Sentinel,
    /// when there are Sentinels), with `[redis.tls]`'s files: what a
    /// connection the redis crate does not open needs (`raw.rs`).
    ///
    /// # Errors
    /// No Sentinel names a primary.
    pub async fn primary(&self) -> RedisResult<(ConnectionInfo, Option<TlsCertificates>)> {
        let info = match &self.target {
            Target::Direct(client) => client.get_connection_info().clone(),
            Target::Sentinel(client) => client
                .lock()
                .await
                .async_get_client()
                .await
                .map_err(|err| name_address(&self.address, err))?
                .get_connection_info()
                .clone(),
        };
        Ok((info, self.certificates.clone()))
    }

    /// A new connection to the primary with `config`'s timeouts.
    ///
    /// # Errors
    /// The connection cannot be opened; the error names where it was
    /// going ([`Connector::address`]), so that an operator reading
    /// "Connection refused" knows which address refused.
    pub async fn open(&self, config: &AsyncConnectionConfig) -> RedisResult<MultiplexedConnection> {
        self.open_unnamed(config)
            .await
            .map_err(|err| name_address(&self.address, err))
    }

    async fn open_unnamed(
        &self,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection> {
        match &self.target {
            Target::Direct(client) => {
                client
                    .get_multiplexed_async_connection_with_config(config)
                    .await
            }
            Target::Sentinel(client) => {
                client
                    .lock()
                    .await
                    .get_async_connection_with_config(config)
                    .await
            }
        }
    }
}

impl managed::Manager for Connector {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> RedisResult<MultiplexedConnection> {
        self.open(&self.config).await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        match self.target {
            Target::Direct(_) => {
                let pong: String = redis::cmd("PING").query_async(conn).await?;
                if pong == "PONG" {
                    Ok(())
                } else {
                    Err(RecycleError::message("PING was not answered with PONG"))
                }
            }
            Target::Sentinel(_) => {
                let role: Value = redis::cmd("ROLE").query_async(conn).await?;
                if is_primary(&role) {
                    Ok(())
                } else {
                    Err(RecycleError::message("no longer the primary"))
                }
            }
        }
    }
}

/// A Sentinel client whose TLS connections trust `certificates`' CA and
/// show its client certificate. Only the redis crate's builder takes
/// certificates, and it takes one set of Sentinel credentials: every
/// Sentinel URL must carry the same user and password.
fn sentinel_with_certificates(
    sentinels: &[redis::ConnectionInfo],
    service: &str,
    primary: &redis::ConnectionInfo,
    certificates: TlsCertificates,
) -> RedisResult<SentinelClient> {
    let Some(first) = sentinels.first() else {
        return Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "no Sentinel address",
        )));
    };
    let credentials = |info: &redis::ConnectionInfo| {
        let settings = info.redis_settings();
        (
            settings.username().map(str::to_owned),
            settings.password().map(str::to_owned),
        )
    };
    let (username, password) = credentials(first);
    if sentinels
        .iter()
        .any(|info| credentials(info) != (username.clone(), password.clone()))
    {
        return Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "with redis.tls, every Sentinel URL must carry the same user and password",
        )));
    }
    let sentinels_tls = sentinels
        .iter()
        .any(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }));
    let mut builder = SentinelClientBuilder::new(
        sentinels.iter().map(|info| info.addr().clone()),
        service,
        SentinelServerType::Master,
    )?;
    if let Some(username) = username {
        builder = builder.set_client_to_sentinel_username(username);
    }
    if let Some(password) = password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if sentinels_tls {
        builder = builder
            .set_client_to_sentinel_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_certificates(certificates.clone());
    }
    let redis = primary.redis_settings();
    if let Some(username) = redis.username() {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = redis.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    builder = builder
        .set_client_to_redis_db(redis.db())
        .set_client_to_redis_protocol(redis.protocol());
    if matches!(primary.addr(), ConnectionAddr::TcpTls { .. }) {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_redis_certificates(certificates);
    }
    builder.build()
}

/// Whether `url` is a TLS (`rediss://`) URL.
fn is_tls(url: &str) -> RedisResult<bool> {
    Ok(matches!(
        url.into_connection_info()?.addr(),
        ConnectionAddr::TcpTls { .. }
    ))
}

/// `err` with `address` in front of its text. The kind is kept, so the
/// error is classified as before (a refused connection stays I/O: the
/// store is unavailable).
fn name_address(address: &str, err: RedisError) -> RedisError {
    RedisError::from((
        err.kind(),
        "cannot connect to Redis",
        format!("at {address}: {err}"),
    ))
}

/// Whether a `ROLE` reply is a primary's.
fn is_primary(role: &Value) -> bool {
    let Value::Array(parts) = role else {
        return false;
    };
    matches!(parts.first(), Some(Value::BulkString(b)) if b == b"master")
        || matches!(parts.first(), Some(Value::SimpleString(s)) if s == "master")
}

/// Whether a connection that returned `err` must not be used again.
fn leaves_connection_unusable(err: &RedisError) -> bool {
    err.is_unrecoverable_error()
        || err.is_connection_dropped()
        || err.is_io_error()
        || err.is_timeout()
        || matches!(err.code(), Some("READONLY" | "LOADING"))
}

/// A connection checked out of the pool. Back into the pool when dropped,
/// unless a command failed in a way that leaves it unusable.
pub struct Pooled {
    conn: Option<Object<Connector>>,
    broken: bool,
}

impl From<Object<Connector>> for Pooled {
    fn from(conn: Object<Connector>) -> Self {
        Self {
            conn: Some(conn),
            broken: false,
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.broken
            && let Some(conn) = self.conn.take()
        {
            drop(Object::take(conn));
        }
    }
}

impl Pooled {
    fn inner(&mut self) -> &mut MultiplexedConnection {
        self.conn.as_mut().expect("present until dropped")
    }

    fn note<T>(&mut self, result: &RedisResult<T>) {
        if let Err(err) = result
            && leaves_connection_unusable(err)
        {
            self.broken = true;
        }
    }
}

impl ConnectionLike for Pooled {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner().req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.inner().req_packed_commands(cmd, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.as_ref().map_or(0, |conn| conn.get_db())
    }
}

/// The pool of [`Pooled`] connections.
pub type Pool = managed::Pool<Connector, Pooled>;

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_redis::redis::ErrorKind;

    #[test]
    fn only_a_primary_role_passes() {
        let role = |name: &str| Value::Array(vec![Value::BulkString(name.as_bytes().to_vec())]);
        assert!(is_primary(&role("master")));
        assert!(!is_primary(&role("slave")));
        assert!(!is_primary(&role("sentinel")));
        assert!(!is_primary(&Value::Nil));
    }

    #[tokio::test]
    async fn a_failed_connection_names_host_and_port_but_never_the_password() {
        // Port 1 on loopback: nothing listens.
        let connector = Connector::direct(
            "redis://revokd:hunter2@127.0.0.1:1/0",
            AsyncConnectionConfig::new(),
            None,
        )
        .unwrap();
        let err = connector
            .open(&AsyncConnectionConfig::new())
            .await
            .expect_err("nothing listens on port 1");
        let text = err.to_string();
        assert!(text.contains("127.0.0.1:1"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.kind(), ErrorKind::Io, "still an I/O failure: {text}");
    }

    #[test]
    fn a_sentinel_connector_names_the_sentinels_without_credentials() {
        let connector = Connector::sentinel(
            &["redis://:hunter2@10.0.0.1:26379".to_owned()],
            "mymaster",
            "redis://:hunter2@ignored:6379",
            AsyncConnectionConfig::new(),
            None,
        )
        .unwrap();
        assert_eq!(
            connector.address,
            "the primary of `mymaster` (Sentinels 10.0.0.1:26379)"
        );
    }

    #[test]
    fn a_demoted_primary_or_a_dead_socket_retires_the_connection() {
        let readonly = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(leaves_connection_unusable(&readonly));
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(leaves_connection_unusable(&io));
        // A script's own error says nothing about the connection.
        let script = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "CORRUPT unreadable value",
        ));
        assert!(!leaves_connection_unusable(&script));
    }
}

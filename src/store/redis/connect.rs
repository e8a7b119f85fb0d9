//! Connecting to Redis: `[redis]` settings, the pool (through
//! `connector.rs`, which follows Sentinel and replaces broken
//! connections), the dedicated connections of blocking reads, and the
//! bound on every call.

use std::future::Future;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{PoolConfig, QueueMode, Timeouts};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ErrorKind, IntoConnectionInfo, RedisError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::connector::{Connector, Pool, Pooled};
use super::tls::{BadTlsSetting, RedisTlsSettings};
use super::{CORRUPT_CODE, RedisStore};
use crate::store::StoreError;

/// `[redis]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// A secret: it may hold a password.
    pub url: SecretString,
    /// Prefix of every key.
    pub key_prefix: String,
    pub pool_size: usize,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Approximate length of the audit stream (`XADD ... MAXLEN ~`).
    pub max_events: u64,
    /// Approximate length of the stream of events not caused by a client
    /// key (`{prefix}admin-events`), kept on top of those.
    pub max_admin_events: u64,
    /// Redis Sentinel addresses; when any, the primary is the one they name
    /// for `sentinel_service`, and `url` only gives its credentials and
    /// database.
    #[serde(default)]
    pub sentinels: Vec<String>,
    pub sentinel_service: String,
    /// `[redis.tls]`: CA and client certificate of `rediss://` connections.
    #[serde(default)]
    pub tls: RedisTlsSettings,
}

/// Failures of the Redis store that are not a [`RedisError`].
#[derive(Debug, thiserror::Error)]
pub(super) enum Fault {
    /// Carries the parser's reason, never the URL: it may hold a password.
    #[error("`redis.url` is not a usable Redis URL")]
    BadUrl(#[source] RedisError),
    #[error("`redis.sentinels` holds an address that is not a Redis URL")]
    BadSentinel(#[source] RedisError),
    #[error("invalid configuration key `{}`: {}", .0.key, .0.message)]
    BadTls(BadTlsSetting),
    #[error("cannot build the Redis connection pool")]
    Pool(#[source] deadpool::managed::BuildError),
    #[error("Redis did not answer within {0:?}")]
    Deadline(Duration),
    #[error("Redis answered PING with something other than PONG")]
    NotPong,
}

impl RedisStore {
    /// Builds the connection pool. Does not connect: a Redis that is down at
    /// start-up makes `/readyz` fail, not revokd exit.
    ///
    /// Connections are opened lazily (to `redis.url`, or to the primary
    /// Sentinel names), bounded by `connect_timeout`; each command waits at
    /// most `command_timeout` for its answer. See `connector.rs` for how
    /// broken connections and failovers are handled.
    ///
    /// # Errors
    /// The URL cannot be parsed ([`StoreError::Unavailable`], the only
    /// variant that fits; the message names the key, never the URL).
    pub fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout));
        let url = settings.url.expose_secret();
        crate::tls::install_default_provider();
        let certificates = settings
            .tls
            .certificates()
            .map_err(|bad| StoreError::unavailable(Fault::BadTls(bad)))?;
        let connector = if settings.sentinels.is_empty() {
            Connector::direct(url, connection, certificates)
                .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?
        } else {
            // The URL parse first, so that its error names the right key.
            url.into_connection_info()
                .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?;
            Connector::sentinel(
                &settings.sentinels,
                &settings.sentinel_service,
                url,
                connection,
                certificates,
            )
            .map_err(|err| StoreError::unavailable(Fault::BadSentinel(err)))?
        };
        let config = PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(settings.command_timeout),
                create: Some(settings.connect_timeout),
                recycle: Some(settings.command_timeout),
            },
            queue_mode: QueueMode::Fifo,
        };
        let pool = Pool::builder(connector)
            .config(config)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::unavailable(Fault::Pool(err)))?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.as_str().into(),
            stream: format!("{}events", settings.key_prefix).into(),
            max_events: settings.max_events,
            max_admin_events: settings.max_admin_events,
            deadline: settings
                .connect_timeout
                .saturating_add(settings.command_timeout),
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
        })
    }

    /// A connection of its own to the current primary, outside the pool,
    /// for a blocking read (`XREAD BLOCK`) that waits up to `block`: its
    /// response timeout allows for that wait.
    ///
    /// # Errors
    /// Redis cannot be reached within `connect_timeout + command_timeout`.
    pub(super) async fn blocking_connection(
        &self,
        block: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(block.saturating_add(self.command_timeout)));
        tokio::time::timeout(self.deadline, self.pool.manager().open(&config))
            .await
            .map_err(|_| StoreError::unavailable(Fault::Deadline(self.deadline)))?
            .map_err(store_error)
    }

    /// Runs `op` on a pooled connection within [`RedisStore::deadline`].
    pub(super) async fn run<T, F>(&self, op: impl FnOnce(Pooled) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let call = async {
            let conn = self.pool.get().await.map_err(StoreError::unavailable)?;
            op(conn).await
        };
        tokio::time::timeout(self.deadline, call)
            .await
            .map_err(|_| StoreError::unavailable(Fault::Deadline(self.deadline)))?
    }
}

/// Sorts a Redis failure into the store's error kinds: our own `CORRUPT`
/// reply, a key of the wrong type and an unexpected reply shape mean the data
/// is not ours to read; everything else (I/O, timeouts, `LOADING`,
/// `READONLY` after a failover, authentication) is the store being
/// unavailable.
pub(super) fn store_error(err: RedisError) -> StoreError {
    let corrupt = matches!(err.code(), Some(CORRUPT_CODE | "WRONGTYPE"))
        || err.kind() == ErrorKind::UnexpectedReturnType;
    if corrupt {
        StoreError::Corrupt(err.to_string())
    } else {
        StoreError::unavailable(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: SecretString::from(url),
            key_prefix: "revokd:".into(),
            pool_size: 2,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            max_events: 100,
            max_admin_events: 100,
            sentinels: Vec::new(),
            sentinel_service: "mymaster".into(),
            tls: Default::default(),
        }
    }

    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn connect_does_not_touch_the_network() {
        // Port 1 on loopback: nothing listens, and nothing may try yet.
        assert!(RedisStore::connect(&settings("redis://127.0.0.1:1")).is_ok());
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        for url in [
            "redis://user:hunter2@host:notaport",
            "http://user:hunter2@host",
            "hunter2",
        ] {
            let Err(err) = RedisStore::connect(&settings(url)) else {
                panic!("{url:?} was accepted");
            };
            let text = chain(&err);
            assert!(text.contains("redis.url"), "{text}");
            assert!(
                !text.contains("hunter2"),
                "the error repeats the URL: {text}"
            );
        }
    }
}

//! One connection to the primary, the way the store reaches it (direct or
//! through Sentinel, TLS with the configured certificates), for
//! `revokd doctor` to ask Redis about itself.

use deadpool_redis::redis::AsyncConnectionConfig;
use deadpool_redis::redis::aio::MultiplexedConnection;
use secrecy::ExposeSecret;

use super::connector::Connector;
use super::{Fault, RedisSettings};
use crate::store::StoreError;

/// Opens one connection to the primary `settings` name.
///
/// # Errors
/// The settings are unusable, or the primary cannot be reached; the
/// message names the address, never the URL (it may hold a password).
pub async fn open_primary(settings: &RedisSettings) -> Result<MultiplexedConnection, StoreError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.command_timeout));
    let url = settings.url.expose_secret();
    crate::tls::install_default_provider();
    let certificates = settings
        .tls
        .certificates()
        .map_err(|bad| StoreError::unavailable(Fault::BadTls(bad)))?;
    let connector = if settings.sentinels.is_empty() {
        Connector::direct(url, config.clone(), certificates)
            .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?
    } else {
        Connector::sentinel(
            &settings.sentinels,
            &settings.sentinel_service,
            url,
            config.clone(),
            certificates,
        )
        .map_err(|err| StoreError::unavailable(Fault::BadSentinel(err)))?
    };
    connector
        .open(&config)
        .await
        .map_err(StoreError::unavailable)
}

/// How often a running instance reads `maxmemory-policy` again: a `CONFIG
/// SET` on a live Redis changes it without a restart.
const EVICTION_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl super::RedisStore {
    /// Redis's `maxmemory_policy` (from `INFO memory`).
    ///
    /// # Errors
    /// Redis is unavailable, or revokd's user may not run `INFO`.
    pub async fn maxmemory_policy(&self) -> Result<Option<String>, StoreError> {
        let text: String = self
            .run(|mut conn| async move {
                deadpool_redis::redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut conn)
                    .await
                    .map_err(StoreError::unavailable)
            })
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("maxmemory_policy:"))
            .map(str::to_owned))
    }
}

/// Keeps `gauge` at 1 while Redis cannot evict revocations
/// (`maxmemory-policy noeviction`), 0 while it can (every revokd key has a
/// TTL, so any other policy may drop revocations under memory pressure),
/// -1 while unknown; warns in the log whenever it finds an evicting policy.
pub async fn watch_eviction(
    store: super::RedisStore,
    gauge: prometheus::IntGauge,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(EVICTION_CHECK_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        match store.maxmemory_policy().await {
            Ok(Some(policy)) if policy == "noeviction" => gauge.set(1),
            Ok(Some(policy)) => {
                if gauge.get() != 0 {
                    tracing::warn!(
                        maxmemory_policy = %policy,
                        "Redis may evict revocations under memory pressure (every revokd key has a TTL): set maxmemory-policy noeviction"
                    );
                }
                gauge.set(0);
            }
            Ok(None) => gauge.set(-1),
            Err(err) => {
                tracing::debug!(error.cause_chain = ?err, "cannot read Redis's maxmemory-policy");
                gauge.set(-1);
            }
        }
    }
}

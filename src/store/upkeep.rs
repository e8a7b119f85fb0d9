//! The store's own housekeeping, on schedule ([`Store::spawn_upkeep`]):
//! removing what expired. Reads never return an expired fact whatever
//! this does; it only keeps the file (embedded) or the snapshot index
//! (Redis) from growing.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Backend, Store, StoreError};
use crate::domain::UnixTime;

/// `HSCAN` steps per sweep of the Redis snapshot index: a bounded share of
/// Redis's time per interval, resumed at the next one (by any instance).
const INDEX_SWEEP_STEPS: usize = 10;

impl Store {
    /// Starts the store's upkeep tasks; they end when `cancel` is
    /// cancelled. The embedded store sweeps its file every
    /// `embedded.sweep_interval` (a setting of its own); Redis sweeps the
    /// snapshot index, which exists for the mirror, every `mirror_sweep`
    /// (`mirror.sweep_interval`), and watches Redis's `maxmemory-policy`
    /// (`revokd_store_eviction_safe`).
    pub fn spawn_upkeep(
        &self,
        mirror_sweep: Duration,
        cancel: CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        match &self.backend {
            Backend::Embedded(embedded) => {
                // A file evicts nothing.
                self.metrics.eviction_safe.set(1);
                let embedded = embedded.clone();
                vec![tokio::spawn(every(
                    embedded.sweep_interval(),
                    cancel,
                    move || {
                        let embedded = embedded.clone();
                        async move { embedded.sweep(UnixTime::now()).await }
                    },
                    |removed| tracing::debug!(removed, "swept expired revocations"),
                    "sweeping the embedded store failed",
                ))]
            }
            Backend::Redis(redis) => {
                // Issue 16: whether Redis may evict revocations, read every
                // minute into `revokd_store_eviction_safe` (and warned of).
                let eviction = tokio::spawn(super::redis::watch_eviction(
                    redis.clone(),
                    self.metrics.eviction_safe.clone(),
                    cancel.clone(),
                ));
                let redis = redis.clone();
                let sweep = tokio::spawn(every(
                    mirror_sweep,
                    cancel,
                    move || {
                        let redis = redis.clone();
                        async move { redis.sweep_index(UnixTime::now(), INDEX_SWEEP_STEPS).await }
                    },
                    |dropped| {
                        tracing::debug!(dropped, "swept expired entries of the snapshot index")
                    },
                    "sweeping the snapshot index failed",
                ));
                vec![eviction, sweep]
            }
        }
    }
}

/// Runs `sweep` every `period` until `cancel`, logging what it removed
/// (`done`, when anything) or why it failed (the next run tries again).
async fn every<F, Fut, N>(
    period: Duration,
    cancel: CancellationToken,
    sweep: F,
    done: impl Fn(N),
    failed: &'static str,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<N, StoreError>>,
    N: PartialEq + Default,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        match sweep().await {
            Ok(removed) if removed == N::default() => {}
            Ok(removed) => done(removed),
            Err(err) => tracing::warn!(error.cause_chain = ?err, "{failed}"),
        }
    }
}

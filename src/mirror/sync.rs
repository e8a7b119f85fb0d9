//! Keeping this instance's [`Mirror`] current from the store:
//! [`MirrorSync`] wraps the mirror that checks read, and [`follow`] and
//! [`maintain`] are its background loops (decision 2 of DESIGN.md: the
//! check path never waits on the network).
//!
//! - **Local writes** reach the mirror before the write is acknowledged:
//!   after the store accepted it, [`MirrorSync::learn`] reads the current state
//!   of the keys it touched and applies it. The write is in the store before
//!   it is in any mirror.
//! - **Other instances' writes** (Redis) arrive through the store's change
//!   feed ([`Store::feed`]): [`follow`] reads it from its last position and
//!   learns the keys each entry names. A reconnect resumes from that
//!   position; a feed trimmed past it, or reset, forces a full resync. The
//!   same loop follows the embedded store, whose feed is always empty.
//! - **Start-up and resync** load a snapshot into a fresh mirror and swap it
//!   in whole, so checks keep answering from the old one meanwhile.
//! - **Staleness**: when the feed has not answered for longer than
//!   `mirror.max_staleness`, [`MirrorSync::lookup`] reports the mirror as
//!   behind: a revocation it holds is still enforced, anything else follows
//!   the fail mode (closed by default), and `/readyz` fails, until the feed
//!   answers again. Until the first load completes the instance is not
//!   ready either. Either way the check path reports a [`MirrorError`],
//!   never a store error: the store may well be up.
//! - **Upkeep**: [`maintain`] sweeps expired entries on schedule; [`follow`]
//!   reloads a mirror that missed a change ([`MirrorSync::invalidate`]).
//!
//! Every read of the store followed by an apply happens under one async
//! lock, so a state read later is never overwritten by one read earlier.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use super::Mirror;
use crate::domain::{FactUpdate, Facts, Lookup, TokenBatch, UnixTime};
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::store::{FeedPosition, MirroredKey, RevocationStore, SnapshotSink, Store, StoreError};

/// How long one read of the change feed waits for an entry; also how often
/// an idle feed proves it is alive.
pub const FEED_BLOCK: Duration = Duration::from_millis(500);
/// The first wait before reconnecting the feed, doubled up to
/// `mirror.reconnect_delay_max` while the store stays away.
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(100);
/// Feed entries read per round trip.
const FEED_BATCH: usize = 1000;

/// Why the mirror cannot answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MirrorError {
    #[error("the revocation mirror has not finished loading")]
    Loading,
    #[error("the revocation mirror is stale: the change feed has not answered for {0:?}")]
    Stale(Duration),
}

#[derive(Debug)]
struct FeedState {
    loaded: bool,
    /// The last time the feed answered; `None` for a store without a feed
    /// (embedded), whose mirror cannot fall behind.
    contact: Option<Instant>,
    last_error: Option<String>,
    /// Keys learned while a resync was loading, to learn again once the
    /// new mirror is in place.
    pending: Option<Vec<MirroredKey>>,
    /// The snapshot being loaded, for `/readyz` while not ready.
    loading: Option<Arc<Progress>>,
}

/// What the mirror holds about one lookup.
#[derive(Debug, Clone)]
pub struct MirrorFacts {
    pub facts: Facts,
    /// Why the mirror may be missing changes (still loading, or stale);
    /// `None` when it is current.
    pub behind: Option<MirrorError>,
}

/// What `/readyz` shows of the mirror.
#[derive(Debug, Clone)]
pub struct MirrorStatus {
    pub ready: bool,
    pub detail: Option<String>,
}

pub struct MirrorSync {
    mirror: ArcSwap<Mirror>,
    learning: tokio::sync::Mutex<()>,
    state: Mutex<FeedState>,
    max_staleness: Duration,
    metrics: Metrics,
    resync_wanted: std::sync::atomic::AtomicBool,
}

impl MirrorSync {
    /// `shared`: whether writes of other instances arrive through the
    /// store's feed ([`Store::is_shared`]), which can go stale.
    pub fn new(shared: bool, max_staleness: Duration, metrics: Metrics) -> Self {
        Self {
            mirror: ArcSwap::from_pointee(Mirror::new()),
            learning: tokio::sync::Mutex::new(()),
            state: Mutex::new(FeedState {
                loaded: false,
                contact: shared.then(Instant::now),
                last_error: None,
                pending: None,
                loading: None,
            }),
            max_staleness,
            metrics,
            resync_wanted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn usable(&self) -> Result<(), MirrorError> {
        let state = self.state();
        if !state.loaded {
            return Err(MirrorError::Loading);
        }
        match state.contact {
            Some(at) if at.elapsed() > self.max_staleness => Err(MirrorError::Stale(at.elapsed())),
            _ => Ok(()),
        }
    }

    /// The facts of `lookup`, from memory, whether or not the mirror is
    /// current: a revocation it holds stays true while the feed is down
    /// (decision 9 of DESIGN.md: every revocation the mirror holds is always
    /// enforced). [`MirrorFacts::behind`] says whether changes may be
    /// missing, for the caller's fail mode to judge what the facts do not
    /// cover.
    pub fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> MirrorFacts {
        MirrorFacts {
            facts: self.mirror.load().lookup(lookup, now),
            behind: self.usable().err(),
        }
    }

    /// For `/readyz`.
    pub fn status(&self) -> MirrorStatus {
        let usable = self.usable();
        let state = self.state();
        MirrorStatus {
            ready: usable.is_ok(),
            detail: usable.err().map(|e| {
                let mut detail = match &state.last_error {
                    Some(cause) => format!("{e} ({cause})"),
                    None => e.to_string(),
                };
                if let Some(progress) = &state.loading {
                    detail.push_str(&format!("; {}", progress.describe()));
                }
                detail
            }),
        }
    }

    /// Learns the current state of `keys` from `store` (after a local write,
    /// or a feed entry).
    ///
    /// # Errors
    /// The store cannot be read; the mirror keeps what it had.
    pub async fn learn(&self, store: &Store, keys: &[MirroredKey]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _order = self.learning.lock().await;
        let updates = store.read_states(keys).await?;
        let mirror = self.mirror.load();
        for update in &updates {
            mirror.apply(update);
        }
        if let Some(pending) = self.state().pending.as_mut() {
            pending.extend_from_slice(keys);
        }
        Ok(())
    }

    /// Loads a snapshot into a fresh mirror and swaps it in. Returns the
    /// feed position to follow from.
    ///
    /// # Errors
    /// The store cannot be read; the old mirror stays.
    pub async fn resync(&self, store: &Store) -> Result<FeedPosition, StoreError> {
        let started = Instant::now();
        // Room for the tokens the store expects, with a little slack for
        // the estimate's error, so the table never grows while it loads.
        // A hint that cannot be read only costs that growth.
        let tokens = store.snapshot_tokens_hint().await.ok().flatten();
        let fresh =
            Arc::new(Mirror::with_capacity(tokens.map_or(0, |n| {
                usize::try_from(n + n / 50).unwrap_or(usize::MAX)
            })));
        // A resync expects about as many entries as the mirror holds now;
        // a start-up, as many as the store's estimate.
        let estimate = u64::try_from(self.mirror.load().stats().total())
            .ok()
            .filter(|n| *n > 0)
            .or(tokens);
        let progress = Arc::new(Progress::new(
            "loading the revocation mirror",
            "entries",
            estimate,
        ));
        {
            let mut state = self.state();
            state.pending = Some(Vec::new());
            state.loading = Some(Arc::clone(&progress));
        }
        let loaded = store
            .load_snapshot(Arc::new(Load {
                mirror: Arc::clone(&fresh),
                progress: Arc::clone(&progress),
            }))
            .await;
        self.state().loading = None;
        let position = match loaded {
            Ok(position) => position,
            Err(err) => {
                self.state().pending = None;
                return Err(err);
            }
        };
        let _order = self.learning.lock().await;
        let pending = self.state().pending.take().unwrap_or_default();
        // What was learned during the load may be newer than the snapshot.
        let updates = store.read_states(&pending).await?;
        for update in &updates {
            fresh.apply(update);
        }
        self.mirror.store(fresh);
        {
            let mut state = self.state();
            state.loaded = true;
            if state.contact.is_some() {
                state.contact = Some(Instant::now());
            }
            state.last_error = None;
        }
        self.metrics.mirror.resyncs.inc();
        self.publish_stats();
        tracing::info!(
            entries = self.mirror.load().stats().total(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            progress = %progress.describe(),
            "revocation mirror loaded"
        );
        Ok(position)
    }

    /// Marks the mirror as unusable until the next resync (a change the
    /// store accepted could not be learned): checks fail closed meanwhile.
    pub fn invalidate(&self) {
        self.state().loaded = false;
        self.resync_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`MirrorSync::invalidate`] asked for a resync; clears the flag.
    pub fn take_resync_request(&self) -> bool {
        self.resync_wanted
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Removes expired entries and refreshes the gauges.
    pub fn sweep(&self, now: UnixTime) -> usize {
        let removed = self.mirror.load().sweep(now);
        self.publish_stats();
        removed
    }

    /// Sets the mirror gauges (entries by kind, bytes, feed lag); called
    /// at every scrape, so they are never older than the scrape.
    pub fn publish_stats(&self) {
        let stats = self.mirror.load().stats();
        let m = &self.metrics.mirror;
        for (kind, n) in stats.by_kind() {
            m.entries.with_label_values(&[kind]).set(n as i64);
        }
        m.bytes.set(stats.bytes as i64);
        if let Some(at) = self.state().contact {
            m.feed_lag.set(at.elapsed().as_secs_f64());
        }
    }

    /// The feed answered. A store that is not shared has no feed to lose
    /// contact with, and its mirror no lag to report.
    fn contact(&self) {
        let mut state = self.state();
        if state.contact.is_none() {
            return;
        }
        state.contact = Some(Instant::now());
        state.last_error = None;
        self.metrics.mirror.feed_lag.set(0.0);
        self.metrics.store.up.set(1);
    }

    fn feed_failed(&self, err: &StoreError) {
        let mut state = self.state();
        let since = state.contact.map_or(Duration::ZERO, |at| at.elapsed());
        self.metrics.mirror.feed_lag.set(since.as_secs_f64());
        self.metrics.store.up.set(0);
        if state.last_error.is_none() {
            tracing::warn!(error.cause_chain = ?err, "change feed unavailable; the mirror may fall behind");
        }
        state.last_error = Some(err.to_string());
    }
}

/// Where a load puts the snapshot: the fresh mirror, counted by its
/// progress. The store calls it from as many tasks as it reads on, so the
/// mirror's shards fill in parallel.
struct Load {
    mirror: Arc<Mirror>,
    progress: Arc<Progress>,
}

impl SnapshotSink for Load {
    fn facts(&self, batch: Vec<FactUpdate>) {
        for update in &batch {
            self.mirror.apply(update);
        }
        self.progress.advance(batch.len() as u64);
    }

    fn tokens(&self, batch: &TokenBatch) {
        self.mirror.apply_tokens(batch);
        self.progress.advance(batch.len() as u64);
    }
}

/// Keeps `sync` current from the store's change feed until `cancel`: the
/// first load (unless `from` says where a load already done left off),
/// then the touched keys from the last position, with a resync whenever
/// entries were lost or [`MirrorSync::invalidate`] asked for one. One loop
/// for every store: the embedded store's feed never yields a key, so there
/// it only carries out resync requests (within one feed wait).
///
/// Reconnects with backoff, 100 ms doubling up to `max_delay`
/// (`mirror.reconnect_delay_max`): checks of tokens the mirror does not
/// hold fail closed until it reconnects, so the wait after Redis returns
/// must stay short; one connection attempt a `max_delay` is cheap.
pub async fn follow(
    sync: Arc<MirrorSync>,
    store: Store,
    from: Option<FeedPosition>,
    max_delay: Duration,
    cancel: CancellationToken,
) {
    let mut position = from;
    let first_delay = FIRST_RECONNECT_DELAY.min(max_delay);
    let mut backoff = first_delay;
    while !cancel.is_cancelled() {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = follow_once(&sync, &store, &mut position) => outcome,
        };
        if let Err(err) = outcome {
            sync.feed_failed(&err);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(max_delay);
        } else {
            backoff = first_delay;
        }
    }
}

/// One connection's worth of following; returns on the first error, or
/// `Ok` when a resync is needed.
async fn follow_once(
    sync: &MirrorSync,
    store: &Store,
    position: &mut Option<FeedPosition>,
) -> Result<(), StoreError> {
    let mut feed = store.feed(FEED_BLOCK).await?;
    if let Some(at) = position.as_ref()
        && feed.lost_entries_after(at).await?
    {
        tracing::warn!("the change feed lost entries while disconnected; resyncing");
        *position = None;
    }
    let mut at = match position.take() {
        Some(at) => at,
        None => sync.resync(store).await?,
    };
    sync.contact();
    loop {
        *position = Some(at.clone());
        let touched = feed.next(&at, FEED_BATCH).await?;
        sync.learn(store, &touched.keys).await?;
        at = touched.position;
        if feed.lost_entries_after(&at).await? {
            tracing::warn!("the change feed was trimmed or reset past this instance; resyncing");
            *position = None;
            return Ok(());
        }
        sync.contact();
        if sync.take_resync_request() {
            *position = None;
            return Ok(());
        }
    }
}

/// Drops expired mirror entries every `sweep_every`, until `cancel`.
pub async fn maintain(
    sync: Arc<MirrorSync>,
    sweep_every: std::time::Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if last_sweep.elapsed() >= sweep_every {
            last_sweep = tokio::time::Instant::now();
            let removed = sync.sweep(UnixTime::now());
            if removed > 0 {
                tracing::debug!(removed, "swept expired mirror entries");
            }
        }
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn readyz_shows_how_far_a_load_got_while_it_runs() {
        let sync = MirrorSync::new(true, Duration::from_secs(30), Metrics::new());
        let progress = Arc::new(Progress::new(
            "loading the revocation mirror",
            "entries",
            Some(1000),
        ));
        progress.advance(250);
        sync.state().loading = Some(Arc::clone(&progress));
        let status = sync.status();
        assert!(!status.ready);
        let detail = status.detail.unwrap();
        assert!(
            detail.starts_with(
                "the revocation mirror has not finished loading; loading the revocation mirror: 250 of about 1000 entries (25%), "
            ),
            "{detail}"
        );
        sync.state().loading = None;
        assert_eq!(
            sync.status().detail.unwrap(),
            "the revocation mirror has not finished loading"
        );
    }
}

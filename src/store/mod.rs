//! Where revocations live: one interface, two implementations.
//!
//! [`RevocationStore`] is everything a store must do: apply a change (with
//! its audit event, atomically), apply one at most once per logout token,
//! register and unregister sessions, count a key's token ids, look facts up,
//! page through events and through the live revocations, feed the in-memory
//! mirror (the current state of touched keys as [`FactUpdate`]s, and a
//! snapshot of everything live), ping. Both
//! [`EmbeddedStore`] (a `redb` file, the single-node default) and
//! [`RedisStore`] (shared by many instances) implement it, and one contract
//! test suite (`tests/store/`, target `store_contract`) runs against both.
//!
//! [`Store`] dispatches statically between them and times every call for
//! the `revokd_store_operation_seconds` histogram. It also offers what
//! keeps others current, so that nothing outside this module names a
//! store: a change feed of touched keys and event wake-ups
//! ([`Store::feed`], [`Store::event_wakeups`], [`Store::log_start`], in
//! `feed.rs`) and its upkeep tasks ([`Store::spawn_upkeep`], in
//! `upkeep.rs`).

mod embedded;
mod feed;
mod keys;
mod pending;
mod redis;
mod scim;
mod upkeep;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

pub use embedded::{EmbeddedSettings, EmbeddedStore};
pub use feed::{EventWakeups, Feed, FeedPosition, Touched};
pub use keys::{FactKey, MirroredKey};
pub use pending::{PendingLogout, PendingLogoutStore, PendingPut};
pub use scim::{
    SCIM_PAGE_MAX, ScimUnique, ScimUser, ScimUserPage, ScimUserStore, ScimWrite, user_name_key,
};

pub use redis::{
    EventsWaiter, FeedBatch, FeedInfo, FeedReader, RedisSettings, RedisStore, check_redis_url,
    is_tls_redis_url, open_primary,
};

use crate::domain::{
    Change, ChangeKinds, Event, EventId, EventPage, FactUpdate, Facts, Issuer, Lookup, Owner,
    Provenance, Registration, SeenKey, SessionId, SessionRegistration, Subject,
    SubjectRegistrations, TokenBatch, TokenId, UnixTime,
};
use crate::metrics::StoreMetrics;

/// Why a store call failed. None of these texts reach an API caller except
/// [`StoreError::InvalidCursor`]; the rest are logged and answered with a
/// generic 503 or 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time. Transient:
    /// callers answer 503 with `Retry-After`.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store holds something this version cannot read.
    #[error("the store holds data revokd cannot read: {0}")]
    Corrupt(String),
    /// A paging cursor that is not an event id of this store.
    #[error("`before` is not an event id of this store")]
    InvalidCursor,
}

impl StoreError {
    pub fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

/// The storage contract. Every method takes `now` from the caller instead of
/// reading the clock: a fact whose `expires_at <= now` is never returned,
/// whether or not the store has cleaned it up yet.
pub trait RevocationStore {
    /// Applies `change` and appends its audit event in one atomic, durable
    /// step: when this returns `Ok`, both survive a crash.
    ///
    /// Rules every store follows:
    /// - a token or session revocation that already exists keeps the later
    ///   of the two expiries;
    /// - a revoked-before mark keeps the later `before` and the later expiry;
    /// - a repeated disable keeps the later expiry (a permanent one wins);
    /// - `SubjectEnabled` removes the disable only;
    /// - an expired fact that is still on disk counts as absent when merging;
    /// - a [`Change::TokensRevoked`] is refused (it is written by
    ///   `register_session` only).
    fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> impl Future<Output = Result<Event, StoreError>> + Send;

    /// [`RevocationStore::apply`], at most once per `seen` key: the replay
    /// protection of back-channel logout.
    ///
    /// In one atomic step: if a live marker for `seen` exists, nothing
    /// happens and the answer is `Ok(None)`; otherwise the marker is written
    /// (until `seen.expires_at`), the change applied and its event appended
    /// exactly as `apply` does, and the answer is the event. A failed call
    /// leaves neither the marker nor the change, so the provider may retry
    /// the same logout token.
    fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<Event>, StoreError>> + Send;

    /// Records which token ids belong to a login, so that a later logout of
    /// its session or subject reaches them (see [`Facts::bound`]). The
    /// registration belongs to `reg.owner()` (see
    /// [`crate::domain::registry`] for the ownership model).
    ///
    /// In one atomic step whose cost depends on the number of ids in `reg`
    /// only, never on how many the session already holds:
    /// - if the session is revoked (a live session revocation: the
    ///   tombstone of a logout that arrived before the login finished), the
    ///   registration is refused with [`crate::domain::Reason::SessionRevoked`];
    /// - else if the subject is disabled, it is refused with
    ///   [`crate::domain::Reason::SubjectDisabled`];
    /// - a refused registration stores nothing, and its token ids are born
    ///   revoked instead, except those with a live binding of another
    ///   owner: one `TokenRevoked` change (until `reg.expires_at()`) per
    ///   such id, applied and recorded as `apply` does, with `provenance`
    ///   as the events' actor and reason;
    /// - else if the owner's registration of the session would hold more
    ///   than `reg.max_per_session()` token ids, nothing is stored and the
    ///   answer is [`Registration::SessionFull`];
    /// - else if the owner would then hold more than `reg.max_per_key()`
    ///   live token ids bound, over all its registrations (ids of this
    ///   registration not bound yet, on top of those it holds), nothing is
    ///   stored and the answer is [`Registration::KeyFull`]; the count
    ///   follows expiry exactly (an id whose binding expired at or before
    ///   `now` is not held) and local logouts, at a cost independent of how
    ///   many ids the owner holds;
    /// - otherwise the owner's session record gains the token ids (later
    ///   registrations add ids; the record keeps the later `expires_at`),
    ///   and each id is bound to the subject, session and owner, first
    ///   registered at `now`, until `reg.expires_at()`. Registering an id
    ///   again keeps its first `registered_at` and the later expiry. An id
    ///   that is already bound to a *different* subject, session or owner
    ///   keeps that binding and is not added to this record: the first
    ///   binding wins, so a registration can never detach a token from a
    ///   session that may be revoked, nor touch another app's token. A
    ///   successful registration is not an audit event.
    fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> impl Future<Output = Result<Registration, StoreError>> + Send;

    /// A local logout: removes `owner`'s registration of the session and
    /// the bindings of its token ids (only those still bound to this
    /// session by this owner). Returns `None` when no live record existed,
    /// else the token ids whose bindings were removed (what a mirror must
    /// forget). Revokes nothing, and never touches another owner's
    /// registration of the same session.
    ///
    /// Not one atomic step: a store may remove the bindings in bounded
    /// batches (so that no single store call grows with the session) and
    /// the record last. A failure part-way leaves the record with the ids
    /// not yet removed, and calling again finishes the job.
    fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<Vec<TokenId>>, StoreError>> + Send;

    /// How many live token ids `owner` holds bound at `now`: the count
    /// [`RevocationStore::register_session`] holds against
    /// `reg.max_per_key()`. Bindings written before volumes were counted
    /// are not included.
    fn token_ids_held(
        &self,
        owner: &Owner,
        now: UnixTime,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// The live registered token ids bound to `subject` at `now` (see
    /// [`RevocationStore::register_session`]), the latest expiry first, at
    /// most `limit` of them ([`SubjectRegistrations::truncated`] when more
    /// exist): the subject's session registry. The cost follows `limit`,
    /// never how many the subject holds. An id bound to another subject
    /// (the first binding wins) is not listed; a local logout removes its
    /// ids, an expired one is never listed. Bindings written before this
    /// index existed are not included.
    fn subject_registrations(
        &self,
        subject: &Subject,
        limit: usize,
        now: UnixTime,
    ) -> impl Future<Output = Result<SubjectRegistrations, StoreError>> + Send;

    /// The live facts about the keys in `lookup`, in one round trip. When
    /// `lookup.jti` has a live binding, [`Facts::bound`] holds the facts
    /// about the bound session and subject, read in the same step.
    fn lookup(
        &self,
        lookup: Lookup<'_>,
        now: UnixTime,
    ) -> impl Future<Output = Result<Facts, StoreError>> + Send;

    /// Audit events, newest first. Events not caused by a client key
    /// (see [`crate::domain::is_client_actor`]) are kept in a retention of
    /// their own as well (`max_admin_events`), and read merged with the
    /// log, each once: a flood of client-caused events cannot push them
    /// out.
    fn events(
        &self,
        page: &EventPage,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Audit events strictly after `after`, oldest first, at most `limit`.
    /// `None` when the log no longer holds every event after `after`: older
    /// ones were trimmed (the log keeps about `max_events`), or `after` lies
    /// beyond the newest id ever handed out (the log was reset). A consumer
    /// told `None` must resynchronise from current state.
    ///
    /// # Errors
    /// [`StoreError::InvalidCursor`] when `after` is not an id this store
    /// writes.
    fn events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, StoreError>> + Send;

    /// One page of the live revocations of `kinds` — token and session
    /// revocations, disabled subjects, revoked-before marks; not
    /// registrations — in an order of the store's, from `cursor` (`None`:
    /// the start). A page holds `limit` revocations unless it is the last.
    /// A revocation that changes while the pages are read may show in its
    /// old or new state: follow the event stream from before the first page
    /// to converge. A cursor may be used with other `kinds` than the page
    /// that handed it out.
    ///
    /// # Errors
    /// [`StoreError::InvalidCursor`] for a cursor this store did not hand
    /// out.
    fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> impl Future<Output = Result<LivePage, StoreError>> + Send;

    /// The current state of each of `keys`, as the updates that make a
    /// mirror hold it (an absent key removes, or expires, its entry).
    fn read_states(
        &self,
        keys: &[MirroredKey],
    ) -> impl Future<Output = Result<Vec<FactUpdate>, StoreError>> + Send;

    /// Every mirrored fact, handed to `sink` in batches. Returns the change
    /// feed position to follow from (Redis: read before the scan; embedded,
    /// whose writes reach the mirror in-process: a position its feed never
    /// moves from).
    fn snapshot(
        &self,
        sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
    ) -> impl Future<Output = Result<FeedPosition, StoreError>> + Send;

    /// [`Self::snapshot`] into `sink`, which may be called from several
    /// tasks at once (a Redis snapshot decodes and hands over on as many
    /// tasks as it has reads in flight, so that a mirror inserts in
    /// parallel) and receives token revocations as [`TokenBatch`]es.
    fn load_snapshot(
        &self,
        sink: Arc<dyn SnapshotSink>,
    ) -> impl Future<Output = Result<FeedPosition, StoreError>> + Send;

    /// About how many token revocations [`Self::snapshot`] would hand over
    /// now, so that a mirror can reserve room before loading them (growing
    /// a table of millions rehashes it again and again); `None` when the
    /// store cannot tell cheaply.
    fn snapshot_tokens_hint(&self) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async { Ok(None) }
    }

    /// Succeeds when the store answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where [`RevocationStore::load_snapshot`] hands a snapshot over. Called
/// from several tasks at once, in no particular order between calls.
pub trait SnapshotSink: Send + Sync {
    fn facts(&self, batch: Vec<FactUpdate>);

    /// Token revocations (most of a large snapshot), without a `String`
    /// per token.
    fn tokens(&self, batch: &TokenBatch) {
        self.facts(batch.to_updates());
    }
}

/// `apply` and `apply_once` record one fact per call: a
/// [`Change::TokensRevoked`] is written by `register_session` only.
pub(crate) fn refuse_bulk(change: &Change) -> Result<(), StoreError> {
    if matches!(change, Change::TokensRevoked { .. }) {
        return Err(StoreError::Corrupt(
            "a bulk token revocation is recorded by register_session only".into(),
        ));
    }
    Ok(())
}

/// One page of [`RevocationStore::live_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePage {
    /// As the changes that would record them again.
    pub revocations: Vec<Change>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<String>,
}

/// A mirrored fact as the change that records it, if it is a live
/// revocation at `now` (bindings, removals and expired facts are not).
pub fn live_change(update: FactUpdate, now: UnixTime) -> Option<Change> {
    let live = |expires_at: UnixTime| expires_at > now;
    match update {
        FactUpdate::Token { jti, expires_at } => {
            live(expires_at).then_some(Change::TokenRevoked { jti, expires_at })
        }
        FactUpdate::Session {
            session,
            expires_at,
        } => live(expires_at).then_some(Change::SessionRevoked {
            session,
            expires_at,
        }),
        FactUpdate::SubjectDisabled {
            subject,
            expires_at,
        } => expires_at
            .is_none_or(live)
            .then_some(Change::SubjectDisabled {
                subject,
                expires_at,
            }),
        FactUpdate::SubjectRevokedBefore {
            subject,
            before,
            expires_at,
        } => live(expires_at).then_some(Change::SubjectRevokedBefore {
            subject,
            before,
            expires_at,
        }),
        FactUpdate::Binding { .. }
        | FactUpdate::SubjectEnabled { .. }
        | FactUpdate::Unbound { .. }
        | FactUpdate::SessionBound { .. }
        | FactUpdate::SessionUnbound { .. } => None,
    }
}

/// The configured store.
#[derive(Clone)]
enum Backend {
    Embedded(EmbeddedStore),
    Redis(RedisStore),
}

/// The configured store with its metrics.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    metrics: StoreMetrics,
}

impl Store {
    /// Opens (or creates) the embedded store under `settings.path`; see
    /// [`EmbeddedStore::open`].
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open_embedded(
        settings: &EmbeddedSettings,
        metrics: StoreMetrics,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Backend::Embedded(EmbeddedStore::open(settings)?),
            metrics,
        })
    }

    /// Builds the Redis connection pool without connecting; see
    /// [`RedisStore::connect`].
    ///
    /// # Errors
    /// The settings cannot be used (a bad URL or TLS file).
    pub fn connect_redis(
        settings: &RedisSettings,
        metrics: StoreMetrics,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Backend::Redis(RedisStore::connect(settings)?),
            metrics,
        })
    }

    /// The label used in logs, metrics and `/readyz`.
    pub const fn name(&self) -> &'static str {
        match self.backend {
            Backend::Embedded(_) => "embedded",
            Backend::Redis(_) => "redis",
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = fut.await;
        self.metrics
            .observe(self.name(), op, started.elapsed(), result.is_ok());
        result
    }
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.backend {
            Backend::Embedded($store) => $call.await,
            Backend::Redis($store) => $call.await,
        }
    };
}

impl RevocationStore for Store {
    async fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        self.timed("apply", async {
            dispatch!(self, s => s.apply(change, provenance, now))
        })
        .await
    }

    async fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        self.timed("apply_once", async {
            dispatch!(self, s => s.apply_once(seen, change, provenance, now))
        })
        .await
    }

    async fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        self.timed("register_session", async {
            dispatch!(self, s => s.register_session(reg, provenance, now))
        })
        .await
    }

    async fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        self.timed("unregister_session", async {
            dispatch!(self, s => s.unregister_session(owner, iss, sid, now))
        })
        .await
    }

    async fn token_ids_held(&self, owner: &Owner, now: UnixTime) -> Result<usize, StoreError> {
        self.timed("token_ids_held", async {
            dispatch!(self, s => s.token_ids_held(owner, now))
        })
        .await
    }

    async fn subject_registrations(
        &self,
        subject: &Subject,
        limit: usize,
        now: UnixTime,
    ) -> Result<SubjectRegistrations, StoreError> {
        self.timed("subject_registrations", async {
            dispatch!(self, s => s.subject_registrations(subject, limit, now))
        })
        .await
    }

    async fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> Result<Facts, StoreError> {
        self.timed("lookup", async {
            dispatch!(self, s => s.lookup(lookup, now))
        })
        .await
    }

    async fn events(&self, page: &EventPage) -> Result<Vec<Event>, StoreError> {
        self.timed("events", async { dispatch!(self, s => s.events(page)) })
            .await
    }

    async fn events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        self.timed("events_after", async {
            dispatch!(self, s => s.events_after(after, limit))
        })
        .await
    }

    async fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        self.timed("live_page", async {
            dispatch!(self, s => s.live_page(cursor, limit, kinds, now))
        })
        .await
    }

    async fn read_states(&self, keys: &[MirroredKey]) -> Result<Vec<FactUpdate>, StoreError> {
        self.timed("read_states", async {
            dispatch!(self, s => s.read_states(keys))
        })
        .await
    }

    async fn snapshot(
        &self,
        sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
    ) -> Result<FeedPosition, StoreError> {
        self.timed("snapshot", async { dispatch!(self, s => s.snapshot(sink)) })
            .await
    }

    async fn load_snapshot(&self, sink: Arc<dyn SnapshotSink>) -> Result<FeedPosition, StoreError> {
        self.timed("snapshot", async {
            dispatch!(self, s => s.load_snapshot(sink))
        })
        .await
    }

    async fn snapshot_tokens_hint(&self) -> Result<Option<u64>, StoreError> {
        dispatch!(self, s => s.snapshot_tokens_hint())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", async { dispatch!(self, s => s.ping()) })
            .await
    }
}

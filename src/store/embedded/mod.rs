//! The embedded store: one `redb` file, durable, single node, the default.
//!
//! # Layout of `revokd.redb`
//!
//! - `facts`: [`FactKey::encode`] text → `(expires_at, payload)`, both
//!   seconds. `expires_at` is [`NEVER`] for a disable "until enabled"; the
//!   payload is the `before` instant of a revoked-before mark and 0 otherwise.
//!   Seen-markers of [`RevocationStore::apply_once`] are facts too.
//! - `expiry`: `(expires_at, key)` → `()`, an index kept in step with `facts`
//!   in the same transaction, so that [`EmbeddedStore::sweep`] finds expired
//!   facts by a range scan instead of reading every fact.
//! - `bindings`: `bnd:{jti}` → `(expires_at, TokenBinding as JSON)`, one per
//!   registered token id; and `sbn:{n}:{iss}:{sid}` → `(expires_at,
//!   TokenBinding as JSON, without an owner)`, one per registered session:
//!   its subject and first registration (see [`FactKey::SessionBinding`]).
//! - `sessions`: `reg:{n}:{owner}:{n}:{iss}:{sid}` → `(expires_at, count as
//!   JSON)`, one per owner's registration of a session: how many token ids
//!   it holds (for the per-session cap, read in O(1)).
//! - `session_tokens`: `(registration key, jti)` → `()`, the token ids of
//!   each registration, one row each, so that registering one more id costs
//!   the same whatever the session holds, and a local logout finds its
//!   tokens by a range scan.
//! - `subject_tokens`: `(stk:{n}:{iss}:{sub}, expires_at, jti)` → `()`, one
//!   per `bnd:` row, written and removed with it: a subject's registered
//!   token ids in expiry order (the admin API's session registry).
//! - `expiry` indexes the rows of `bindings` and `sessions` too: the key
//!   prefix tells the sweep which table a row lives in.
//! - `events`: event id → the [`Event`] as JSON. Ids are a `u64` sequence.
//! - `meta`: `next_event_id` → `u64`, the next id to hand out. It is kept
//!   apart from `events` so that trimming old events never lets an id be
//!   reused.
//!
//! # Files
//!
//! This file holds the settings, [`EmbeddedStore`] and the trait impl;
//! `open.rs` opens the file, `tables.rs` is the fact and record layer with
//! its expiry index, `write.rs` applies changes, `registry.rs` registers
//! and unregisters sessions, `read.rs` serves lookups, the live set and
//! the mirror, `audit.rs` is the audit log, `sweep.rs` removes what
//! expired, `pending.rs` keeps logout tokens whose keys are missing.
//!
//! redb is synchronous, so every call runs on tokio's blocking pool, and
//! every write transaction commits with [`Durability::Immediate`] (fsync):
//! an `Ok` from [`RevocationStore::apply`] survives a crash. Each trait call
//! is one transaction, which is all the atomicity the contract asks for:
//! redb has a single writer, so concurrent calls are serialised.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Deserialize;

use super::{FactKey, LivePage, MirroredKey, RevocationStore, StoreError};
use crate::config::error::ConfigError;
use crate::domain::{
    Change, ChangeKinds, Event, EventId, EventPage, FactUpdate, Facts, Issuer, Lookup, Owner,
    Provenance, Registration, SeenKey, Session, SessionId, SessionRegistration, Subject,
    SubjectRegistrations, TokenId, UnixTime,
};

mod audit;
mod open;
mod pending;
mod read;
mod registry;
mod scim;
mod sweep;
mod tables;
#[cfg(test)]
mod tests;
mod write;

use audit::{parse_event_id, read_events, read_events_after, trim_events};
use open::{OpenError, create_tables, db_error, open_error};
use read::{
    LookupKeys, decode_cursor, read_facts, read_live_page, read_states, read_subject_registrations,
    read_token_ids_held, snapshot,
};
use registry::{register_in_transaction, unregister_in_transaction};
use sweep::{sweep_facts, sweep_owned};
use write::{apply_in_transaction, apply_once_in_transaction};

/// The database file inside [`EmbeddedSettings::path`].
const FILE_NAME: &str = "revokd.redb";

const FACTS: TableDefinition<&str, (i64, i64)> = TableDefinition::new("facts");
const EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("expiry");
const BINDINGS: TableDefinition<&str, (i64, &[u8])> = TableDefinition::new("bindings");
const SESSIONS: TableDefinition<&str, (i64, &[u8])> = TableDefinition::new("sessions");
const SESSION_TOKENS: TableDefinition<(&str, &str), ()> = TableDefinition::new("session_tokens");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// A copy of every event not caused by a client key, under the same id,
/// with its own retention (`max_admin_events`): what `events` reads merged
/// with `EVENTS`, so no client can push an admin's event out of the log.
const KEPT_EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("kept_events");
/// Each owned binding as `(owner, expires_at, jti)`: a key's volume, in
/// expiry order, so the ids that expired are found without a scan.
const OWNED: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("owned");
/// The rows of `owned` per owner, kept in step with it. Rows whose binding
/// expired are drained before the count is used, so it is exact for `now`.
const OWNED_COUNT: TableDefinition<&str, u64> = TableDefinition::new("owned_count");
/// Each live `bnd:` binding again as `(subject key, expires_at, jti)`
/// ([`FactKey::SubjectTokens`]): a subject's registered token ids by
/// expiry, kept in step with `bindings` by the record layer (`tables.rs`),
/// so that listing them is a range read bounded by its limit.
const SUBJECT_TOKENS: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("subject_tokens");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The `meta` key holding the next event id.
const NEXT_EVENT_ID: &str = "next_event_id";

/// `expires_at` of a fact that lasts until it is removed (a disable without
/// an expiry). It sorts after every real instant, so "keep the later expiry"
/// is a plain `max`.
const NEVER: i64 = i64::MAX;

/// `[embedded]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    /// Directory holding `revokd.redb`; created if missing.
    pub path: PathBuf,
    /// How often [`EmbeddedStore::sweep`] runs.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Audit events kept; the oldest beyond this are dropped by the sweep.
    pub max_events: u64,
    /// Events not caused by a client key (admins', providers') kept on top
    /// of those, in their own retention.
    pub max_admin_events: u64,
}

impl EmbeddedSettings {
    /// The rules of `[embedded]` alone.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sweep_interval.is_zero() {
            return Err(ConfigError::invalid(
                "embedded.sweep_interval",
                "must be longer than zero",
            ));
        }
        if self.max_events == 0 {
            return Err(ConfigError::invalid(
                "embedded.max_events",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The embedded store. Cheap to clone: clones share one open database.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    max_events: u64,
    max_admin_events: u64,
    /// `embedded.sweep_interval`, for [`crate::store::Store::spawn_upkeep`].
    sweep_interval: std::time::Duration,
}

impl EmbeddedStore {
    /// Opens (or creates) the database under `settings.path`.
    ///
    /// The file is locked for the life of the store: a second process (or a
    /// second `open` in this one) is refused at once rather than left
    /// waiting, since two writers would each believe they own the file.
    ///
    /// # Errors
    /// The directory cannot be created, or the file cannot be opened (for
    /// example because another process holds it).
    pub fn open(settings: &EmbeddedSettings) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&settings.path).map_err(|source| {
            StoreError::unavailable(OpenError::CreateDir {
                path: settings.path.clone(),
                source,
            })
        })?;
        let file = settings.path.join(FILE_NAME);
        let db = Database::create(&file).map_err(|err| open_error(&file, err))?;
        create_tables(&db)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                max_events: settings.max_events,
                max_admin_events: settings.max_admin_events,
                sweep_interval: settings.sweep_interval,
            }),
        })
    }

    /// How often [`EmbeddedStore::sweep`] runs (`embedded.sweep_interval`).
    pub(super) fn sweep_interval(&self) -> std::time::Duration {
        self.inner.sweep_interval
    }

    /// Removes facts, seen-markers, bindings and session records that
    /// expired at or before `now`, and audit events beyond `max_events`.
    /// Returns how many rows were removed.
    ///
    /// # Errors
    /// The database cannot be written.
    ///
    /// Work is split into transactions of at most `SWEEP_BATCH` (`sweep.rs`) removals,
    /// each committed durably, so a large backlog does not hold the write
    /// lock for long. An error leaves the batches already committed in place;
    /// the next sweep carries on from there.
    pub async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        let (max_events, max_admin_events) = (self.inner.max_events, self.inner.max_admin_events);
        self.blocking(move |db| {
            let removed = sweep_facts(db, now)?;
            sweep_owned(db, now)?;
            trim_events(db, EVENTS, max_events)?;
            trim_events(db, KEPT_EVENTS, max_admin_events)?;
            Ok(removed)
        })
        .await
    }

    /// Runs `f` on the blocking pool: redb calls block on disk I/O and, for
    /// writes, on the single write lock.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner.db))
            .await
            .map_err(StoreError::unavailable)?
    }
}

impl RevocationStore for EmbeddedStore {
    async fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        super::refuse_bulk(&change)?;
        self.blocking(move |db| apply_in_transaction(db, change, provenance, now))
            .await
    }

    async fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        super::refuse_bulk(&change)?;
        let marker = (FactKey::Seen(seen).encode(), seen.expires_at);
        self.blocking(move |db| apply_once_in_transaction(db, &marker, change, provenance, now))
            .await
    }

    async fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        let reg = reg.clone();
        self.blocking(move |db| register_in_transaction(db, &reg, provenance, now))
            .await
    }

    async fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        let session = Session {
            iss: iss.clone(),
            sid: sid.clone(),
        };
        let owner = owner.clone();
        self.blocking(move |db| unregister_in_transaction(db, &owner, &session, now))
            .await
    }

    async fn token_ids_held(&self, owner: &Owner, now: UnixTime) -> Result<usize, StoreError> {
        let owner = owner.as_ref().to_owned();
        self.blocking(move |db| read_token_ids_held(db, &owner, now))
            .await
    }

    async fn subject_registrations(
        &self,
        subject: &Subject,
        limit: usize,
        now: UnixTime,
    ) -> Result<SubjectRegistrations, StoreError> {
        let subject = subject.clone();
        self.blocking(move |db| read_subject_registrations(db, &subject, limit, now))
            .await
    }

    async fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> Result<Facts, StoreError> {
        let keys = LookupKeys::new(&lookup);
        self.blocking(move |db| read_facts(db, &keys, now)).await
    }

    async fn events(&self, page: &EventPage) -> Result<Vec<Event>, StoreError> {
        let before = page.before.as_ref().map(parse_event_id).transpose()?;
        let limit = page.limit;
        self.blocking(move |db| read_events(db, before, limit))
            .await
    }

    async fn events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        let after = parse_event_id(after)?;
        self.blocking(move |db| read_events_after(db, after, limit))
            .await
    }

    async fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        self.blocking(move |db| read_live_page(db, after, limit, kinds, now))
            .await
    }

    async fn read_states(&self, keys: &[MirroredKey]) -> Result<Vec<FactUpdate>, StoreError> {
        let keys = keys.to_vec();
        self.blocking(move |db| read_states(db, &keys)).await
    }

    async fn load_snapshot(
        &self,
        sink: Arc<dyn super::SnapshotSink>,
    ) -> Result<super::FeedPosition, StoreError> {
        self.snapshot(&mut |batch| sink.facts(batch)).await
    }

    async fn snapshot(
        &self,
        sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
    ) -> Result<super::FeedPosition, StoreError> {
        // One read transaction on the blocking pool, handing batches over a
        // bounded channel so that memory stays at a few batches.
        let inner = Arc::clone(&self.inner);
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let reader = tokio::task::spawn_blocking(move || {
            snapshot(&inner.db, &mut |batch| {
                // A closed channel means the caller gave up; stop quietly.
                let _ = tx.blocking_send(batch);
            })
        });
        while let Some(batch) = rx.recv().await {
            sink(batch);
        }
        reader.await.map_err(StoreError::unavailable)??;
        // Nothing to follow: only this instance writes to the file, and its
        // writes reach its mirror in-process.
        Ok(super::FeedPosition::local())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(db_error)?;
            txn.open_table(META).map_err(db_error)?;
            Ok(())
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// Opening

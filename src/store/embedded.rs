//! The embedded store: one `redb` file, durable, single node, the default.
//!
//! # Layout of `revokd.redb`
//!
//! - `facts`: [`FactKey::encode`] text → `(expires_at, payload)`, both
//!   seconds. `expires_at` is [`NEVER`] for a disable "until enabled"; the
//!   payload is the `before` instant of a revoked-before mark and 0 otherwise.
//! - `expiry`: `(expires_at, key)` → `()`, an index kept in step with `facts`
//!   in the same transaction, so that [`EmbeddedStore::sweep`] finds expired
//!   facts by a range scan instead of reading every fact.
//! - `events`: event id → the [`Event`] as JSON. Ids are a `u64` sequence.
//! - `meta`: `next_event_id` → `u64`, the next id to hand out. It is kept
//!   apart from `events` so that trimming old events never lets an id be
//!   reused.
//!
//! redb is synchronous, so every call runs on tokio's blocking pool, and
//! every write transaction commits with [`Durability::Immediate`] (fsync):
//! an `Ok` from [`RevocationStore::apply`] survives a crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    Table, TableDefinition, WriteTransaction,
};
use serde::Deserialize;

use super::{FactKey, RevocationStore, StoreError};
use crate::domain::{Change, Event, EventId, EventPage, Facts, Lookup, Provenance, UnixTime};

/// The database file inside [`EmbeddedSettings::path`].
const FILE_NAME: &str = "revokd.redb";

const FACTS: TableDefinition<&str, (i64, i64)> = TableDefinition::new("facts");
const EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("expiry");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The `meta` key holding the next event id.
const NEXT_EVENT_ID: &str = "next_event_id";

/// `expires_at` of a fact that lasts until it is removed (a disable without
/// an expiry). It sorts after every real instant, so "keep the later expiry"
/// is a plain `max`.
const NEVER: i64 = i64::MAX;

/// Most facts, or events, one sweep transaction removes. A large backlog is
/// cleared in several short transactions rather than one long one, so that
/// `apply` calls waiting for the write lock are not held up for long.
const SWEEP_BATCH: usize = 1024;

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
}

/// The embedded store. Cheap to clone: clones share one open database.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    max_events: u64,
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
            }),
        })
    }

    /// Removes facts that expired at or before `now` and audit events beyond
    /// `max_events`. Returns how many facts were removed.
    ///
    /// # Errors
    /// The database cannot be written.
    ///
    /// Work is split into transactions of at most [`SWEEP_BATCH`] removals,
    /// each committed durably, so a large backlog does not hold the write
    /// lock for long. An error leaves the batches already committed in place;
    /// the next sweep carries on from there.
    pub async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        let max_events = self.inner.max_events;
        self.blocking(move |db| {
            let removed = sweep_facts(db, now)?;
            trim_events(db, max_events)?;
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
        self.blocking(move |db| apply_in_transaction(db, change, provenance, now))
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

/// Why the database could not be opened, kept as the source of
/// [`StoreError::Unavailable`] so that the start-up error names the file.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("cannot create the directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is in use by another process (another revokd on this data directory?)", path.display())]
    InUse {
        path: PathBuf,
        #[source]
        source: DatabaseError,
    },
    #[error("cannot open `{}`", path.display())]
    Other {
        path: PathBuf,
        #[source]
        source: DatabaseError,
    },
}

fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    let path = path.to_owned();
    match err {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::unavailable(OpenError::InUse { path, source: err })
        }
        DatabaseError::UpgradeRequired(_)
        | DatabaseError::RepairAborted
        | DatabaseError::Storage(redb::StorageError::Corrupted(_)) => {
            StoreError::Corrupt(format!("`{}`: {err}", path.display()))
        }
        // redb's answer to a file that is not a redb database at all.
        DatabaseError::Storage(redb::StorageError::Io(ref io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(format!("`{}`: {err}", path.display()))
        }
        _ => StoreError::unavailable(OpenError::Other { path, source: err }),
    }
}

/// Creates every table once, so that read transactions never meet a
/// missing table (which redb reports as an error, not as empty).
fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = begin_write(db)?;
    txn.open_table(FACTS).map_err(db_error)?;
    txn.open_table(EXPIRY).map_err(db_error)?;
    txn.open_table(EVENTS).map_err(db_error)?;
    txn.open_table(META).map_err(db_error)?;
    txn.commit().map_err(db_error)
}

// ---------------------------------------------------------------------------
// Errors

/// Maps any redb error: what says the file holds something unreadable is
/// [`StoreError::Corrupt`], everything else (I/O, locks, a database left
/// unwritable by an earlier failed commit) is [`StoreError::Unavailable`].
fn db_error(err: impl Into<redb::Error>) -> StoreError {
    let err: redb::Error = err.into();
    match err {
        redb::Error::Corrupted(msg) => StoreError::Corrupt(msg),
        redb::Error::UpgradeRequired(_)
        | redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => StoreError::Corrupt(err.to_string()),
        other => StoreError::unavailable(other),
    }
}

/// A write transaction that fsyncs on commit. Immediate is redb's default;
/// it is set here anyway because the contract depends on it.
fn begin_write(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write().map_err(db_error)?;
    txn.set_durability(Durability::Immediate)
        .map_err(db_error)?;
    Ok(txn)
}

// ---------------------------------------------------------------------------
// Facts

/// One stored fact. Plain `i64` seconds, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fact {
    expires_at: i64,
    /// The `before` of a revoked-before mark; 0 for other facts.
    payload: i64,
}

impl Fact {
    const fn revocation(expires_at: i64) -> Self {
        Self {
            expires_at,
            payload: 0,
        }
    }

    /// Whether a read at `now` may report this fact.
    const fn is_live(self, now: UnixTime) -> bool {
        self.expires_at > now.as_secs()
    }

    /// The fact after `new` is applied on top of `self`: each field keeps
    /// the later value, so an expiry is never shortened and a mark never
    /// moves back.
    fn raised_by(self, new: Fact) -> Fact {
        Fact {
            expires_at: self.expires_at.max(new.expires_at),
            payload: self.payload.max(new.payload),
        }
    }
}

/// The fact stored under `key`, unless it expired at or before `now`:
/// reads never report an expired fact, whether or not the sweep has
/// removed it yet.
fn live_fact(
    facts: &impl ReadableTable<&'static str, (i64, i64)>,
    key: &str,
    now: UnixTime,
) -> Result<Option<Fact>, StoreError> {
    let stored = facts.get(key).map_err(db_error)?.map(|guard| {
        let (expires_at, payload) = guard.value();
        Fact {
            expires_at,
            payload,
        }
    });
    Ok(stored.filter(|fact| fact.is_live(now)))
}

/// The `facts` table and its expiry index, opened together so that every
/// change to one is made to the other.
struct FactTables<'txn> {
    facts: Table<'txn, &'static str, (i64, i64)>,
    expiry: Table<'txn, (i64, &'static str), ()>,
}

impl<'txn> FactTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            facts: txn.open_table(FACTS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
        })
    }

    /// The fact under `key`, if a read at `now` would report it. An expired
    /// fact the sweep has not removed yet counts as absent, so it cannot
    /// lend its old `before` or expiry to a new one.
    fn live(&self, key: &str, now: UnixTime) -> Result<Option<Fact>, StoreError> {
        live_fact(&self.facts, key, now)
    }

    /// Merges `new` into the live fact under `key` and stores the result,
    /// which it returns.
    fn raise(&mut self, key: &str, new: Fact, now: UnixTime) -> Result<Fact, StoreError> {
        let merged = match self.live(key, now)? {
            Some(existing) => existing.raised_by(new),
            None => new,
        };
        self.put(key, merged)?;
        Ok(merged)
    }

    fn put(&mut self, key: &str, fact: Fact) -> Result<(), StoreError> {
        let old = self
            .facts
            .insert(key, (fact.expires_at, fact.payload))
            .map_err(db_error)?
            .map(|g| g.value().0);
        if let Some(old_expires_at) = old {
            self.expiry
                .remove((old_expires_at, key))
                .map_err(db_error)?;
        }
        self.expiry
            .insert((fact.expires_at, key), ())
            .map_err(db_error)?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), StoreError> {
        let old = self
            .facts
            .remove(key)
            .map_err(db_error)?
            .map(|g| g.value().0);
        if let Some(old_expires_at) = old {
            self.expiry
                .remove((old_expires_at, key))
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Applies the rules of [`RevocationStore::apply`] for one change.
    fn apply(&mut self, change: &Change, now: UnixTime) -> Result<(), StoreError> {
        match change {
            Change::TokenRevoked { jti, expires_at } => {
                self.raise(
                    &FactKey::Token(jti).encode(),
                    Fact::revocation(expires_at.as_secs()),
                    now,
                )?;
            }
            Change::SessionRevoked {
                session,
                expires_at,
            } => {
                self.raise(
                    &FactKey::Session(session).encode(),
                    Fact::revocation(expires_at.as_secs()),
                    now,
                )?;
            }
            Change::SubjectDisabled {
                subject,
                expires_at,
            } => {
                let until = expires_at.map_or(NEVER, UnixTime::as_secs);
                let disable = self.raise(
                    &FactKey::SubjectDisabled(subject).encode(),
                    Fact::revocation(until),
                    now,
                )?;
                // The mark lives as long as the disable now does, or longer
                // if it already did: `raise` keeps the later expiry.
                let mark = Fact {
                    expires_at: disable.expires_at,
                    payload: now.as_secs(),
                };
                self.raise(&FactKey::SubjectRevokedBefore(subject).encode(), mark, now)?;
            }
            Change::SubjectEnabled { subject } => {
                self.delete(&FactKey::SubjectDisabled(subject).encode())?;
            }
            Change::SubjectRevokedBefore {
                subject,
                before,
                expires_at,
            } => {
                let mark = Fact {
                    expires_at: expires_at.as_secs(),
                    payload: before.as_secs(),
                };
                self.raise(&FactKey::SubjectRevokedBefore(subject).encode(), mark, now)?;
            }
        }
        Ok(())
    }
}

/// The change, its fact updates and its event, in one durable transaction.
fn apply_in_transaction(
    db: &Database,
    change: Change,
    provenance: Provenance,
    now: UnixTime,
) -> Result<Event, StoreError> {
    let txn = begin_write(db)?;
    FactTables::open(&txn)?.apply(&change, now)?;
    let id = take_event_id(&txn)?;
    let event = Event {
        id: EventId(id.to_string()),
        at: now,
        change,
        actor: provenance.actor,
        reason: provenance.reason,
    };
    let json = serde_json::to_vec(&event).map_err(StoreError::unavailable)?;
    txn.open_table(EVENTS)
        .map_err(db_error)?
        .insert(id, json.as_slice())
        .map_err(db_error)?;
    txn.commit().map_err(db_error)?;
    Ok(event)
}

/// Hands out the next event id. The counter lives in `meta`, not in the
/// last key of `events`, so ids stay unique after the sweep trims events.
fn take_event_id(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META).map_err(db_error)?;
    let id = meta
        .get(NEXT_EVENT_ID)
        .map_err(db_error)?
        .map_or(1, |g| g.value());
    let next = id
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("the event id counter is exhausted".into()))?;
    meta.insert(NEXT_EVENT_ID, next).map_err(db_error)?;
    Ok(id)
}

/// The encoded keys of a [`Lookup`], owned so they can move to the blocking
/// pool.
struct LookupKeys {
    token: Option<String>,
    session: Option<String>,
    disabled: Option<String>,
    revoked_before: Option<String>,
}

impl LookupKeys {
    fn new(lookup: &Lookup<'_>) -> Self {
        Self {
            token: lookup.jti.map(|jti| FactKey::Token(jti).encode()),
            session: lookup.session.map(|s| FactKey::Session(s).encode()),
            disabled: lookup.subject.map(|s| FactKey::SubjectDisabled(s).encode()),
            revoked_before: lookup
                .subject
                .map(|s| FactKey::SubjectRevokedBefore(s).encode()),
        }
    }
}

fn read_facts(db: &Database, keys: &LookupKeys, now: UnixTime) -> Result<Facts, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let live = |key: &Option<String>| match key {
        Some(key) => live_fact(&facts, key, now),
        None => Ok(None),
    };
    Ok(Facts {
        token_revoked: live(&keys.token)?.is_some(),
        session_revoked: live(&keys.session)?.is_some(),
        subject_disabled: live(&keys.disabled)?.is_some(),
        subject_revoked_before: live(&keys.revoked_before)?
            .map(|mark| UnixTime::from_secs(mark.payload)),
    })
}

// ---------------------------------------------------------------------------
// Events

/// Accepts exactly the ids this store writes: decimal digits of a `u64`,
/// without sign or leading zeros.
fn parse_event_id(id: &EventId) -> Result<u64, StoreError> {
    let text = id.0.as_str();
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(StoreError::InvalidCursor);
    }
    text.parse().map_err(|_| StoreError::InvalidCursor)
}

fn read_events(db: &Database, before: Option<u64>, limit: usize) -> Result<Vec<Event>, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let events = txn.open_table(EVENTS).map_err(db_error)?;
    let range = match before {
        Some(before) => events.range(..before),
        None => events.range::<u64>(..),
    }
    .map_err(db_error)?;
    range
        .rev()
        .take(limit)
        .map(|entry| {
            let (id, json) = entry.map_err(db_error)?;
            decode_event(id.value(), json.value())
        })
        .collect()
}

fn decode_event(id: u64, json: &[u8]) -> Result<Event, StoreError> {
    serde_json::from_slice(json)
        .map_err(|err| StoreError::Corrupt(format!("event {id} cannot be decoded: {err}")))
}

// ---------------------------------------------------------------------------
// Sweep

/// Removes every fact with `expires_at <= now`, one batch at a time.
fn sweep_facts(db: &Database, now: UnixTime) -> Result<usize, StoreError> {
    let mut removed = 0;
    loop {
        let batch = sweep_facts_batch(db, now)?;
        removed += batch.removed;
        if batch.scanned < SWEEP_BATCH {
            return Ok(removed);
        }
    }
}

/// What one sweep transaction did.
struct SweptBatch {
    /// Expiry-index entries read (and removed).
    scanned: usize,
    /// Facts removed.
    removed: usize,
}

/// Removes up to [`SWEEP_BATCH`] facts with `expires_at <= now`, found
/// through the expiry index.
fn sweep_facts_batch(db: &Database, now: UnixTime) -> Result<SweptBatch, StoreError> {
    let txn = begin_write(db)?;
    let mut batch = SweptBatch {
        scanned: 0,
        removed: 0,
    };
    {
        let mut tables = FactTables::open(&txn)?;
        for (expires_at, key) in expired_keys(&tables.expiry, now)? {
            batch.scanned += 1;
            tables
                .expiry
                .remove((expires_at, key.as_str()))
                .map_err(db_error)?;
            // The index and the table change together, but check anyway:
            // deleting a live fact would bring a revoked token back to life.
            if tables.live(&key, now)?.is_none()
                && tables
                    .facts
                    .remove(key.as_str())
                    .map_err(db_error)?
                    .is_some()
            {
                batch.removed += 1;
            }
        }
    }
    txn.commit().map_err(db_error)?;
    Ok(batch)
}

fn expired_keys(
    expiry: &Table<'_, (i64, &'static str), ()>,
    now: UnixTime,
) -> Result<Vec<(i64, String)>, StoreError> {
    // Every key with `expires_at <= now` sorts before `(now + 1, "")`.
    let end = now.as_secs().saturating_add(1);
    expiry
        .range(..(end, ""))
        .map_err(db_error)?
        .take(SWEEP_BATCH)
        .map(|entry| {
            let (key, _) = entry.map_err(db_error)?;
            let (expires_at, fact_key) = key.value();
            Ok((expires_at, fact_key.to_owned()))
        })
        .collect()
}

/// Drops the oldest events beyond `max_events`, one batch at a time.
fn trim_events(db: &Database, max_events: u64) -> Result<(), StoreError> {
    while trim_events_batch(db, max_events)? == SWEEP_BATCH {}
    Ok(())
}

/// Drops up to [`SWEEP_BATCH`] of the oldest events beyond `max_events`.
/// Returns how many it dropped.
fn trim_events_batch(db: &Database, max_events: u64) -> Result<usize, StoreError> {
    let txn = begin_write(db)?;
    let dropped = {
        let mut events = txn.open_table(EVENTS).map_err(db_error)?;
        let excess = events.len().map_err(db_error)?.saturating_sub(max_events);
        let count = usize::try_from(excess)
            .unwrap_or(usize::MAX)
            .min(SWEEP_BATCH);
        for _ in 0..count {
            events.pop_first().map_err(db_error)?;
        }
        count
    };
    txn.commit().map_err(db_error)?;
    Ok(dropped)
}


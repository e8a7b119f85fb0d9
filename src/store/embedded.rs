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
//! - `expiry` indexes the rows of `bindings` and `sessions` too: the key
//!   prefix tells the sweep which table a row lives in.
//! - `events`: event id → the [`Event`] as JSON. Ids are a `u64` sequence.
//! - `meta`: `next_event_id` → `u64`, the next id to hand out. It is kept
//!   apart from `events` so that trimming old events never lets an id be
//!   reused.
//!
//! redb is synchronous, so every call runs on tokio's blocking pool, and
//! every write transaction commits with [`Durability::Immediate`] (fsync):
//! an `Ok` from [`RevocationStore::apply`] survives a crash. Each trait call
//! is one transaction, which is all the atomicity the contract asks for:
//! redb has a single writer, so concurrent calls are serialised.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    Table, TableDefinition, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{FactKey, LivePage, MirroredKey, RevocationStore, StoreError, live_change};
use crate::config::error::ConfigError;
use crate::domain::{
    BoundFacts, Change, ChangeKinds, Event, EventId, EventPage, FactUpdate, Facts, Issuer, Lookup,
    Owner, Provenance, Reason, Registration, SeenKey, Session, SessionId, SessionRegistration,
    Subject, TokenBinding, TokenId, UnixTime, is_client_actor,
};

mod pending;

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
    /// Work is split into transactions of at most [`SWEEP_BATCH`] removals,
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
    txn.open_table(BINDINGS).map_err(db_error)?;
    txn.open_table(SESSIONS).map_err(db_error)?;
    txn.open_table(SESSION_TOKENS).map_err(db_error)?;
    txn.open_table(OWNED).map_err(db_error)?;
    txn.open_table(OWNED_COUNT).map_err(db_error)?;
    txn.open_table(EVENTS).map_err(db_error)?;
    txn.open_table(KEPT_EVENTS).map_err(db_error)?;
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

/// A table of records: key → `(expires_at, JSON)`.
type RecordTable<'txn> = Table<'txn, &'static str, (i64, &'static [u8])>;

/// The tables that hold something with an expiry (`facts`, `bindings`,
/// `sessions`) and their shared expiry index, opened together so that every
/// change to one of them is made to the index too.
struct FactTables<'txn> {
    facts: Table<'txn, &'static str, (i64, i64)>,
    expiry: Table<'txn, (i64, &'static str), ()>,
    bindings: RecordTable<'txn>,
    sessions: RecordTable<'txn>,
    /// The token ids of each row of `sessions`; kept in step with it.
    session_tokens: Table<'txn, (&'static str, &'static str), ()>,
    /// Each owner's bindings by expiry, and their count: the key volume.
    owned: Table<'txn, (&'static str, i64, &'static str), ()>,
    owned_count: Table<'txn, &'static str, u64>,
}

/// Which record table a key of the expiry index points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    Bindings,
    Sessions,
}

/// Where the row behind an expiry-index key lives. The prefixes are those
/// of [`FactKey::Binding`] and [`FactKey::Registration`]; every other key is
/// a fact.
fn row_of(key: &str) -> Option<Records> {
    if key.starts_with("bnd:") || key.starts_with("sbn:") {
        Some(Records::Bindings)
    } else if key.starts_with("reg:") {
        Some(Records::Sessions)
    } else {
        None
    }
}

/// The JSON of a stored record, decoded; a value this version cannot read
/// is [`StoreError::Corrupt`].
fn decode_record<T: DeserializeOwned>(key: &str, json: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(json)
        .map_err(|err| StoreError::Corrupt(format!("`{key}` cannot be decoded: {err}")))
}

fn encode_record(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::unavailable)
}

/// The record stored under `key` with its expiry, unless it expired at or
/// before `now`.
fn live_record<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, (i64, &'static [u8])>,
    key: &str,
    now: UnixTime,
) -> Result<Option<(i64, T)>, StoreError> {
    let Some(guard) = table.get(key).map_err(db_error)? else {
        return Ok(None);
    };
    let (expires_at, json) = guard.value();
    if expires_at <= now.as_secs() {
        return Ok(None);
    }
    Ok(Some((expires_at, decode_record(key, json)?)))
}

impl<'txn> FactTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            facts: txn.open_table(FACTS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
            bindings: txn.open_table(BINDINGS).map_err(db_error)?,
            sessions: txn.open_table(SESSIONS).map_err(db_error)?,
            session_tokens: txn.open_table(SESSION_TOKENS).map_err(db_error)?,
            owned: txn.open_table(OWNED).map_err(db_error)?,
            owned_count: txn.open_table(OWNED_COUNT).map_err(db_error)?,
        })
    }

    /// Adds `delta` to `owner`'s count of `owned` rows.
    fn count_owned(&mut self, owner: &str, delta: i64) -> Result<(), StoreError> {
        let old = self
            .owned_count
            .get(owner)
            .map_err(db_error)?
            .map_or(0, |g| g.value());
        let new = old.saturating_add_signed(delta);
        if new == 0 {
            self.owned_count.remove(owner).map_err(db_error)?;
        } else {
            self.owned_count.insert(owner, new).map_err(db_error)?;
        }
        Ok(())
    }

    /// Removes `owner`'s rows of `owned` whose binding expired at or before
    /// `now`, so that its count is the live ids. Each row is drained once:
    /// the cost is what expired since the last drain (the sweep drains
    /// every owner each `sweep_interval`), never what the owner holds.
    fn drain_owned(&mut self, owner: &str, now: UnixTime) -> Result<(), StoreError> {
        let end = now.as_secs().saturating_add(1);
        let mut dead = Vec::new();
        for entry in self
            .owned
            .range((owner, i64::MIN, "")..(owner, end, ""))
            .map_err(db_error)?
        {
            let (key, _) = entry.map_err(db_error)?;
            let (_, expires_at, jti) = key.value();
            dead.push((expires_at, jti.to_owned()));
        }
        if dead.is_empty() {
            return Ok(());
        }
        for (expires_at, jti) in &dead {
            self.owned
                .remove((owner, *expires_at, jti.as_str()))
                .map_err(db_error)?;
        }
        self.count_owned(owner, -i64::try_from(dead.len()).unwrap_or(i64::MAX))
    }

    /// Live ids `owner` holds bound; drain first.
    fn owned_held(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(self
            .owned_count
            .get(owner)
            .map_err(db_error)?
            .map_or(0, |g| g.value()))
    }

    /// Records that `owner` binds `jti` until `expires_at` (moving its row
    /// from `old_expires_at` when it held the id already).
    fn own(
        &mut self,
        owner: &str,
        jti: &str,
        old_expires_at: Option<i64>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        if let Some(old) = old_expires_at {
            self.disown(owner, jti, old)?;
        }
        if self
            .owned
            .insert((owner, expires_at, jti), ())
            .map_err(db_error)?
            .is_none()
        {
            self.count_owned(owner, 1)?;
        }
        Ok(())
    }

    /// Forgets `owner`'s row for `jti` (if not drained already).
    fn disown(&mut self, owner: &str, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        if self
            .owned
            .remove((owner, expires_at, jti))
            .map_err(db_error)?
            .is_some()
        {
            self.count_owned(owner, -1)?;
        }
        Ok(())
    }

    fn records(&mut self, which: Records) -> &mut RecordTable<'txn> {
        match which {
            Records::Bindings => &mut self.bindings,
            Records::Sessions => &mut self.sessions,
        }
    }

    /// Stores a record and keeps the expiry index in step.
    fn put_record(
        &mut self,
        which: Records,
        key: &str,
        expires_at: i64,
        json: &[u8],
    ) -> Result<(), StoreError> {
        let old = self
            .records(which)
            .insert(key, (expires_at, json))
            .map_err(db_error)?
            .map(|g| g.value().0);
        if let Some(old_expires_at) = old {
            self.expiry
                .remove((old_expires_at, key))
                .map_err(db_error)?;
        }
        self.expiry
            .insert((expires_at, key), ())
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes a record and its index entry; whether there was one.
    fn delete_record(&mut self, which: Records, key: &str) -> Result<bool, StoreError> {
        let old = self
            .records(which)
            .remove(key)
            .map_err(db_error)?
            .map(|g| g.value().0);
        if let Some(old_expires_at) = old {
            self.expiry
                .remove((old_expires_at, key))
                .map_err(db_error)?;
        }
        Ok(old.is_some())
    }

    /// Removes the row behind an expiry-index key if it is dead for `now`;
    /// whether a row was removed. Used by the sweep only.
    fn remove_if_dead(&mut self, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        match row_of(key) {
            None => {
                // The index and the table change together, but check anyway:
                // deleting a live fact would bring a revoked token back.
                Ok(self.live(key, now)?.is_none()
                    && self.facts.remove(key).map_err(db_error)?.is_some())
            }
            Some(which) => {
                let table = self.records(which);
                let expires_at = table.get(key).map_err(db_error)?.map(|g| g.value().0);
                match expires_at {
                    Some(expires_at) if expires_at <= now.as_secs() => {
                        let removed = table.remove(key).map_err(db_error)?.is_some();
                        if which == Records::Sessions {
                            self.drain_session_tokens(key)?;
                        }
                        Ok(removed)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    /// The token ids recorded for the registration `reg_key`, removing
    /// their rows. Bounded by the per-session cap the rows were written
    /// under.
    fn drain_session_tokens(&mut self, reg_key: &str) -> Result<Vec<String>, StoreError> {
        // Every row of `reg_key` sorts from `(reg_key, "")` on, before any
        // other registration's.
        let mut ids = Vec::new();
        for entry in self
            .session_tokens
            .range((reg_key, "")..)
            .map_err(db_error)?
        {
            let (key, _) = entry.map_err(db_error)?;
            let (owner_key, jti) = key.value();
            if owner_key != reg_key {
                break;
            }
            ids.push(jti.to_owned());
        }
        for jti in &ids {
            self.session_tokens
                .remove((reg_key, jti.as_str()))
                .map_err(db_error)?;
        }
        Ok(ids)
    }

    /// Stores or merges a registration (the rules are on
    /// [`RevocationStore::register_session`]). Reads and checks first, so
    /// that a [`Registration::SessionFull`] writes nothing; every read and
    /// write is a point access, so the cost follows `reg`, not the size of
    /// the session (except once after the session's record expired, when
    /// its leftover rows, at most the cap, are cleared).
    fn register(
        &mut self,
        reg: &SessionRegistration,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        let subject = reg.subject();
        let session = reg.session();
        let owner = reg.owner();
        let expires_at = reg.expires_at().as_secs();
        self.drain_owned(owner.as_ref(), now)?;
        // Plan: (jti, binding key, registered_at, until, the expiry of the
        // owner's live binding) of the ids to bind.
        let mut plan = Vec::with_capacity(reg.token_ids().len());
        for jti in reg.token_ids() {
            let key = FactKey::Binding(jti).encode();
            let old: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
            let (registered_at, until, held_until) = match old {
                Some((old_until, old))
                    if old.subject == subject
                        && old.session == session
                        && old.owner.as_ref() == Some(owner) =>
                {
                    (
                        old.registered_at,
                        old_until.max(expires_at),
                        Some(old_until),
                    )
                }
                // The first binding wins: see the trait docs.
                Some(_) => continue,
                None => (now, expires_at, None),
            };
            plan.push((jti, key, registered_at, until, held_until));
        }
        let record = match &session {
            None => None,
            Some(session) => {
                let key = FactKey::Registration(owner, session).encode();
                let old: Option<(i64, u64)> = live_record(&self.sessions, &key, now)?;
                let (until, held, live) = match old {
                    Some((old_until, held)) => (old_until.max(expires_at), held, true),
                    None => (expires_at, 0, false),
                };
                let mut adding = 0u64;
                for (jti, ..) in &plan {
                    let member = live
                        && self
                            .session_tokens
                            .get((key.as_str(), jti.as_ref()))
                            .map_err(db_error)?
                            .is_some();
                    if !member {
                        adding += 1;
                    }
                }
                let max = reg.max_per_session();
                if usize::try_from(held.saturating_add(adding)).unwrap_or(usize::MAX) > max {
                    return Ok(Registration::SessionFull {
                        held: usize::try_from(held).unwrap_or(usize::MAX),
                        adding: usize::try_from(adding).unwrap_or(usize::MAX),
                        max,
                    });
                }
                Some((key, until, held + adding, live))
            }
        };
        let held = self.owned_held(owner.as_ref())?;
        let adding = plan.iter().filter(|p| p.4.is_none()).count() as u64;
        let max = reg.max_per_key();
        if usize::try_from(held.saturating_add(adding)).unwrap_or(usize::MAX) > max {
            return Ok(Registration::KeyFull {
                held: usize::try_from(held).unwrap_or(usize::MAX),
                adding: usize::try_from(adding).unwrap_or(usize::MAX),
                max,
            });
        }
        for (jti, key, registered_at, until, held_until) in &plan {
            self.own(owner.as_ref(), jti.as_ref(), *held_until, *until)?;
            let binding = TokenBinding {
                subject: subject.clone(),
                session: session.clone(),
                registered_at: *registered_at,
                owner: Some(owner.clone()),
            };
            self.put_record(Records::Bindings, key, *until, &encode_record(&binding)?)?;
        }
        if let Some(session) = &session {
            self.bind_session(session, &subject, expires_at, now)?;
        }
        if let Some((key, until, count, live)) = record {
            if !live {
                // A dead record takes its token ids with it.
                self.drain_session_tokens(&key)?;
            }
            for (jti, ..) in &plan {
                self.session_tokens
                    .insert((key.as_str(), jti.as_ref()), ())
                    .map_err(db_error)?;
            }
            self.put_record(Records::Sessions, &key, until, &encode_record(&count)?)?;
        }
        Ok(Registration::Registered)
    }

    /// Binds a registered session to its subject until `expires_at` (or
    /// later), keeping the first registration instant: like a token id's,
    /// it is never moved forward. The first subject wins, whichever key
    /// registered it; the binding outlives `DELETE /v1/sessions` (the
    /// session still belonged to that subject) and goes at its expiry.
    fn bind_session(
        &mut self,
        session: &Session,
        subject: &Subject,
        expires_at: i64,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let key = FactKey::SessionBinding(session).encode();
        let old: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
        let (registered_at, until) = match old {
            Some((_, old)) if &old.subject != subject => return Ok(()),
            Some((old_until, old)) => (old.registered_at, old_until.max(expires_at)),
            None => (now, expires_at),
        };
        let binding = TokenBinding {
            subject: subject.clone(),
            session: Some(session.clone()),
            registered_at,
            owner: None,
        };
        self.put_record(Records::Bindings, &key, until, &encode_record(&binding)?)
    }

    /// Removes `owner`'s live record of the session and the bindings still
    /// pointing at it from that owner; `None` without a live record, else
    /// the unbound token ids. One transaction: the record holds at most the
    /// per-session cap of ids.
    fn unregister(
        &mut self,
        owner: &Owner,
        session: &Session,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        let key = FactKey::Registration(owner, session).encode();
        if live_record::<u64>(&self.sessions, &key, now)?.is_none() {
            return Ok(None);
        }
        let mut unbound = Vec::new();
        for jti in self.drain_session_tokens(&key)? {
            let binding_key = format!("bnd:{jti}");
            // Expired or not: a binding to this session has no use left.
            let bound_here = match self.bindings.get(binding_key.as_str()).map_err(db_error)? {
                Some(guard) => {
                    let (until, json) = guard.value();
                    let binding: TokenBinding = decode_record(&binding_key, json)?;
                    (binding.session.as_ref() == Some(session)
                        && binding.owner.as_ref() == Some(owner))
                    .then_some(until)
                }
                None => None,
            };
            if let Some(until) = bound_here {
                self.delete_record(Records::Bindings, &binding_key)?;
                self.disown(owner.as_ref(), &jti, until)?;
                unbound.push(TokenId::parse(jti).map_err(|err| {
                    StoreError::Corrupt(format!("`{key}` holds a bad token id: {err}"))
                })?);
            }
        }
        self.delete_record(Records::Sessions, &key)?;
        Ok(Some(unbound))
    }

    /// Whether `jti` has a live binding that `owner` did not make.
    fn bound_by_another(
        &self,
        jti: &TokenId,
        owner: &Owner,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let key = FactKey::Binding(jti).encode();
        let binding: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
        Ok(binding.is_some_and(|(_, b)| b.owner.as_ref() != Some(owner)))
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
            Change::TokensRevoked { jtis, expires_at } => {
                for jti in jtis {
                    self.raise(
                        &FactKey::Token(jti).encode(),
                        Fact::revocation(expires_at.as_secs()),
                        now,
                    )?;
                }
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
                self.raise(
                    &FactKey::SubjectDisabled(subject).encode(),
                    Fact::revocation(until),
                    now,
                )?;
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
    let event = append_event(&txn, change, provenance, now)?;
    txn.commit().map_err(db_error)?;
    Ok(event)
}

/// [`apply_in_transaction`] unless the seen-marker `(key, expires_at)` is
/// live; the marker is written in the same transaction as the change, so
/// neither exists without the other.
fn apply_once_in_transaction(
    db: &Database,
    (marker, marker_expires_at): &(String, UnixTime),
    change: Change,
    provenance: Provenance,
    now: UnixTime,
) -> Result<Option<Event>, StoreError> {
    let txn = begin_write(db)?;
    {
        let mut tables = FactTables::open(&txn)?;
        if tables.live(marker, now)?.is_some() {
            drop(tables);
            txn.abort().map_err(db_error)?;
            return Ok(None);
        }
        tables.apply(&change, now)?;
        tables.put(marker, Fact::revocation(marker_expires_at.as_secs()))?;
    }
    let event = append_event(&txn, change, provenance, now)?;
    txn.commit().map_err(db_error)?;
    Ok(Some(event))
}

/// A registration, or its refusal with the born-revoked tokens and their
/// events, in one durable transaction.
fn register_in_transaction(
    db: &Database,
    reg: &SessionRegistration,
    provenance: Provenance,
    now: UnixTime,
) -> Result<Registration, StoreError> {
    let txn = begin_write(db)?;
    let outcome = {
        let mut tables = FactTables::open(&txn)?;
        match refusal(&tables, reg, now)? {
            None => tables.register(reg, now)?,
            Some(reason) => {
                let mut jtis = Vec::with_capacity(reg.token_ids().len());
                for jti in reg.token_ids() {
                    // Only an admin revokes what another app holds.
                    if !tables.bound_by_another(jti, reg.owner(), now)? {
                        jtis.push(jti.clone());
                    }
                }
                let event = if jtis.is_empty() {
                    None
                } else {
                    let change = Change::TokensRevoked {
                        jtis,
                        expires_at: reg.expires_at(),
                    };
                    tables.apply(&change, now)?;
                    Some(append_event(&txn, change, provenance, now)?)
                };
                Registration::Refused { reason, event }
            }
        }
    };
    if matches!(
        outcome,
        Registration::SessionFull { .. } | Registration::KeyFull { .. }
    ) {
        txn.abort().map_err(db_error)?;
    } else {
        txn.commit().map_err(db_error)?;
    }
    Ok(outcome)
}

/// Why `reg` may not be registered at `now`, if it may not: the session's
/// tombstone first, then the subject's disable.
fn refusal(
    tables: &FactTables<'_>,
    reg: &SessionRegistration,
    now: UnixTime,
) -> Result<Option<Reason>, StoreError> {
    if let Some(session) = reg.session()
        && tables
            .live(&FactKey::Session(&session).encode(), now)?
            .is_some()
    {
        return Ok(Some(Reason::SessionRevoked));
    }
    let subject = reg.subject();
    if tables
        .live(&FactKey::SubjectDisabled(&subject).encode(), now)?
        .is_some()
    {
        return Ok(Some(Reason::SubjectDisabled));
    }
    Ok(None)
}

fn unregister_in_transaction(
    db: &Database,
    owner: &Owner,
    session: &Session,
    now: UnixTime,
) -> Result<Option<Vec<TokenId>>, StoreError> {
    let txn = begin_write(db)?;
    let unbound = FactTables::open(&txn)?.unregister(owner, session, now)?;
    if unbound.is_some() {
        txn.commit().map_err(db_error)?;
    } else {
        txn.abort().map_err(db_error)?;
    }
    Ok(unbound)
}

/// Records `change` as the next event of `txn`.
fn append_event(
    txn: &WriteTransaction,
    change: Change,
    provenance: Provenance,
    now: UnixTime,
) -> Result<Event, StoreError> {
    let id = take_event_id(txn)?;
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
    if !is_client_actor(&event.actor) {
        txn.open_table(KEPT_EVENTS)
            .map_err(db_error)?
            .insert(id, json.as_slice())
            .map_err(db_error)?;
    }
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

/// Mirrored facts read per snapshot batch.
const SNAPSHOT_BATCH: usize = 10_000;

/// The update that makes a mirror hold what `facts` holds under `key`.
fn fact_state(
    facts: &impl ReadableTable<&'static str, (i64, i64)>,
    key: &MirroredKey,
) -> Result<FactUpdate, StoreError> {
    let stored = facts
        .get(key.encode().as_str())
        .map_err(db_error)?
        .map(|guard| guard.value());
    Ok(fact_update(key, stored))
}

/// A fact row (`(expires_at, payload)`, `None` when absent) as an update;
/// absence removes (or expires) the mirrored entry.
fn fact_update(key: &MirroredKey, stored: Option<(i64, i64)>) -> FactUpdate {
    let (expires_at, payload) = stored.unwrap_or((0, 0));
    let at = UnixTime::from_secs;
    match key {
        MirroredKey::Token(jti) => FactUpdate::Token {
            jti: jti.clone(),
            expires_at: at(expires_at),
        },
        MirroredKey::Session(session) => FactUpdate::Session {
            session: session.clone(),
            expires_at: at(expires_at),
        },
        MirroredKey::SubjectDisabled(subject) => match stored {
            None => FactUpdate::SubjectEnabled {
                subject: subject.clone(),
            },
            Some(_) => FactUpdate::SubjectDisabled {
                subject: subject.clone(),
                expires_at: (expires_at != NEVER).then(|| at(expires_at)),
            },
        },
        MirroredKey::SubjectRevokedBefore(subject) => FactUpdate::SubjectRevokedBefore {
            subject: subject.clone(),
            before: at(payload),
            expires_at: at(expires_at),
        },
        MirroredKey::Binding(jti) => FactUpdate::Unbound { jti: jti.clone() },
        MirroredKey::SessionBinding(session) => FactUpdate::SessionUnbound {
            session: session.clone(),
        },
    }
}

/// A row of `bindings` as an update: a token id's binding, or a session's.
fn bindings_row_update(
    key: &MirroredKey,
    expires_at: i64,
    binding: TokenBinding,
) -> Result<FactUpdate, StoreError> {
    match key {
        MirroredKey::Binding(jti) => Ok(binding_update(jti, expires_at, binding)),
        MirroredKey::SessionBinding(session) => Ok(FactUpdate::SessionBound {
            session: session.clone(),
            subject: binding.subject,
            registered_at: binding.registered_at,
            expires_at: UnixTime::from_secs(expires_at),
        }),
        other => Err(StoreError::Corrupt(format!(
            "`{}` is not a binding key",
            other.encode()
        ))),
    }
}

/// A binding row as an update.
fn binding_update(jti: &TokenId, expires_at: i64, binding: TokenBinding) -> FactUpdate {
    FactUpdate::Binding {
        jti: jti.clone(),
        session: binding.session,
        subject: binding.subject,
        registered_at: binding.registered_at,
        expires_at: UnixTime::from_secs(expires_at),
    }
}

/// The current state of each key, in one read transaction.
fn read_states(db: &Database, keys: &[MirroredKey]) -> Result<Vec<FactUpdate>, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let bindings = txn.open_table(BINDINGS).map_err(db_error)?;
    keys.iter()
        .map(|key| match key {
            MirroredKey::Binding(_) | MirroredKey::SessionBinding(_) => {
                let name = key.encode();
                match bindings.get(name.as_str()).map_err(db_error)? {
                    Some(guard) => {
                        let (expires_at, json) = guard.value();
                        let binding: TokenBinding = decode_record(&name, json)?;
                        bindings_row_update(key, expires_at, binding)
                    }
                    None => Ok(fact_update(key, None)),
                }
            }
            other => fact_state(&facts, other),
        })
        .collect()
}

/// Every mirrored fact, in batches, from one read transaction (one
/// consistent snapshot).
fn snapshot(
    db: &Database,
    sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
    for row in facts.iter().map_err(db_error)? {
        let (name, value) = row.map_err(db_error)?;
        if let Some(key) = MirroredKey::decode(name.value()) {
            batch.push(fact_update(&key, Some(value.value())));
        }
        if batch.len() == SNAPSHOT_BATCH {
            sink(std::mem::take(&mut batch));
        }
    }
    let bindings = txn.open_table(BINDINGS).map_err(db_error)?;
    for row in bindings.iter().map_err(db_error)? {
        let (name, value) = row.map_err(db_error)?;
        let name = name.value();
        let Some(key) = MirroredKey::decode(name) else {
            return Err(StoreError::Corrupt(format!(
                "`{name}` is not a binding key"
            )));
        };
        let (expires_at, json) = value.value();
        batch.push(bindings_row_update(
            &key,
            expires_at,
            decode_record(name, json)?,
        )?);
        if batch.len() == SNAPSHOT_BATCH {
            sink(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
    Ok(())
}

/// A live-set cursor: the hex of the last fact key of the previous page,
/// so that it is opaque and URL-safe.
fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| MirroredKey::decode(key).is_some())
        .ok_or(StoreError::InvalidCursor)
}

/// Live revocations of `kinds` in key order, strictly after `after`.
fn read_live_page(
    db: &Database,
    after: Option<String>,
    limit: usize,
    kinds: ChangeKinds,
    now: UnixTime,
) -> Result<LivePage, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let mut from = after.map(Bound::Excluded);
    let mut revocations = Vec::new();
    // Keys sort by namespace (`tok:`, `ses:`, ...): a namespace this page
    // does not want is skipped whole, with a new range after its last key.
    loop {
        let lower = from
            .as_ref()
            .map_or(Bound::Unbounded, |b| b.as_ref().map(String::as_str));
        let mut skip_to = None;
        for row in facts
            .range::<&str>((lower, Bound::Unbounded))
            .map_err(db_error)?
        {
            let (name, value) = row.map_err(db_error)?;
            let name = name.value();
            if !MirroredKey::live_kind(name).is_some_and(|kind| kinds.contains(kind)) {
                let namespace = name.split_once(':').map_or(name, |(ns, _)| ns);
                skip_to = Some(format!("{namespace};"));
                break;
            }
            let Some(key) = MirroredKey::decode(name) else {
                continue;
            };
            if let Some(change) = live_change(fact_update(&key, Some(value.value())), now) {
                revocations.push(change);
                if revocations.len() == limit {
                    return Ok(LivePage {
                        revocations,
                        next: Some(hex::encode(name)),
                    });
                }
            }
        }
        match skip_to {
            Some(next) => from = Some(Bound::Included(next)),
            None => {
                return Ok(LivePage {
                    revocations,
                    next: None,
                });
            }
        }
    }
}

/// The encoded keys of a [`Lookup`], owned so they can move to the blocking
/// pool.
struct LookupKeys {
    token: Option<String>,
    binding: Option<String>,
    session_binding: Option<String>,
    session: Option<String>,
    disabled: Option<String>,
    revoked_before: Option<String>,
}

impl LookupKeys {
    fn new(lookup: &Lookup<'_>) -> Self {
        Self {
            token: lookup.jti.map(|jti| FactKey::Token(jti).encode()),
            binding: lookup.jti.map(|jti| FactKey::Binding(jti).encode()),
            session_binding: lookup.session.map(|s| FactKey::SessionBinding(s).encode()),
            session: lookup.session.map(|s| FactKey::Session(s).encode()),
            disabled: lookup.subject.map(|s| FactKey::SubjectDisabled(s).encode()),
            revoked_before: lookup
                .subject
                .map(|s| FactKey::SubjectRevokedBefore(s).encode()),
        }
    }
}

/// The facts of a lookup, and those of a live binding of its token id, in
/// one read transaction (one consistent snapshot).
fn read_facts(db: &Database, keys: &LookupKeys, now: UnixTime) -> Result<Facts, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let live = |key: Option<&str>| match key {
        Some(key) => live_fact(&facts, key, now),
        None => Ok(None),
    };
    let mark = |key: Option<&str>| {
        live(key).map(|mark| mark.map(|mark| UnixTime::from_secs(mark.payload)))
    };
    let bindings = match (&keys.binding, &keys.session_binding) {
        (None, None) => None,
        _ => Some(txn.open_table(BINDINGS).map_err(db_error)?),
    };
    let binding = |key: Option<&String>| match (key, &bindings) {
        (Some(key), Some(bindings)) => live_record::<TokenBinding>(bindings, key, now),
        _ => Ok(None),
    };
    // The facts of a binding's subject, and of its session when
    // `with_session` (a session binding's session is the one looked up).
    let bound_facts = |binding: TokenBinding, with_session: bool| -> Result<_, StoreError> {
        let session = binding
            .session
            .as_ref()
            .filter(|_| with_session)
            .map(|s| FactKey::Session(s).encode());
        let subject: &Subject = &binding.subject;
        Ok(BoundFacts {
            session_revoked: live(session.as_deref())?.is_some(),
            subject_disabled: live(Some(&FactKey::SubjectDisabled(subject).encode()))?.is_some(),
            subject_revoked_before: mark(Some(&FactKey::SubjectRevokedBefore(subject).encode()))?,
            registered_at: binding.registered_at,
        })
    };
    let bound = binding(keys.binding.as_ref())?
        .map(|(_, b)| bound_facts(b, true))
        .transpose()?;
    let session_bound = binding(keys.session_binding.as_ref())?
        .map(|(_, b)| bound_facts(b, false))
        .transpose()?;
    Ok(Facts {
        token_revoked: live(keys.token.as_deref())?.is_some(),
        session_revoked: live(keys.session.as_deref())?.is_some(),
        subject_disabled: live(keys.disabled.as_deref())?.is_some(),
        subject_revoked_before: mark(keys.revoked_before.as_deref())?,
        bound,
        session_bound,
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

/// The newest `limit` events before `before`, from the log and the kept
/// copies merged (an event in both once): what the sweep trimmed from the
/// log is still found among the kept ones.
fn read_events(db: &Database, before: Option<u64>, limit: usize) -> Result<Vec<Event>, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let newest = |table: TableDefinition<u64, &[u8]>| -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let events = txn.open_table(table).map_err(db_error)?;
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
                Ok((id.value(), json.value().to_vec()))
            })
            .collect()
    };
    let mut merged = newest(EVENTS)?;
    merged.extend(newest(KEPT_EVENTS)?);
    merged.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
    merged.dedup_by_key(|(id, _)| *id);
    merged
        .into_iter()
        .take(limit)
        .map(|(id, json)| decode_event(id, &json))
        .collect()
}

/// Events after `after`, oldest first; `None` when some of them were
/// trimmed or `after` was never handed out (see
/// [`RevocationStore::events_after`]). Ids are a gapless sequence, so the
/// first retained id tells whether anything after `after` is gone.
fn read_events_after(
    db: &Database,
    after: u64,
    limit: usize,
) -> Result<Option<Vec<Event>>, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let next = match txn.open_table(META) {
        Ok(meta) => meta
            .get(NEXT_EVENT_ID)
            .map_err(db_error)?
            .map_or(1, |g| g.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => 1,
        Err(err) => return Err(db_error(err)),
    };
    if after >= next {
        return Ok(None);
    }
    let events = txn.open_table(EVENTS).map_err(db_error)?;
    let first = events
        .first()
        .map_err(db_error)?
        .map_or(next, |(id, _)| id.value());
    if after.saturating_add(1) < first {
        return Ok(None);
    }
    events
        .range(after.saturating_add(1)..)
        .map_err(db_error)?
        .take(limit)
        .map(|entry| {
            let (id, json) = entry.map_err(db_error)?;
            decode_event(id.value(), json.value())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
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
            if tables.remove_if_dead(&key, now)? {
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

/// Drains every owner's expired rows of `owned` (see
/// [`FactTables::drain_owned`]), one transaction per owner.
fn sweep_owned(db: &Database, now: UnixTime) -> Result<(), StoreError> {
    let owners: Vec<String> = {
        let txn = db.begin_read().map_err(db_error)?;
        let counts = txn.open_table(OWNED_COUNT).map_err(db_error)?;
        counts
            .iter()
            .map_err(db_error)?
            .map(|entry| Ok(entry.map_err(db_error)?.0.value().to_owned()))
            .collect::<Result<_, StoreError>>()?
    };
    for owner in owners {
        let txn = begin_write(db)?;
        FactTables::open(&txn)?.drain_owned(&owner, now)?;
        txn.commit().map_err(db_error)?;
    }
    Ok(())
}

/// Live token ids `owner` holds bound at `now`: its count, less the rows
/// that expired and are not drained yet.
fn read_token_ids_held(db: &Database, owner: &str, now: UnixTime) -> Result<usize, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let counts = txn.open_table(OWNED_COUNT).map_err(db_error)?;
    let owned = txn.open_table(OWNED).map_err(db_error)?;
    let count = counts
        .get(owner)
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    let end = now.as_secs().saturating_add(1);
    let mut dead = 0u64;
    for entry in owned
        .range((owner, i64::MIN, "")..(owner, end, ""))
        .map_err(db_error)?
    {
        entry.map_err(db_error)?;
        dead += 1;
    }
    Ok(usize::try_from(count.saturating_sub(dead)).unwrap_or(usize::MAX))
}

/// Drops the oldest events of `table` beyond `max_events`, one batch at a
/// time.
fn trim_events(
    db: &Database,
    table: TableDefinition<u64, &[u8]>,
    max_events: u64,
) -> Result<(), StoreError> {
    while trim_events_batch(db, table, max_events)? == SWEEP_BATCH {}
    Ok(())
}

/// Drops up to [`SWEEP_BATCH`] of the oldest events beyond `max_events`.
/// Returns how many it dropped.
fn trim_events_batch(
    db: &Database,
    table: TableDefinition<u64, &[u8]>,
    max_events: u64,
) -> Result<usize, StoreError> {
    let txn = begin_write(db)?;
    let dropped = {
        let mut events = txn.open_table(table).map_err(db_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Note, RegistrationLimits, SubjectId};

    const ISS: &str = "https://idp.example";

    fn settings(dir: &Path, max_events: u64) -> EmbeddedSettings {
        EmbeddedSettings {
            path: dir.to_owned(),
            sweep_interval: Duration::from_secs(60),
            max_events,
            max_admin_events: max_events,
        }
    }

    fn open(dir: &Path) -> EmbeddedStore {
        EmbeddedStore::open(&settings(dir, 1000)).unwrap()
    }

    fn t(secs: i64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    fn jti(id: &str) -> TokenId {
        TokenId::parse(id).unwrap()
    }

    fn session(iss: &str, sid: &str) -> Session {
        Session {
            iss: Issuer::parse(iss).unwrap(),
            sid: SessionId::parse(sid).unwrap(),
        }
    }

    fn subject(iss: &str, sub: &str) -> Subject {
        Subject {
            iss: Issuer::parse(iss).unwrap(),
            sub: SubjectId::parse(sub).unwrap(),
        }
    }

    fn admin() -> Provenance {
        Provenance {
            actor: "admin:ops".into(),
            reason: None,
        }
    }

    fn token_revoked(id: &str, expires_at: i64) -> Change {
        Change::TokenRevoked {
            jti: jti(id),
            expires_at: t(expires_at),
        }
    }

    fn session_revoked(sid: &str, expires_at: i64) -> Change {
        Change::SessionRevoked {
            session: session(ISS, sid),
            expires_at: t(expires_at),
        }
    }

    fn disabled(sub: &str, expires_at: Option<i64>) -> Change {
        Change::SubjectDisabled {
            subject: subject(ISS, sub),
            expires_at: expires_at.map(t),
        }
    }

    fn enabled(sub: &str) -> Change {
        Change::SubjectEnabled {
            subject: subject(ISS, sub),
        }
    }

    fn revoked_before(sub: &str, before: i64, expires_at: i64) -> Change {
        Change::SubjectRevokedBefore {
            subject: subject(ISS, sub),
            before: t(before),
            expires_at: t(expires_at),
        }
    }

    async fn apply(store: &EmbeddedStore, change: Change, now: i64) -> Event {
        store.apply(change, admin(), t(now)).await.unwrap()
    }

    async fn token_facts(store: &EmbeddedStore, id: &str, now: i64) -> Facts {
        let id = jti(id);
        store
            .lookup(
                Lookup {
                    jti: Some(&id),
                    ..Lookup::default()
                },
                t(now),
            )
            .await
            .unwrap()
    }

    async fn session_facts(store: &EmbeddedStore, sid: &str, now: i64) -> Facts {
        let session = session(ISS, sid);
        store
            .lookup(
                Lookup {
                    session: Some(&session),
                    ..Lookup::default()
                },
                t(now),
            )
            .await
            .unwrap()
    }

    async fn subject_facts_of(store: &EmbeddedStore, subject: &Subject, now: i64) -> Facts {
        store
            .lookup(
                Lookup {
                    subject: Some(subject),
                    ..Lookup::default()
                },
                t(now),
            )
            .await
            .unwrap()
    }

    async fn subject_facts(store: &EmbeddedStore, sub: &str, now: i64) -> Facts {
        subject_facts_of(store, &subject(ISS, sub), now).await
    }

    async fn event_ids(store: &EmbeddedStore, before: Option<&str>, limit: usize) -> Vec<String> {
        let page = EventPage {
            before: before.map(|b| EventId(b.into())),
            limit,
        };
        store
            .events(&page)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id.0)
            .collect()
    }

    /// Rows in `facts` and in the expiry index, read straight from the file.
    fn stored_rows(store: &EmbeddedStore) -> (u64, u64) {
        let txn = store.inner.db.begin_read().unwrap();
        let facts = txn.open_table(FACTS).unwrap().len().unwrap();
        let index = txn.open_table(EXPIRY).unwrap().len().unwrap();
        (facts, index)
    }

    // --- opening -----------------------------------------------------------

    #[test]
    fn store_is_clone_send_sync() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<EmbeddedStore>();
    }

    #[tokio::test]
    async fn open_creates_missing_directories_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");

        let store = open(&nested);

        assert!(nested.join(FILE_NAME).is_file());
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn a_file_already_open_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path());

        let Err(err) = EmbeddedStore::open(&settings(dir.path(), 10)) else {
            panic!("a second open of a locked file succeeded");
        };

        let source = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(source.contains("in use by another process"), "{source}");
        assert!(source.contains(FILE_NAME), "{source}");
        drop(first);
        assert!(
            EmbeddedStore::open(&settings(dir.path(), 10)).is_ok(),
            "the lock outlived the store"
        );
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            b"not a redb file, just some text",
        )
        .unwrap();

        let result = EmbeddedStore::open(&settings(dir.path(), 10));

        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{:?}",
            result.err()
        );
    }

    #[tokio::test]
    async fn ping_answers_on_an_open_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        assert!(store.ping().await.is_ok());
    }

    // --- each change kind --------------------------------------------------

    #[tokio::test]
    async fn token_revocation_is_reported_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, token_revoked("t1", 200), 100).await;

        assert!(token_facts(&store, "t1", 100).await.token_revoked);
        assert!(token_facts(&store, "t1", 199).await.token_revoked);
        assert!(
            !token_facts(&store, "t1", 200).await.token_revoked,
            "expires_at <= now must not be reported"
        );
        assert!(
            !token_facts(&store, "t2", 100).await.token_revoked,
            "another token is not revoked"
        );
    }

    #[tokio::test]
    async fn session_revocation_is_reported_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, session_revoked("s1", 200), 100).await;

        assert!(session_facts(&store, "s1", 199).await.session_revoked);
        assert!(!session_facts(&store, "s1", 200).await.session_revoked);
        assert!(!session_facts(&store, "s2", 100).await.session_revoked);
    }

    #[tokio::test]
    async fn token_and_session_revocations_keep_the_later_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, token_revoked("long-first", 500), 100).await;
        apply(&store, token_revoked("long-first", 200), 100).await;
        apply(&store, token_revoked("short-first", 200), 100).await;
        apply(&store, token_revoked("short-first", 500), 100).await;
        apply(&store, session_revoked("s", 500), 100).await;
        apply(&store, session_revoked("s", 200), 100).await;

        for id in ["long-first", "short-first"] {
            assert!(
                token_facts(&store, id, 499).await.token_revoked,
                "{id} at 499"
            );
            assert!(
                !token_facts(&store, id, 500).await.token_revoked,
                "{id} at 500"
            );
        }
        assert!(session_facts(&store, "s", 499).await.session_revoked);
        assert!(!session_facts(&store, "s", 500).await.session_revoked);
    }

    #[tokio::test]
    async fn revoked_before_is_reported_with_its_instant_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, revoked_before("alice", 90, 300), 100).await;

        assert_eq!(
            subject_facts(&store, "alice", 299)
                .await
                .subject_revoked_before,
            Some(t(90))
        );
        assert_eq!(
            subject_facts(&store, "alice", 300)
                .await
                .subject_revoked_before,
            None
        );
        assert!(!subject_facts(&store, "alice", 299).await.subject_disabled);
    }

    #[tokio::test]
    async fn revoked_before_only_moves_forward_and_keeps_the_later_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, revoked_before("alice", 100, 1000), 100).await;
        apply(&store, revoked_before("alice", 50, 2000), 110).await;
        assert_eq!(
            subject_facts(&store, "alice", 1500)
                .await
                .subject_revoked_before,
            Some(t(100))
        );

        apply(&store, revoked_before("alice", 150, 500), 120).await;
        assert_eq!(
            subject_facts(&store, "alice", 130)
                .await
                .subject_revoked_before,
            Some(t(150))
        );
        assert_eq!(
            subject_facts(&store, "alice", 1999)
                .await
                .subject_revoked_before,
            Some(t(150))
        );
        assert_eq!(
            subject_facts(&store, "alice", 2000)
                .await
                .subject_revoked_before,
            None
        );
    }

    #[tokio::test]
    async fn an_expired_mark_does_not_lend_its_instant_to_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, revoked_before("alice", 500, 200), 100).await;

        // At 300 the old mark is dead, though not swept.
        apply(&store, revoked_before("alice", 250, 1000), 300).await;

        assert_eq!(
            subject_facts(&store, "alice", 400)
                .await
                .subject_revoked_before,
            Some(t(250))
        );
    }

    #[tokio::test]
    async fn a_disable_without_expiry_lasts_and_sets_no_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, disabled("alice", None), 100).await;

        let facts = subject_facts(&store, "alice", 1_000_000).await;
        assert!(facts.subject_disabled, "a disable without expiry lasts");
        assert_eq!(facts.subject_revoked_before, None);
    }

    #[tokio::test]
    async fn a_disable_with_an_expiry_ends_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, disabled("alice", Some(300)), 100).await;

        let live = subject_facts(&store, "alice", 299).await;
        assert!(live.subject_disabled);
        assert_eq!(subject_facts(&store, "alice", 300).await, Facts::default());
    }

    #[tokio::test]
    async fn disabling_leaves_an_existing_mark_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, revoked_before("alice", 500, 1000), 100).await;

        apply(&store, disabled("alice", Some(300)), 200).await;

        let facts = subject_facts(&store, "alice", 600).await;
        assert!(!facts.subject_disabled, "the disable expired");
        assert_eq!(
            facts.subject_revoked_before,
            Some(t(500)),
            "the mark is untouched"
        );
    }

    #[tokio::test]
    async fn a_second_disable_does_not_shorten_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        apply(&store, disabled("alice", None), 100).await;
        apply(&store, disabled("alice", Some(300)), 200).await;

        let facts = subject_facts(&store, "alice", 10_000).await;
        assert!(facts.subject_disabled, "a permanent disable wins");
    }

    #[tokio::test]
    async fn enabling_removes_the_disable_and_keeps_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, revoked_before("alice", 100, 1000), 100).await;
        apply(&store, disabled("alice", Some(1000)), 100).await;

        apply(&store, enabled("alice"), 200).await;

        let facts = subject_facts(&store, "alice", 201).await;
        assert!(!facts.subject_disabled);
        assert_eq!(facts.subject_revoked_before, Some(t(100)));
    }

    #[tokio::test]
    async fn enabling_a_subject_that_is_not_disabled_is_recorded_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        let event = apply(&store, enabled("alice"), 100).await;

        assert_eq!(event.change, enabled("alice"));
        assert_eq!(subject_facts(&store, "alice", 100).await, Facts::default());
        assert_eq!(stored_rows(&store), (0, 0));
    }

    #[tokio::test]
    async fn one_lookup_reports_every_kind_of_fact() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, token_revoked("t1", 500), 100).await;
        apply(&store, session_revoked("s1", 500), 100).await;
        apply(&store, disabled("alice", Some(500)), 100).await;
        apply(&store, revoked_before("alice", 100, 500), 100).await;
        let (id, session, subject) = (jti("t1"), session(ISS, "s1"), subject(ISS, "alice"));

        let facts = store
            .lookup(
                Lookup {
                    jti: Some(&id),
                    session: Some(&session),
                    subject: Some(&subject),
                },
                t(150),
            )
            .await
            .unwrap();

        assert_eq!(
            facts,
            Facts {
                token_revoked: true,
                session_revoked: true,
                subject_disabled: true,
                subject_revoked_before: Some(t(100)),
                bound: None,
                session_bound: None,
            }
        );
    }

    #[tokio::test]
    async fn the_same_sub_or_sid_at_two_issuers_does_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let (a, b) = (
            subject("https://a.example", "alice"),
            subject("https://b.example", "alice"),
        );

        store
            .apply(
                Change::SubjectDisabled {
                    subject: a.clone(),
                    expires_at: None,
                },
                admin(),
                t(100),
            )
            .await
            .unwrap();
        let a_session = session("https://a.example", "s1");
        let change = Change::SessionRevoked {
            session: a_session.clone(),
            expires_at: t(500),
        };
        store.apply(change, admin(), t(100)).await.unwrap();

        assert!(subject_facts_of(&store, &a, 150).await.subject_disabled);
        assert_eq!(subject_facts_of(&store, &b, 150).await, Facts::default());
        let b_session = session("https://b.example", "s1");
        let lookup = |s| Lookup {
            session: Some(s),
            ..Lookup::default()
        };
        assert!(
            store
                .lookup(lookup(&a_session), t(150))
                .await
                .unwrap()
                .session_revoked
        );
        assert!(
            !store
                .lookup(lookup(&b_session), t(150))
                .await
                .unwrap()
                .session_revoked
        );
    }

    // --- events ------------------------------------------------------------

    #[tokio::test]
    async fn apply_returns_the_recorded_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let provenance = Provenance {
            actor: "client:ha".into(),
            reason: Some(Note::parse("lost phone").unwrap()),
        };

        let event = store
            .apply(token_revoked("t1", 500), provenance, t(100))
            .await
            .unwrap();

        assert_eq!(event.at, t(100));
        assert_eq!(event.change, token_revoked("t1", 500));
        assert_eq!(event.actor, "client:ha");
        assert_eq!(event.reason.as_ref().map(AsRef::as_ref), Some("lost phone"));
        let page = store
            .events(&EventPage {
                before: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(page, vec![event]);
    }

    #[tokio::test]
    async fn event_ids_are_decimal_and_strictly_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                apply(&store, token_revoked(&format!("t{i}"), 500), 100)
                    .await
                    .id
                    .0
                    .parse::<u64>()
                    .unwrap(),
            );
        }

        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[tokio::test]
    async fn concurrent_applies_get_distinct_ids_and_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());

        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .apply(token_revoked(&format!("t{i}"), 500), admin(), t(100))
                        .await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().unwrap().id.0);
        }

        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16);
        assert_eq!(event_ids(&store, None, 100).await.len(), 16);
        for i in 0..16 {
            assert!(
                token_facts(&store, &format!("t{i}"), 100)
                    .await
                    .token_revoked,
                "t{i}"
            );
        }
    }

    #[tokio::test]
    async fn events_after_know_exactly_what_was_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..5 {
            apply(&store, token_revoked(&format!("t{i}"), 500), 100 + i).await;
        }
        trim_events(&store.inner.db, EVENTS, 2).unwrap();
        let store = &store;
        let after =
            |id: &'static str| async move { store.events_after(&EventId(id.to_owned()), 10).await };
        let ids = |events: Option<Vec<Event>>| {
            events.map(|e| e.into_iter().map(|e| e.id.0).collect::<Vec<_>>())
        };

        // 4 and 5 remain; ids are gapless, so a consumer at 3 missed nothing.
        assert_eq!(
            ids(after("3").await.unwrap()),
            Some(vec!["4".into(), "5".into()])
        );
        assert_eq!(after("2").await.unwrap(), None, "3 was trimmed");
        assert_eq!(after("0").await.unwrap(), None);
        assert_eq!(after("6").await.unwrap(), None, "never handed out");
        assert_eq!(ids(after("5").await.unwrap()), Some(vec![]));
    }

    #[tokio::test]
    async fn events_after_the_beginning_of_an_empty_log_are_none_yet() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert_eq!(
            store.events_after(&EventId("0".into()), 10).await.unwrap(),
            Some(vec![])
        );
        assert_eq!(
            store.events_after(&EventId("1".into()), 10).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn events_page_newest_first_strictly_before_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..5 {
            apply(&store, token_revoked(&format!("t{i}"), 500), 100 + i).await;
        }

        assert_eq!(event_ids(&store, None, 2).await, ["5", "4"]);
        assert_eq!(event_ids(&store, Some("4"), 2).await, ["3", "2"]);
        assert_eq!(event_ids(&store, Some("2"), 2).await, ["1"]);
        assert!(event_ids(&store, Some("1"), 2).await.is_empty());
        assert!(event_ids(&store, None, 0).await.is_empty());
        assert_eq!(
            event_ids(&store, Some("99"), 10).await.len(),
            5,
            "a cursor past the newest reads everything"
        );
    }

    #[tokio::test]
    async fn a_cursor_that_is_not_an_event_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, token_revoked("t1", 500), 100).await;

        for cursor in [
            "",
            "abc",
            "-1",
            "+1",
            "01",
            " 1",
            "1.0",
            "18446744073709551616",
            "1-0",
        ] {
            let page = EventPage {
                before: Some(EventId(cursor.into())),
                limit: 10,
            };
            let result = store.events(&page).await;
            assert!(
                matches!(result, Err(StoreError::InvalidCursor)),
                "cursor {cursor:?}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_undecodable_event_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let txn = store.inner.db.begin_write().unwrap();
        txn.open_table(EVENTS)
            .unwrap()
            .insert(1, b"{not json".as_slice())
            .unwrap();
        txn.commit().unwrap();

        let result = store
            .events(&EventPage {
                before: None,
                limit: 10,
            })
            .await;

        assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
    }

    // --- sweep -------------------------------------------------------------

    #[tokio::test]
    async fn sweep_removes_expired_facts_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, token_revoked("gone", 150), 100).await;
        apply(&store, session_revoked("gone", 200), 100).await;
        apply(&store, token_revoked("kept", 201), 100).await;
        apply(&store, disabled("alice", None), 100).await;
        assert_eq!(stored_rows(&store), (4, 4));

        let removed = store.sweep(t(200)).await.unwrap();

        assert_eq!(removed, 2);
        assert_eq!(stored_rows(&store), (2, 2));
        assert!(token_facts(&store, "kept", 200).await.token_revoked);
        assert!(subject_facts(&store, "alice", 200).await.subject_disabled);
        assert_eq!(
            store.sweep(t(200)).await.unwrap(),
            0,
            "a second sweep finds nothing"
        );
    }

    #[tokio::test]
    async fn sweep_follows_a_raised_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, token_revoked("t1", 150), 100).await;
        apply(&store, token_revoked("t1", 300), 100).await;

        assert_eq!(store.sweep(t(200)).await.unwrap(), 0);
        assert!(token_facts(&store, "t1", 200).await.token_revoked);
        assert_eq!(
            stored_rows(&store),
            (1, 1),
            "the old index entry was replaced"
        );
        assert_eq!(store.sweep(t(300)).await.unwrap(), 1);
        assert_eq!(stored_rows(&store), (0, 0));
    }

    #[tokio::test]
    async fn sweep_clears_more_than_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let count = SWEEP_BATCH + 10;
        let txn = begin_write(&store.inner.db).unwrap();
        {
            let mut tables = FactTables::open(&txn).unwrap();
            for i in 0..count {
                tables
                    .put(&format!("tok:{i}"), Fact::revocation(150))
                    .unwrap();
            }
        }
        txn.commit().unwrap();

        assert_eq!(store.sweep(t(150)).await.unwrap(), count);
        assert_eq!(stored_rows(&store), (0, 0));
    }

    #[tokio::test]
    async fn sweep_never_deletes_a_live_fact_behind_a_stale_index_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, token_revoked("t1", 500), 100).await;
        let txn = begin_write(&store.inner.db).unwrap();
        txn.open_table(EXPIRY)
            .unwrap()
            .insert((150, "tok:t1"), ())
            .unwrap();
        txn.commit().unwrap();

        let removed = store.sweep(t(200)).await.unwrap();

        assert_eq!(removed, 0);
        assert!(token_facts(&store, "t1", 200).await.token_revoked);
        assert_eq!(
            stored_rows(&store),
            (1, 1),
            "the stale entry is gone, the real one stays"
        );
    }

    #[tokio::test]
    async fn sweep_trims_more_than_one_batch_of_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&settings(dir.path(), 5)).unwrap();
        let txn = begin_write(&store.inner.db).unwrap();
        {
            let mut events = txn.open_table(EVENTS).unwrap();
            for id in 1..=(SWEEP_BATCH as u64 * 2 + 7) {
                events.insert(id, b"{}".as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();

        store.sweep(t(100)).await.unwrap();

        let txn = store.inner.db.begin_read().unwrap();
        let events = txn.open_table(EVENTS).unwrap();
        assert_eq!(events.len().unwrap(), 5);
        assert_eq!(
            events.first().unwrap().unwrap().0.value(),
            SWEEP_BATCH as u64 * 2 + 3,
            "the oldest went first"
        );
    }

    #[tokio::test]
    async fn sweep_trims_the_oldest_events_and_ids_are_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&settings(dir.path(), 3)).unwrap();
        for i in 0..5 {
            apply(&store, token_revoked(&format!("t{i}"), 500), 100).await;
        }

        store.sweep(t(100)).await.unwrap();

        assert_eq!(event_ids(&store, None, 10).await, ["5", "4", "3"]);
        assert_eq!(apply(&store, token_revoked("t5", 500), 100).await.id.0, "6");
    }

    #[tokio::test]
    async fn event_ids_continue_after_every_event_is_trimmed_and_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(&settings(dir.path(), 1)).unwrap();
            for i in 0..3 {
                apply(&store, token_revoked(&format!("t{i}"), 500), 100).await;
            }
            store.sweep(t(100)).await.unwrap();
            assert_eq!(event_ids(&store, None, 10).await, ["3"]);
        }

        let store = EmbeddedStore::open(&settings(dir.path(), 1)).unwrap();
        let txn = begin_write(&store.inner.db).unwrap();
        txn.open_table(EVENTS).unwrap().pop_first().unwrap();
        txn.commit().unwrap();

        assert_eq!(apply(&store, token_revoked("t3", 500), 100).await.id.0, "4");
    }

    // --- registry rows -------------------------------------------------------

    fn registration(sid: &str, ids: &[&str], expires_at: i64) -> SessionRegistration {
        SessionRegistration::new(
            Owner::parse("app").unwrap(),
            RegistrationLimits::default(),
            Issuer::parse(ISS).unwrap(),
            Some(SessionId::parse(sid).unwrap()),
            SubjectId::parse("alice").unwrap(),
            ids.iter().map(|id| jti(id)).collect(),
            t(expires_at),
        )
        .unwrap()
    }

    /// Rows in `bindings` and in `sessions` plus `session_tokens`, and in
    /// the expiry index.
    fn registry_rows(store: &EmbeddedStore) -> (u64, u64, u64) {
        let txn = store.inner.db.begin_read().unwrap();
        let bindings = txn.open_table(BINDINGS).unwrap().len().unwrap();
        let sessions = txn.open_table(SESSIONS).unwrap().len().unwrap()
            + txn.open_table(SESSION_TOKENS).unwrap().len().unwrap();
        let index = txn.open_table(EXPIRY).unwrap().len().unwrap();
        (bindings, sessions, index)
    }

    #[tokio::test]
    async fn sweep_removes_expired_bindings_sessions_and_seen_markers() {
        // Arrange: a registration and a seen-marker that end at 200, and a
        // token revocation that outlives them.
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .register_session(&registration("s1", &["t1", "t2"], 200), admin(), t(100))
            .await
            .unwrap();
        let seen = SeenKey {
            iss: Issuer::parse(ISS).unwrap(),
            jti: jti("logout-1"),
            expires_at: t(200),
        };
        store
            .apply_once(&seen, token_revoked("t9", 500), admin(), t(100))
            .await
            .unwrap();
        assert_eq!(
            registry_rows(&store),
            (3, 3, 6),
            "two bindings and the session's, one session, two token rows"
        );

        // Act
        let early = store.sweep(t(199)).await.unwrap();
        let removed = store.sweep(t(200)).await.unwrap();

        // Assert
        assert_eq!(early, 0);
        assert_eq!(
            removed, 5,
            "two bindings, the session's, one session, one marker"
        );
        assert_eq!(registry_rows(&store), (0, 0, 1));
        assert_eq!(stored_rows(&store), (1, 1), "the token revocation stays");
    }

    #[tokio::test]
    async fn sweep_follows_a_raised_registration_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for expires_at in [150, 300] {
            store
                .register_session(&registration("s1", &["t1"], expires_at), admin(), t(100))
                .await
                .unwrap();
        }

        assert_eq!(store.sweep(t(200)).await.unwrap(), 0);
        assert_eq!(
            registry_rows(&store),
            (2, 2, 3),
            "the old index entries were replaced"
        );
        assert!(token_facts(&store, "t1", 200).await.bound.is_some());
        assert_eq!(store.sweep(t(300)).await.unwrap(), 3);
        assert_eq!(registry_rows(&store), (0, 0, 0));
    }

    /// Only the session's binding to its subject stays (until its expiry):
    /// the session did belong to that subject.
    #[tokio::test]
    async fn unregister_leaves_no_rows_behind_but_the_session_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .register_session(&registration("s1", &["t1", "t2"], 500), admin(), t(100))
            .await
            .unwrap();

        let iss = Issuer::parse(ISS).unwrap();
        let sid = SessionId::parse("s1").unwrap();
        assert!(
            store
                .unregister_session(&Owner::parse("app").unwrap(), &iss, &sid, t(150))
                .await
                .unwrap()
                .is_some()
        );

        assert_eq!(registry_rows(&store), (1, 0, 1));
        assert_eq!(store.sweep(t(500)).await.unwrap(), 1);
        assert_eq!(registry_rows(&store), (0, 0, 0));
    }

    #[tokio::test]
    async fn an_undecodable_binding_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let txn = store.inner.db.begin_write().unwrap();
        txn.open_table(BINDINGS)
            .unwrap()
            .insert("bnd:t1", (500, b"{not json".as_slice()))
            .unwrap();
        txn.commit().unwrap();

        let id = jti("t1");
        let lookup = store
            .lookup(
                Lookup {
                    jti: Some(&id),
                    ..Lookup::default()
                },
                t(100),
            )
            .await;
        let registered = store
            .register_session(&registration("s1", &["t1"], 500), admin(), t(100))
            .await;

        assert!(matches!(lookup, Err(StoreError::Corrupt(_))), "{lookup:?}");
        assert!(
            matches!(registered, Err(StoreError::Corrupt(_))),
            "{registered:?}"
        );
        assert_eq!(registry_rows(&store), (1, 0, 0), "nothing was written");
    }

    #[tokio::test]
    async fn registrations_and_seen_markers_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let seen = SeenKey {
            iss: Issuer::parse(ISS).unwrap(),
            jti: jti("logout-1"),
            expires_at: t(500),
        };
        {
            let store = open(dir.path());
            store
                .register_session(&registration("s1", &["t1"], 500), admin(), t(100))
                .await
                .unwrap();
            store
                .apply_once(&seen, session_revoked("s1", 500), admin(), t(100))
                .await
                .unwrap();
        }

        let store = open(dir.path());

        let bound = token_facts(&store, "t1", 150).await.bound.unwrap();
        assert!(bound.session_revoked);
        assert_eq!(bound.registered_at, t(100));
        assert_eq!(
            store
                .apply_once(&seen, session_revoked("s1", 500), admin(), t(150))
                .await
                .unwrap(),
            None
        );
    }

    // --- durability ----------------------------------------------------------

    #[tokio::test]
    async fn facts_and_events_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let written = {
            let store = open(dir.path());
            apply(&store, token_revoked("t1", 500), 100).await;
            apply(&store, session_revoked("s1", 500), 100).await;
            apply(&store, disabled("alice", None), 100).await;
            store
                .events(&EventPage {
                    before: None,
                    limit: 10,
                })
                .await
                .unwrap()
        };

        let store = open(dir.path());

        assert!(token_facts(&store, "t1", 150).await.token_revoked);
        assert!(session_facts(&store, "s1", 150).await.session_revoked);
        let alice = subject_facts(&store, "alice", 150).await;
        assert!(alice.subject_disabled);
        assert_eq!(
            store
                .events(&EventPage {
                    before: None,
                    limit: 10
                })
                .await
                .unwrap(),
            written
        );
        assert_eq!(apply(&store, enabled("alice"), 200).await.id.0, "4");
    }

    /// The environment variable that turns [`crash_child`] on.
    const CRASH_DIR: &str = "REVOKD_EMBEDDED_CRASH_DIR";

    /// Not a test by itself: [`an_acknowledged_apply_survives_a_crash`] runs
    /// it in a child process, which applies one change and then aborts
    /// without running any destructor, as `kill -9` would.
    #[tokio::test]
    #[ignore = "run by an_acknowledged_apply_survives_a_crash in a child process"]
    async fn crash_child() {
        let Some(dir) = std::env::var_os(CRASH_DIR) else {
            return;
        };
        let store = open(Path::new(&dir));
        apply(&store, token_revoked("crash", 500), 100).await;
        std::process::abort();
    }

    #[tokio::test]
    async fn an_acknowledged_apply_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let test_name = module_path!()
            .split_once("::")
            .map_or("", |(_, rest)| rest)
            .to_owned()
            + "::crash_child";

        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                test_name.as_str(),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();

        assert!(
            !status.success(),
            "the child should have aborted after applying"
        );
        let store = open(dir.path());
        assert!(token_facts(&store, "crash", 150).await.token_revoked);
        assert_eq!(event_ids(&store, None, 10).await, ["1"]);
    }

    // --- pure helpers --------------------------------------------------------

    #[test]
    fn raising_a_fact_keeps_each_later_field() {
        let old = Fact {
            expires_at: 500,
            payload: 10,
        };
        assert_eq!(
            old.raised_by(Fact {
                expires_at: 300,
                payload: 20
            }),
            Fact {
                expires_at: 500,
                payload: 20
            }
        );
        assert_eq!(
            old.raised_by(Fact {
                expires_at: 900,
                payload: 5
            }),
            Fact {
                expires_at: 900,
                payload: 10
            }
        );
        assert_eq!(old.raised_by(Fact::revocation(NEVER)).expires_at, NEVER);
    }

    #[test]
    fn canonical_event_ids_parse() {
        for (text, id) in [("0", 0), ("1", 1), ("18446744073709551615", u64::MAX)] {
            assert_eq!(parse_event_id(&EventId(text.into())).unwrap(), id, "{text}");
        }
    }
}

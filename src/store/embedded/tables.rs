//! The table layer under every write: facts with their expiry index, and
//! the records (bindings, sessions) kept in step with the same index, so
//! that one `put`/`delete` pair keeps the index right for both; and the
//! per-owner volume (`owned`, `owned_count`).

use redb::{ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::open::db_error;
use super::{
    BINDINGS, EXPIRY, FACTS, OWNED, OWNED_COUNT, SESSION_TOKENS, SESSIONS, SUBJECT_TOKENS,
};
use crate::domain::{TokenBinding, UnixTime};
use crate::store::{FactKey, StoreError};

/// One stored fact. Plain `i64` seconds, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fact {
    pub(super) expires_at: i64,
    /// The `before` of a revoked-before mark; 0 for other facts.
    pub(super) payload: i64,
}

impl Fact {
    pub(super) const fn revocation(expires_at: i64) -> Self {
        Self {
            expires_at,
            payload: 0,
        }
    }

    /// Whether a read at `now` may report this fact.
    pub(super) const fn is_live(self, now: UnixTime) -> bool {
        self.expires_at > now.as_secs()
    }

    /// The fact after `new` is applied on top of `self`: each field keeps
    /// the later value, so an expiry is never shortened and a mark never
    /// moves back.
    pub(super) fn raised_by(self, new: Fact) -> Fact {
        Fact {
            expires_at: self.expires_at.max(new.expires_at),
            payload: self.payload.max(new.payload),
        }
    }
}

/// The fact stored under `key`, unless it expired at or before `now`:
/// reads never report an expired fact, whether or not the sweep has
/// removed it yet.
pub(super) fn live_fact(
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
pub(super) type RecordTable<'txn> = Table<'txn, &'static str, (i64, &'static [u8])>;

/// The tables that hold something with an expiry (`facts`, `bindings`,
/// `sessions`) and their shared expiry index, opened together so that every
/// change to one of them is made to the index too.
pub(super) struct FactTables<'txn> {
    pub(super) facts: Table<'txn, &'static str, (i64, i64)>,
    pub(super) expiry: Table<'txn, (i64, &'static str), ()>,
    pub(super) bindings: RecordTable<'txn>,
    pub(super) sessions: RecordTable<'txn>,
    /// The token ids of each row of `sessions`; kept in step with it.
    pub(super) session_tokens: Table<'txn, (&'static str, &'static str), ()>,
    /// Each owner's bindings by expiry, and their count: the key volume.
    pub(super) owned: Table<'txn, (&'static str, i64, &'static str), ()>,
    pub(super) owned_count: Table<'txn, &'static str, u64>,
    /// Each `bnd:` row of `bindings` by subject and expiry; kept in step
    /// with it by [`FactTables::put_record`], [`FactTables::delete_record`]
    /// and the sweep.
    pub(super) subject_tokens: Table<'txn, (&'static str, i64, &'static str), ()>,
}

/// Which record table a key of the expiry index points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Records {
    Bindings,
    Sessions,
}

/// Where the row behind an expiry-index key lives. The prefixes are those
/// of [`FactKey::Binding`] and [`FactKey::Registration`]; every other key is
/// a fact.
pub(super) fn row_of(key: &str) -> Option<Records> {
    if key.starts_with("bnd:") || key.starts_with("sbn:") {
        Some(Records::Bindings)
    } else if key.starts_with("reg:") {
        Some(Records::Sessions)
    } else {
        None
    }
}

/// The `subject_tokens` row of the record `key` holding `json`: for a
/// token id's binding (`bnd:{jti}`) its `(subject key, expires_at, jti)`,
/// `None` for any other record (session bindings, registrations).
pub(super) fn subject_row<'k>(
    key: &'k str,
    expires_at: i64,
    json: &[u8],
) -> Option<Result<SubjectRow<'k>, StoreError>> {
    let jti = key.strip_prefix("bnd:")?;
    Some(
        decode_record::<TokenBinding>(key, json).map(|binding| SubjectRow {
            subject: FactKey::SubjectTokens(&binding.subject).encode(),
            expires_at,
            jti,
        }),
    )
}

/// One row of `subject_tokens`.
pub(super) struct SubjectRow<'k> {
    subject: String,
    expires_at: i64,
    jti: &'k str,
}

/// The JSON of a stored record, decoded; a value this version cannot read
/// is [`StoreError::Corrupt`].
pub(super) fn decode_record<T: DeserializeOwned>(key: &str, json: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(json)
        .map_err(|err| StoreError::Corrupt(format!("`{key}` cannot be decoded: {err}")))
}

pub(super) fn encode_record(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::unavailable)
}

/// The record stored under `key` with its expiry, unless it expired at or
/// before `now`.
pub(super) fn live_record<T: DeserializeOwned>(
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
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            facts: txn.open_table(FACTS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
            bindings: txn.open_table(BINDINGS).map_err(db_error)?,
            sessions: txn.open_table(SESSIONS).map_err(db_error)?,
            session_tokens: txn.open_table(SESSION_TOKENS).map_err(db_error)?,
            owned: txn.open_table(OWNED).map_err(db_error)?,
            owned_count: txn.open_table(OWNED_COUNT).map_err(db_error)?,
            subject_tokens: txn.open_table(SUBJECT_TOKENS).map_err(db_error)?,
        })
    }

    /// Adds `delta` to `owner`'s count of `owned` rows.
    pub(super) fn count_owned(&mut self, owner: &str, delta: i64) -> Result<(), StoreError> {
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
    pub(super) fn drain_owned(&mut self, owner: &str, now: UnixTime) -> Result<(), StoreError> {
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
    pub(super) fn owned_held(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(self
            .owned_count
            .get(owner)
            .map_err(db_error)?
            .map_or(0, |g| g.value()))
    }

    /// Records that `owner` binds `jti` until `expires_at` (moving its row
    /// from `old_expires_at` when it held the id already).
    pub(super) fn own(
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
    pub(super) fn disown(
        &mut self,
        owner: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
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

    pub(super) fn records(&mut self, which: Records) -> &mut RecordTable<'txn> {
        match which {
            Records::Bindings => &mut self.bindings,
            Records::Sessions => &mut self.sessions,
        }
    }

    /// Stores a record and keeps the expiry index in step.
    pub(super) fn put_record(
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
            .map(|g| {
                let (old_expires_at, old_json) = g.value();
                (old_expires_at, subject_row(key, old_expires_at, old_json))
            });
        if let Some((_, Some(row))) = old.as_ref() {
            self.unindex_subject_token(row)?;
        }
        if let Some(row) = subject_row(key, expires_at, json) {
            let row = row?;
            self.subject_tokens
                .insert((row.subject.as_str(), row.expires_at, row.jti), ())
                .map_err(db_error)?;
        }
        if let Some((old_expires_at, _)) = old {
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
    pub(super) fn delete_record(&mut self, which: Records, key: &str) -> Result<bool, StoreError> {
        let old = self.records(which).remove(key).map_err(db_error)?.map(|g| {
            let (old_expires_at, old_json) = g.value();
            (old_expires_at, subject_row(key, old_expires_at, old_json))
        });
        if let Some((_, Some(row))) = old.as_ref() {
            self.unindex_subject_token(row)?;
        }
        let old = old.map(|(old_expires_at, _)| old_expires_at);
        if let Some(old_expires_at) = old {
            self.expiry
                .remove((old_expires_at, key))
                .map_err(db_error)?;
        }
        Ok(old.is_some())
    }

    /// Removes the row behind an expiry-index key if it is dead for `now`;
    /// whether a row was removed. Used by the sweep only.
    pub(super) fn remove_if_dead(&mut self, key: &str, now: UnixTime) -> Result<bool, StoreError> {
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
                        let removed = table.remove(key).map_err(db_error)?.map(|g| {
                            let (expires_at, json) = g.value();
                            subject_row(key, expires_at, json)
                        });
                        if let Some(Some(row)) = removed.as_ref() {
                            self.unindex_subject_token(row)?;
                        }
                        if which == Records::Sessions {
                            self.drain_session_tokens(key)?;
                        }
                        Ok(removed.is_some())
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    /// Removes a row of `subject_tokens` (see [`subject_row`]).
    fn unindex_subject_token(
        &mut self,
        row: &Result<SubjectRow<'_>, StoreError>,
    ) -> Result<(), StoreError> {
        let row = row
            .as_ref()
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        self.subject_tokens
            .remove((row.subject.as_str(), row.expires_at, row.jti))
            .map_err(db_error)?;
        Ok(())
    }

    /// The token ids recorded for the registration `reg_key`, removing
    /// their rows. Bounded by the per-session cap the rows were written
    /// under.
    pub(super) fn drain_session_tokens(
        &mut self,
        reg_key: &str,
    ) -> Result<Vec<String>, StoreError> {
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

    /// The fact under `key`, if a read at `now` would report it. An expired
    /// fact the sweep has not removed yet counts as absent, so it cannot
    /// lend its old `before` or expiry to a new one.
    pub(super) fn live(&self, key: &str, now: UnixTime) -> Result<Option<Fact>, StoreError> {
        live_fact(&self.facts, key, now)
    }

    /// Merges `new` into the live fact under `key` and stores the result,
    /// which it returns.
    pub(super) fn raise(
        &mut self,
        key: &str,
        new: Fact,
        now: UnixTime,
    ) -> Result<Fact, StoreError> {
        let merged = match self.live(key, now)? {
            Some(existing) => existing.raised_by(new),
            None => new,
        };
        self.put(key, merged)?;
        Ok(merged)
    }

    pub(super) fn put(&mut self, key: &str, fact: Fact) -> Result<(), StoreError> {
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

    pub(super) fn delete(&mut self, key: &str) -> Result<(), StoreError> {
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
}

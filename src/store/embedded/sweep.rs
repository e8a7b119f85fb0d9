//! Removing what expired, in batches of `SWEEP_BATCH` removals per
//! transaction, found through the expiry index rather than by reading
//! every row.

use redb::{Database, ReadableDatabase, ReadableTable, Table};

use super::OWNED_COUNT;
use super::open::{begin_write, db_error};
use super::tables::FactTables;
use crate::domain::UnixTime;
use crate::store::StoreError;

/// Most facts, or events, one sweep transaction removes. A large backlog is
/// cleared in several short transactions rather than one long one, so that
/// `apply` calls waiting for the write lock are not held up for long.
pub(super) const SWEEP_BATCH: usize = 1024;

/// Removes every fact with `expires_at <= now`, one batch at a time.
pub(super) fn sweep_facts(db: &Database, now: UnixTime) -> Result<usize, StoreError> {
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
pub(super) struct SweptBatch {
    /// Expiry-index entries read (and removed).
    pub(super) scanned: usize,
    /// Facts removed.
    pub(super) removed: usize,
}

/// Removes up to [`SWEEP_BATCH`] facts with `expires_at <= now`, found
/// through the expiry index.
pub(super) fn sweep_facts_batch(db: &Database, now: UnixTime) -> Result<SweptBatch, StoreError> {
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

pub(super) fn expired_keys(
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
pub(super) fn sweep_owned(db: &Database, now: UnixTime) -> Result<(), StoreError> {
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

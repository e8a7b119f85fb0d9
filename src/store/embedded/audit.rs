//! The audit log: appending an event under the next id of the `meta`
//! counter (never reused, even after trimming), reading pages newest first
//! and everything after an id, and trimming to `max_events` (and
//! `max_admin_events` for the events kept apart).

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use super::open::{begin_write, db_error};
use super::sweep::SWEEP_BATCH;
use super::{EVENTS, KEPT_EVENTS, META, NEXT_EVENT_ID};
use crate::domain::{Change, Event, EventId, Provenance, UnixTime, is_client_actor};
use crate::store::StoreError;

/// Records `change` as the next event of `txn`.
pub(super) fn append_event(
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
pub(super) fn take_event_id(txn: &WriteTransaction) -> Result<u64, StoreError> {
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

/// Accepts exactly the ids this store writes: decimal digits of a `u64`,
/// without sign or leading zeros.
pub(super) fn parse_event_id(id: &EventId) -> Result<u64, StoreError> {
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
pub(super) fn read_events(
    db: &Database,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
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
pub(super) fn read_events_after(
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

pub(super) fn decode_event(id: u64, json: &[u8]) -> Result<Event, StoreError> {
    serde_json::from_slice(json)
        .map_err(|err| StoreError::Corrupt(format!("event {id} cannot be decoded: {err}")))
}

// ---------------------------------------------------------------------------
// Sweep

/// Drops the oldest events of `table` beyond `max_events`, one batch at a
/// time.
pub(super) fn trim_events(
    db: &Database,
    table: TableDefinition<u64, &[u8]>,
    max_events: u64,
) -> Result<(), StoreError> {
    while trim_events_batch(db, table, max_events)? == SWEEP_BATCH {}
    Ok(())
}

/// Drops up to [`SWEEP_BATCH`] of the oldest events beyond `max_events`.
/// Returns how many it dropped.
pub(super) fn trim_events_batch(
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

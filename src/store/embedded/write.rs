//! Applying a change in a write transaction: the merge rules of
//! `RevocationStore::apply`, at most once per seen key for `apply_once`.

use redb::Database;

use super::NEVER;
use super::audit::append_event;
use super::open::{begin_write, db_error};
use super::tables::{Fact, FactTables};
use crate::domain::{Change, Event, Provenance, UnixTime};
use crate::store::{FactKey, StoreError};

impl<'txn> FactTables<'txn> {
    /// Applies the rules of [`RevocationStore::apply`] for one change.
    pub(super) fn apply(&mut self, change: &Change, now: UnixTime) -> Result<(), StoreError> {
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
pub(super) fn apply_in_transaction(
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
pub(super) fn apply_once_in_transaction(
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

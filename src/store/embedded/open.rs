//! Opening `revokd.redb`: creating the tables, and turning redb's errors
//! into the store's (a file held by another process, or not a database,
//! is named in the error).

use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, Durability, WriteTransaction};

use super::{
    BINDINGS, EVENTS, EXPIRY, FACTS, KEPT_EVENTS, META, OWNED, OWNED_COUNT, SESSION_TOKENS,
    SESSIONS, SUBJECT_TOKENS,
};
use crate::store::StoreError;

/// Why the database could not be opened, kept as the source of
/// [`StoreError::Unavailable`] so that the start-up error names the file.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
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

pub(super) fn open_error(path: &Path, err: DatabaseError) -> StoreError {
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
pub(super) fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = begin_write(db)?;
    txn.open_table(FACTS).map_err(db_error)?;
    txn.open_table(EXPIRY).map_err(db_error)?;
    txn.open_table(BINDINGS).map_err(db_error)?;
    txn.open_table(SESSIONS).map_err(db_error)?;
    txn.open_table(SESSION_TOKENS).map_err(db_error)?;
    txn.open_table(OWNED).map_err(db_error)?;
    txn.open_table(OWNED_COUNT).map_err(db_error)?;
    txn.open_table(SUBJECT_TOKENS).map_err(db_error)?;
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
pub(super) fn db_error(err: impl Into<redb::Error>) -> StoreError {
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
pub(super) fn begin_write(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write().map_err(db_error)?;
    txn.set_durability(Durability::Immediate)
        .map_err(db_error)?;
    Ok(txn)
}

// ---------------------------------------------------------------------------
// Facts

//! [`PendingLogoutStore`] on the embedded store: table `pending_logouts`,
//! id → the [`PendingLogout`] as JSON. Created on first write; a read
//! before any write finds no table and answers empty.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError};

use super::EmbeddedStore;
use super::open::{begin_write, db_error};
use crate::store::StoreError;
use crate::store::pending::{PendingLogout, PendingLogoutStore, PendingPut, oldest_first};

const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending_logouts");

impl PendingLogoutStore for EmbeddedStore {
    async fn keep_pending_logout(
        &self,
        pending: &PendingLogout,
        max_count: usize,
    ) -> Result<PendingPut, StoreError> {
        let pending = pending.clone();
        let json = serde_json::to_vec(&pending)
            .map_err(|e| StoreError::Corrupt(format!("pending logout: {e}")))?;
        self.blocking(move |db| {
            let txn = begin_write(db)?;
            let put = {
                let mut table = txn.open_table(PENDING).map_err(db_error)?;
                if table.get(pending.id.as_str()).map_err(db_error)?.is_some() {
                    PendingPut::AlreadyKept
                } else if table.len().map_err(db_error)? >= max_count as u64 {
                    PendingPut::Full
                } else {
                    table
                        .insert(pending.id.as_str(), json.as_slice())
                        .map_err(db_error)?;
                    PendingPut::Kept
                }
            };
            txn.commit().map_err(db_error)?;
            Ok(put)
        })
        .await
    }

    async fn pending_logouts(&self) -> Result<Vec<PendingLogout>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(db_error)?;
            let table = match txn.open_table(PENDING) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(err) => return Err(db_error(err)),
            };
            let mut all = Vec::new();
            for row in table.iter().map_err(db_error)? {
                let (_, json) = row.map_err(db_error)?;
                let pending: PendingLogout = serde_json::from_slice(json.value())
                    .map_err(|e| StoreError::Corrupt(format!("pending logout: {e}")))?;
                all.push(pending);
            }
            Ok(oldest_first(all))
        })
        .await
    }

    async fn forget_pending_logout(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = begin_write(db)?;
            let removed = {
                let mut table = txn.open_table(PENDING).map_err(db_error)?;
                table.remove(id.as_str()).map_err(db_error)?.is_some()
            };
            txn.commit().map_err(db_error)?;
            Ok(removed)
        })
        .await
    }
}

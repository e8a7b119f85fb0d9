//! [`PendingLogoutStore`] on Redis: one hash, `{key_prefix}pending-logouts`,
//! id → the [`PendingLogout`] as JSON. Its size is bounded by the caller's
//! `max_count`, checked in the same script that writes, so concurrent
//! instances cannot overshoot it.

use deadpool_redis::redis;

use super::scripts::KEEP;

use super::{RedisStore, store_error};
use crate::store::StoreError;
use crate::store::pending::{PendingLogout, PendingLogoutStore, PendingPut, oldest_first};

impl RedisStore {
    fn pending_key(&self) -> String {
        format!("{}pending-logouts", self.prefix)
    }
}

impl PendingLogoutStore for RedisStore {
    async fn keep_pending_logout(
        &self,
        pending: &PendingLogout,
        max_count: usize,
    ) -> Result<PendingPut, StoreError> {
        let json = serde_json::to_string(pending)
            .map_err(|e| StoreError::Corrupt(format!("pending logout: {e}")))?;
        let mut call = KEEP.prepare_invoke();
        call.key(self.pending_key())
            .arg(&pending.id)
            .arg(json)
            .arg(max_count);
        let reply: String = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        match reply.as_str() {
            "kept" => Ok(PendingPut::Kept),
            "dup" => Ok(PendingPut::AlreadyKept),
            "full" => Ok(PendingPut::Full),
            other => Err(StoreError::Corrupt(format!(
                "pending logout script answered {other:?}"
            ))),
        }
    }

    async fn pending_logouts(&self) -> Result<Vec<PendingLogout>, StoreError> {
        let key = self.pending_key();
        let values: Vec<Vec<u8>> = self
            .run(|mut conn| async move {
                redis::cmd("HVALS")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        let all = values
            .iter()
            .map(|json| {
                serde_json::from_slice(json)
                    .map_err(|e| StoreError::Corrupt(format!("pending logout: {e}")))
            })
            .collect::<Result<Vec<PendingLogout>, _>>()?;
        Ok(oldest_first(all))
    }

    async fn forget_pending_logout(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.pending_key();
        let id = id.to_owned();
        let removed: i64 = self
            .run(|mut conn| async move {
                redis::cmd("HDEL")
                    .arg(key)
                    .arg(id)
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        Ok(removed > 0)
    }
}

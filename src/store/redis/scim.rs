//! [`ScimUserStore`] on Redis: per client, three hashes,
//! `{key_prefix}scim:{client}:users` (id → the [`ScimUser`] as JSON),
//! `…:names` (folded `userName` → id) and `…:external` (`externalId` →
//! id), and the sorted set `…:order` (id scored by its `created` seconds,
//! ties by id) that listing pages through by rank and counts with `ZCARD`.
//! Writes and deletes are one script each (`lua/scim_write.lua`,
//! `lua/scim_delete.lua`), so the indexes never disagree with the users;
//! a page is one script too (`lua/scim_page.lua`).
//! Under Redis Cluster the four keys share a slot only with a hash tag in
//! the key prefix, as every other multi-key script of this store needs.

use deadpool_redis::redis;

use super::scripts::{SCIM_DELETE, SCIM_PAGE, SCIM_WRITE};
use super::{RedisStore, store_error};
use crate::store::StoreError;
use crate::store::scim::{
    SCIM_PAGE_MAX, ScimUnique, ScimUser, ScimUserPage, ScimUserStore, ScimWrite, decode_user,
    encode_user, user_name_key,
};

impl RedisStore {
    fn scim_keys(&self, client: &str) -> [String; 4] {
        let base = format!("{}scim:{client}:", self.prefix);
        [
            format!("{base}users"),
            format!("{base}names"),
            format!("{base}external"),
            format!("{base}order"),
        ]
    }

    async fn scim_write(
        &self,
        user: &ScimUser,
        expected: Option<u64>,
    ) -> Result<ScimWrite, StoreError> {
        let json = encode_user(user)?;
        let mut call = SCIM_WRITE.prepare_invoke();
        for key in self.scim_keys(&user.client) {
            call.key(key);
        }
        call.arg(&user.id)
            .arg(json)
            .arg(user.user_name_key())
            .arg(user.external_id.as_deref().unwrap_or(""))
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(user.created.as_secs());
        let reply: String = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        match reply.as_str() {
            "ok" => Ok(ScimWrite::Done),
            "userName" => Ok(ScimWrite::Taken(ScimUnique::UserName)),
            "externalId" => Ok(ScimWrite::Taken(ScimUnique::ExternalId)),
            "missing" => Ok(ScimWrite::NotFound),
            "version" => Ok(ScimWrite::VersionMismatch),
            other => Err(StoreError::Corrupt(format!(
                "scim write script answered {other:?}"
            ))),
        }
    }
}

impl ScimUserStore for RedisStore {
    async fn create_scim_user(&self, user: &ScimUser) -> Result<ScimWrite, StoreError> {
        self.scim_write(user, None).await
    }

    async fn scim_user(&self, client: &str, id: &str) -> Result<Option<ScimUser>, StoreError> {
        let [users, ..] = self.scim_keys(client);
        let id = id.to_owned();
        let json: Option<Vec<u8>> = self
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(users)
                    .arg(id)
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        json.as_deref().map(decode_user).transpose()
    }

    async fn find_scim_user(
        &self,
        client: &str,
        by: ScimUnique,
        value: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        let [_, names, external, _] = self.scim_keys(client);
        let (index, field) = match by {
            ScimUnique::UserName => (names, user_name_key(value)),
            ScimUnique::ExternalId => (external, value.to_owned()),
        };
        let id: Option<String> = self
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(index)
                    .arg(field)
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        match id {
            Some(id) => self.scim_user(client, &id).await,
            None => Ok(None),
        }
    }

    async fn scim_users_page(
        &self,
        client: &str,
        offset: usize,
        count: usize,
    ) -> Result<ScimUserPage, StoreError> {
        let count = count.min(SCIM_PAGE_MAX);
        let mut call = SCIM_PAGE.prepare_invoke();
        for key in self.scim_keys(client) {
            call.key(key);
        }
        call.arg(offset).arg(count);
        let reply: Vec<redis::Value> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("scim page script answered {what}"));
        let mut reply = reply.into_iter();
        let total = match reply.next() {
            Some(redis::Value::Int(n)) => {
                u64::try_from(n).map_err(|_| corrupt("a negative total"))?
            }
            _ => return Err(corrupt("no total")),
        };
        let users = reply
            .map(|value| match value {
                redis::Value::BulkString(json) => decode_user(&json),
                _ => Err(corrupt("a user that is not a string")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScimUserPage { total, users })
    }

    async fn replace_scim_user(
        &self,
        user: &ScimUser,
        expected_version: u64,
    ) -> Result<ScimWrite, StoreError> {
        self.scim_write(user, Some(expected_version)).await
    }

    async fn delete_scim_user(
        &self,
        client: &str,
        id: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        let mut call = SCIM_DELETE.prepare_invoke();
        for key in self.scim_keys(client) {
            call.key(key);
        }
        call.arg(id);
        let json: Option<Vec<u8>> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        json.as_deref().map(decode_user).transpose()
    }
}

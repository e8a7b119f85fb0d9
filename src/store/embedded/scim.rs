//! [`ScimUserStore`] on the embedded store: table `scim_users`,
//! `{client}/{id}` → the [`ScimUser`] as JSON, and table `scim_unique`,
//! `{client}/u/{userName folded}` and `{client}/e/{externalId}` → id, kept
//! in step in the same transaction. Both are created on first write; a read
//! before any write finds no table and answers empty.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, TableError};

use super::EmbeddedStore;
use super::open::{begin_write, db_error};
use crate::store::StoreError;
use crate::store::scim::{
    ScimUnique, ScimUser, ScimUserStore, ScimWrite, decode_user, encode_user, oldest_first,
    user_name_key,
};

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("scim_users");
const UNIQUE: TableDefinition<&str, &str> = TableDefinition::new("scim_unique");

fn user_key(client: &str, id: &str) -> String {
    format!("{client}/{id}")
}

fn unique_key(client: &str, by: ScimUnique, value: &str) -> String {
    match by {
        ScimUnique::UserName => format!("{client}/u/{}", user_name_key(value)),
        ScimUnique::ExternalId => format!("{client}/e/{value}"),
    }
}

/// The index entries of `user`.
fn unique_keys(user: &ScimUser) -> Vec<(ScimUnique, String)> {
    let mut keys = vec![(
        ScimUnique::UserName,
        unique_key(&user.client, ScimUnique::UserName, &user.user_name),
    )];
    if let Some(ext) = &user.external_id {
        keys.push((
            ScimUnique::ExternalId,
            unique_key(&user.client, ScimUnique::ExternalId, ext),
        ));
    }
    keys
}

/// The first index entry of `user` held by a user other than `user.id`.
fn taken(
    unique: &Table<'_, &'static str, &'static str>,
    user: &ScimUser,
) -> Result<Option<ScimUnique>, StoreError> {
    for (by, key) in unique_keys(user) {
        if let Some(holder) = unique.get(key.as_str()).map_err(db_error)?
            && holder.value() != user.id
        {
            return Ok(Some(by));
        }
    }
    Ok(None)
}

fn read_table<T>(
    db: &redb::Database,
    f: impl FnOnce(
        &redb::ReadOnlyTable<&'static str, &'static [u8]>,
        &redb::ReadTransaction,
    ) -> Result<T, StoreError>,
    empty: T,
) -> Result<T, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    match txn.open_table(USERS) {
        Ok(table) => f(&table, &txn),
        Err(TableError::TableDoesNotExist(_)) => Ok(empty),
        Err(err) => Err(db_error(err)),
    }
}

impl ScimUserStore for EmbeddedStore {
    async fn create_scim_user(&self, user: &ScimUser) -> Result<ScimWrite, StoreError> {
        let user = user.clone();
        let json = encode_user(&user)?;
        self.blocking(move |db| {
            let txn = begin_write(db)?;
            let done = {
                let mut users = txn.open_table(USERS).map_err(db_error)?;
                let mut unique = txn.open_table(UNIQUE).map_err(db_error)?;
                let key = user_key(&user.client, &user.id);
                if users.get(key.as_str()).map_err(db_error)?.is_some() {
                    return Err(StoreError::Corrupt(format!(
                        "scim user id `{}` handed out twice",
                        user.id
                    )));
                }
                if let Some(by) = taken(&unique, &user)? {
                    ScimWrite::Taken(by)
                } else {
                    users
                        .insert(key.as_str(), json.as_bytes())
                        .map_err(db_error)?;
                    for (_, k) in unique_keys(&user) {
                        unique
                            .insert(k.as_str(), user.id.as_str())
                            .map_err(db_error)?;
                    }
                    ScimWrite::Done
                }
            };
            txn.commit().map_err(db_error)?;
            Ok(done)
        })
        .await
    }

    async fn scim_user(&self, client: &str, id: &str) -> Result<Option<ScimUser>, StoreError> {
        let key = user_key(client, id);
        self.blocking(move |db| {
            read_table(
                db,
                |users, _| match users.get(key.as_str()).map_err(db_error)? {
                    Some(json) => decode_user(json.value()).map(Some),
                    None => Ok(None),
                },
                None,
            )
        })
        .await
    }

    async fn find_scim_user(
        &self,
        client: &str,
        by: ScimUnique,
        value: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        let index = unique_key(client, by, value);
        let client = client.to_owned();
        self.blocking(move |db| {
            read_table(
                db,
                |users, txn| {
                    let unique = match txn.open_table(UNIQUE) {
                        Ok(table) => table,
                        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                        Err(err) => return Err(db_error(err)),
                    };
                    let Some(id) = unique.get(index.as_str()).map_err(db_error)? else {
                        return Ok(None);
                    };
                    let key = user_key(&client, id.value());
                    match users.get(key.as_str()).map_err(db_error)? {
                        Some(json) => decode_user(json.value()).map(Some),
                        None => Err(StoreError::Corrupt(format!(
                            "scim index `{index}` names a missing user"
                        ))),
                    }
                },
                None,
            )
        })
        .await
    }

    async fn scim_users(&self, client: &str) -> Result<Vec<ScimUser>, StoreError> {
        // Every key of the client lies in [`{client}/`, `{client}0`): '0'
        // follows '/'.
        let (from, to) = (format!("{client}/"), format!("{client}0"));
        self.blocking(move |db| {
            read_table(
                db,
                |users, _| {
                    let mut all = Vec::new();
                    for row in users.range(from.as_str()..to.as_str()).map_err(db_error)? {
                        let (_, json) = row.map_err(db_error)?;
                        all.push(decode_user(json.value())?);
                    }
                    Ok(oldest_first(all))
                },
                Vec::new(),
            )
        })
        .await
    }

    async fn replace_scim_user(
        &self,
        user: &ScimUser,
        expected_version: u64,
    ) -> Result<ScimWrite, StoreError> {
        let user = user.clone();
        let json = encode_user(&user)?;
        self.blocking(move |db| {
            let txn = begin_write(db)?;
            let done = {
                let mut users = txn.open_table(USERS).map_err(db_error)?;
                let mut unique = txn.open_table(UNIQUE).map_err(db_error)?;
                let key = user_key(&user.client, &user.id);
                let old = match users.get(key.as_str()).map_err(db_error)? {
                    Some(json) => Some(decode_user(json.value())?),
                    None => None,
                };
                match old {
                    None => ScimWrite::NotFound,
                    Some(old) if old.version != expected_version => ScimWrite::VersionMismatch,
                    Some(old) => {
                        if let Some(by) = taken(&unique, &user)? {
                            ScimWrite::Taken(by)
                        } else {
                            for (_, k) in unique_keys(&old) {
                                unique.remove(k.as_str()).map_err(db_error)?;
                            }
                            for (_, k) in unique_keys(&user) {
                                unique
                                    .insert(k.as_str(), user.id.as_str())
                                    .map_err(db_error)?;
                            }
                            users
                                .insert(key.as_str(), json.as_bytes())
                                .map_err(db_error)?;
                            ScimWrite::Done
                        }
                    }
                }
            };
            txn.commit().map_err(db_error)?;
            Ok(done)
        })
        .await
    }

    async fn delete_scim_user(
        &self,
        client: &str,
        id: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        let key = user_key(client, id);
        self.blocking(move |db| {
            let txn = begin_write(db)?;
            let removed = {
                let mut users = txn.open_table(USERS).map_err(db_error)?;
                let mut unique = txn.open_table(UNIQUE).map_err(db_error)?;
                let old = match users.remove(key.as_str()).map_err(db_error)? {
                    Some(json) => Some(decode_user(json.value())?),
                    None => None,
                };
                if let Some(old) = &old {
                    for (_, k) in unique_keys(old) {
                        unique.remove(k.as_str()).map_err(db_error)?;
                    }
                }
                old
            };
            txn.commit().map_err(db_error)?;
            Ok(removed)
        })
        .await
    }
}

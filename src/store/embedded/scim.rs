//! [`ScimUserStore`] on the embedded store: table `scim_users`,
//! `{client}/{id}` → the [`ScimUser`] as JSON; table `scim_unique`,
//! `{client}/u/{userName folded}` and `{client}/e/{externalId}` → id; the
//! listing order `scim_order`, `(client, created, id)` → (); and each
//! client's number of users, `scim_count`; all kept in step in the same
//! transaction. They are created on first write; a read before any write
//! finds no table and answers empty.

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition, TableError};

use super::EmbeddedStore;
use super::open::{begin_write, db_error};
use crate::store::StoreError;
use crate::store::scim::{
    SCIM_PAGE_MAX, ScimUnique, ScimUser, ScimUserPage, ScimUserStore, ScimWrite, decode_user,
    encode_user, user_name_key,
};

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("scim_users");
const UNIQUE: TableDefinition<&str, &str> = TableDefinition::new("scim_unique");
/// The listing order: oldest `created` first, then by id.
const ORDER: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("scim_order");
/// Each client's number of users (its rows of `scim_order`).
const COUNT: TableDefinition<&str, u64> = TableDefinition::new("scim_count");

/// Adds `user` to (`delta` 1) or removes it from (`delta` -1) the listing
/// order and its client's count.
fn order(txn: &redb::WriteTransaction, user: &ScimUser, delta: i64) -> Result<(), StoreError> {
    let mut order = txn.open_table(ORDER).map_err(db_error)?;
    let mut count = txn.open_table(COUNT).map_err(db_error)?;
    let key = (
        user.client.as_str(),
        user.created.as_secs(),
        user.id.as_str(),
    );
    let changed = if delta > 0 {
        order.insert(key, ()).map_err(db_error)?.is_none()
    } else {
        order.remove(key).map_err(db_error)?.is_some()
    };
    if !changed {
        return Err(StoreError::Corrupt(format!(
            "scim order index out of step for user `{}`",
            user.id
        )));
    }
    let old = count
        .get(user.client.as_str())
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    let new = old.saturating_add_signed(delta);
    if new == 0 {
        count.remove(user.client.as_str()).map_err(db_error)?;
    } else {
        count.insert(user.client.as_str(), new).map_err(db_error)?;
    }
    Ok(())
}

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

/// A table, or `None` before the first write created it.
fn open<T>(result: Result<T, TableError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(err) => Err(db_error(err)),
    }
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
                    order(&txn, &user, 1)?;
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

    async fn scim_users_page(
        &self,
        client: &str,
        offset: usize,
        count: usize,
    ) -> Result<ScimUserPage, StoreError> {
        let client = client.to_owned();
        let count = count.min(SCIM_PAGE_MAX);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(db_error)?;
            let (Some(users), Some(order), Some(counts)) = (
                open(txn.open_table(USERS))?,
                open(txn.open_table(ORDER))?,
                open(txn.open_table(COUNT))?,
            ) else {
                return Ok(ScimUserPage {
                    total: 0,
                    users: Vec::new(),
                });
            };
            let total = counts
                .get(client.as_str())
                .map_err(db_error)?
                .map_or(0, |g| g.value());
            let mut page = Vec::with_capacity(count);
            if count > 0 && u64::try_from(offset).is_ok_and(|o| o < total) {
                // Every key of the client lies in [(client, MIN, ""), (client, MAX, …)];
                // the range stops at the first key of another client.
                let keys = order
                    .range((client.as_str(), i64::MIN, "")..)
                    .map_err(db_error)?
                    .skip(offset)
                    .take(count);
                for row in keys {
                    let (key, _) = row.map_err(db_error)?;
                    let (owner, _, id) = key.value();
                    if owner != client {
                        break;
                    }
                    let json = users
                        .get(user_key(owner, id).as_str())
                        .map_err(db_error)?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "scim order index names missing user `{id}`"
                            ))
                        })?;
                    page.push(decode_user(json.value())?);
                }
            }
            Ok(ScimUserPage { total, users: page })
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
                            if old.created != user.created {
                                order(&txn, &old, -1)?;
                                order(&txn, &user, 1)?;
                            }
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
                    order(&txn, old, -1)?;
                }
                old
            };
            txn.commit().map_err(db_error)?;
            Ok(removed)
        })
        .await
    }
}

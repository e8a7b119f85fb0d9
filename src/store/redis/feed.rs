//! What the per-instance mirror reads from Redis: the current state of
//! mirrored keys, a snapshot of all of them, and the change feed.
//!
//! Every write script appends the full names of the mirrored keys it
//! changed to the stream `{prefix}feed` (see `publish` in the scripts).
//! A follower reads that stream from its last id with `XREAD BLOCK` and
//! then reads the *current* state of the named keys: the mirror replays
//! store state, never intents, so it cannot drift from the store's merge
//! rules. A follower counts the entries it consumed; `XINFO STREAM` says how
//! many were ever added (`entries-added`, Redis >= 7.0) and how many remain
//! (`length`). More unconsumed entries than remain means some were trimmed
//! before the follower read them (trimming removes the oldest first), and
//! fewer added than consumed means the stream was reset: either way the
//! follower resyncs from a snapshot.

use std::time::Duration;

use deadpool_redis::redis::{self, Value};

use super::scripts::{HEAD, READ};

use super::{NEVER, RedisStore, corrupt, opt_str, parse_secs, store_error};
use crate::domain::{
    FactUpdate, Issuer, Session, SessionId, Subject, SubjectId, TokenId, UnixTime,
};
use crate::store::{FeedPosition, MirroredKey, StoreError};

/// The binding fields, in the order every script reads them.
pub(super) const BINDING_FIELDS: [&str; 5] = ["exp", "at", "iss", "sub", "sid"];

/// `secs` or `never` as an instant; `never` as the end of time.
fn instant(text: &str, key: &MirroredKey) -> Result<UnixTime, StoreError> {
    if text == NEVER {
        return Ok(UnixTime::from_secs(i64::MAX));
    }
    text.parse().map(UnixTime::from_secs).map_err(|_| {
        corrupt(format_args!(
            "{}: {text:?} is not a Unix time",
            key.encode()
        ))
    })
}

/// The update that makes a mirror hold what Redis holds under `key`, as a
/// script reads it: a string, or a binding's [`BINDING_FIELDS`].
pub(super) fn state_of(key: &MirroredKey, value: &Value) -> Result<FactUpdate, StoreError> {
    if let MirroredKey::Binding(jti) = key {
        let fields = match value {
            Value::Array(fields) if fields.len() == BINDING_FIELDS.len() => fields,
            _ => return Err(corrupt(format_args!("{}: not a binding", key.encode()))),
        };
        let mut text = [None; BINDING_FIELDS.len()];
        for (slot, field) in text.iter_mut().zip(fields) {
            *slot = text_of(field, key)?;
        }
        return binding_update(jti, text, key);
    }
    fact_update(key, text_of(value, key)?)
}

/// A reply value as text; `None` for nil.
fn text_of<'v>(value: &'v Value, key: &MirroredKey) -> Result<Option<&'v str>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt(format_args!("{} is not UTF-8", key.encode()))),
        Value::SimpleString(s) => Ok(Some(s)),
        other => Err(corrupt(format_args!(
            "{}: unexpected reply {other:?}",
            key.encode()
        ))),
    }
}

/// The update for a binding whose [`BINDING_FIELDS`] read as `fields`.
pub(super) fn binding_update(
    jti: &TokenId,
    fields: [Option<&str>; BINDING_FIELDS.len()],
    key: &MirroredKey,
) -> Result<FactUpdate, StoreError> {
    let [exp, at, iss, sub, sid] = fields;
    let Some(exp) = exp else {
        return Ok(FactUpdate::Unbound { jti: jti.clone() });
    };
    let field = |v: Option<&str>, what: &str| -> Result<String, StoreError> {
        v.filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| corrupt(format_args!("{} has no `{what}`", key.encode())))
    };
    let iss = Issuer::parse(field(iss, "iss")?).map_err(corrupt)?;
    let sub = SubjectId::parse(field(sub, "sub")?).map_err(corrupt)?;
    let session = sid
        .map(|sid| SessionId::parse(sid).map_err(corrupt))
        .transpose()?
        .map(|sid| Session {
            iss: iss.clone(),
            sid,
        });
    Ok(FactUpdate::Binding {
        jti: jti.clone(),
        session,
        subject: Subject { iss, sub },
        registered_at: instant(&field(at, "at")?, key)?,
        expires_at: instant(exp, key)?,
    })
}

/// The update for a simple fact (not a binding) whose value reads `text`.
pub(super) fn fact_update(key: &MirroredKey, text: Option<&str>) -> Result<FactUpdate, StoreError> {
    let gone = UnixTime::from_secs(0);
    Ok(match key {
        MirroredKey::Token(jti) => FactUpdate::Token {
            jti: jti.clone(),
            expires_at: text.map_or(Ok(gone), |t| instant(t, key))?,
        },
        MirroredKey::Session(session) => FactUpdate::Session {
            session: session.clone(),
            expires_at: text.map_or(Ok(gone), |t| instant(t, key))?,
        },
        MirroredKey::SubjectDisabled(subject) => match text {
            None => FactUpdate::SubjectEnabled {
                subject: subject.clone(),
            },
            Some(t) => FactUpdate::SubjectDisabled {
                subject: subject.clone(),
                expires_at: (t != NEVER).then(|| instant(t, key)).transpose()?,
            },
        },
        MirroredKey::SubjectRevokedBefore(subject) => {
            let (before, expires_at) = match text {
                None => (gone, gone),
                Some(t) => {
                    let (before, exp) = t.split_once(' ').ok_or_else(|| {
                        corrupt(format_args!("{}: {t:?} is not a mark", key.encode()))
                    })?;
                    (instant(before, key)?, instant(exp, key)?)
                }
            };
            FactUpdate::SubjectRevokedBefore {
                subject: subject.clone(),
                before,
                expires_at,
            }
        }
        MirroredKey::SessionBinding(session) => match text {
            None => FactUpdate::SessionUnbound {
                session: session.clone(),
            },
            Some(t) => {
                // `{exp} {at} {sub}`: the subject is last, spaces and all.
                let (exp, at, sub) = t
                    .split_once(' ')
                    .and_then(|(exp, rest)| rest.split_once(' ').map(|(at, sub)| (exp, at, sub)))
                    .ok_or_else(|| {
                        corrupt(format_args!("{}: {t:?} is not a binding", key.encode()))
                    })?;
                FactUpdate::SessionBound {
                    session: session.clone(),
                    subject: Subject {
                        iss: session.iss.clone(),
                        sub: SubjectId::parse(sub).map_err(corrupt)?,
                    },
                    registered_at: instant(at, key)?,
                    expires_at: instant(exp, key)?,
                }
            }
        },
        MirroredKey::Binding(_) => {
            return Err(corrupt(format_args!(
                "{}: a binding is not a string",
                key.encode()
            )));
        }
    })
}

impl RedisStore {
    /// The stream that carries the change feed.
    pub(crate) fn feed_key(&self) -> String {
        format!("{}feed", self.prefix)
    }

    /// The mirrored key a full Redis key names, if it is one of ours.
    pub(crate) fn mirrored(&self, full: &str) -> Option<MirroredKey> {
        MirroredKey::decode(full.strip_prefix(&*self.prefix)?)
    }

    /// The current state of each of `keys`, in one round trip.
    ///
    /// # Errors
    /// Redis is unavailable, or a value is not in this module's format.
    pub(super) async fn read_states_now(
        &self,
        keys: &[MirroredKey],
    ) -> Result<Vec<FactUpdate>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = READ.prepare_invoke();
        for key in keys {
            call.key(format!("{}{}", self.prefix, key.encode()));
        }
        call.arg(self.prefix.len());
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(values) = reply else {
            return Err(corrupt("the read script did not return an array"));
        };
        if values.len() != keys.len() {
            return Err(corrupt(
                "the read script returned the wrong number of values",
            ));
        }
        keys.iter()
            .zip(&values)
            .map(|(key, value)| state_of(key, value))
            .collect()
    }

    /// The newest feed entry and how many entries were ever added, read
    /// together: changes after it are not guaranteed to be in a snapshot
    /// taken next.
    pub(super) async fn feed_head(&self) -> Result<FeedPosition, StoreError> {
        let mut call = HEAD.prepare_invoke();
        call.key(self.feed_key());
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("the feed head script did not return an array"));
        };
        let [id, added] = parts.as_slice() else {
            return Err(corrupt("the feed head script returned the wrong shape"));
        };
        let id = opt_str(id, "feed head")?.unwrap_or("0-0").to_owned();
        let consumed = match added {
            Value::Int(n) => u64::try_from(*n).map_err(corrupt)?,
            other => parse_secs(
                opt_str(other, "entries-added")?.unwrap_or("0"),
                "entries-added",
            )
            .and_then(|n| u64::try_from(n).map_err(corrupt))?,
        };
        Ok(FeedPosition::new(id, consumed))
    }

    /// A dedicated connection for the blocking feed reads, so that they
    /// never hold a pooled connection; to the current primary.
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn feed_reader(&self, block: Duration) -> Result<FeedReader, StoreError> {
        let connection = self.blocking_connection(block).await?;
        Ok(FeedReader {
            connection,
            feed: self.feed_key(),
            store: self.clone(),
            block,
        })
    }
}

/// What `XINFO STREAM` says about the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedInfo {
    /// Entries ever added (`entries-added`).
    pub entries_added: u64,
    /// Entries still in the stream (`length`).
    pub length: u64,
}

impl FeedInfo {
    /// Whether a follower at `position` can no longer read everything after
    /// it: entries it had not consumed were trimmed, or the stream was
    /// reset below it.
    pub fn lost_entries_after(&self, position: &FeedPosition) -> bool {
        match self.entries_added.checked_sub(position.consumed()) {
            None => true,
            Some(unconsumed) => unconsumed > self.length,
        }
    }
}

/// One read of the feed: the keys changed after the reader's position and
/// the id of the last entry read.
#[derive(Debug, Default)]
pub struct FeedBatch {
    pub keys: Vec<MirroredKey>,
    pub last_id: Option<String>,
    /// How many entries were read.
    pub entries: u64,
}

/// Reads the change feed on its own connection.
pub struct FeedReader {
    connection: redis::aio::MultiplexedConnection,
    feed: String,
    store: RedisStore,
    block: Duration,
}

impl FeedReader {
    /// Entries after `after`, waiting up to the block time for one; an
    /// empty batch when none came.
    ///
    /// # Errors
    /// The connection failed or the reply is not a stream read.
    pub async fn next(&mut self, after: &str, count: usize) -> Result<FeedBatch, StoreError> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(u64::try_from(self.block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(&self.feed)
            .arg(after);
        let reply: Value = read
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        let mut batch = FeedBatch::default();
        let streams = match reply {
            Value::Nil => return Ok(batch),
            Value::Array(streams) => streams,
            Value::Map(map) => map
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
            _ => return Err(corrupt("XREAD did not return streams")),
        };
        for stream in streams {
            let Value::Array(parts) = stream else {
                return Err(corrupt("XREAD returned a stream that is not a pair"));
            };
            let Some(Value::Array(entries)) = parts.get(1) else {
                return Err(corrupt("XREAD returned a stream without entries"));
            };
            for entry in entries {
                let Value::Array(entry) = entry else {
                    return Err(corrupt("a feed entry is not an array"));
                };
                let id = entry
                    .first()
                    .and_then(|id| opt_str(id, "feed id").ok().flatten())
                    .ok_or_else(|| corrupt("a feed entry has no id"))?;
                batch.last_id = Some(id.to_owned());
                batch.entries += 1;
                if let Some(Value::Array(fields)) = entry.get(1) {
                    for pair in fields.chunks_exact(2) {
                        if opt_str(&pair[0], "feed field")? != Some("k") {
                            continue;
                        }
                        let names = opt_str(&pair[1], "feed keys")?.unwrap_or_default();
                        batch
                            .keys
                            .extend(names.split('\n').filter_map(|n| self.store.mirrored(n)));
                    }
                }
            }
        }
        Ok(batch)
    }

    /// `XINFO STREAM` of the feed; an absent feed has nothing.
    ///
    /// # Errors
    /// The connection failed or the reply is not stream information.
    pub async fn info(&mut self) -> Result<FeedInfo, StoreError> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(&self.feed);
        let present: i64 = exists
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        if present == 0 {
            return Ok(FeedInfo {
                entries_added: 0,
                length: 0,
            });
        }
        let mut xinfo = redis::cmd("XINFO");
        xinfo.arg("STREAM").arg(&self.feed);
        let reply: Value = xinfo
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        let pairs: Vec<(Value, Value)> = match reply {
            Value::Array(flat) => flat
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
            Value::Map(map) => map,
            _ => return Err(corrupt("XINFO STREAM did not return a map")),
        };
        let number = |name: &str| -> Result<u64, StoreError> {
            match pairs
                .iter()
                .find(|(k, _)| matches!(opt_str(k, "xinfo"), Ok(Some(n)) if n == name))
                .map(|(_, v)| v)
            {
                Some(Value::Int(n)) => u64::try_from(*n).map_err(corrupt),
                _ => Err(corrupt(format_args!(
                    "XINFO STREAM has no `{name}` (revokd needs Redis 7.0 or later)"
                ))),
            }
        };
        Ok(FeedInfo {
            entries_added: number("entries-added")?,
            length: number("length")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_entries_are_counted_not_guessed() {
        let at = |consumed| FeedPosition::new("1-0".into(), consumed);
        let info = |entries_added, length| FeedInfo {
            entries_added,
            length,
        };
        // 10 added, 4 unconsumed, all 4 still there (and 2 consumed ones).
        assert!(!info(10, 6).lost_entries_after(&at(6)));
        assert!(!info(10, 4).lost_entries_after(&at(6)));
        // One unconsumed entry was trimmed.
        assert!(info(10, 3).lost_entries_after(&at(6)));
        // Reset: fewer entries than this follower consumed.
        assert!(info(2, 2).lost_entries_after(&at(6)));
        assert!(!info(0, 0).lost_entries_after(&at(0)));
    }

    #[test]
    fn absent_values_become_removals() {
        let jti = TokenId::parse("t").unwrap();
        assert_eq!(
            state_of(&MirroredKey::Token(jti.clone()), &Value::Nil).unwrap(),
            FactUpdate::Token {
                jti: jti.clone(),
                expires_at: UnixTime::from_secs(0)
            }
        );
        let nil_binding = Value::Array(vec![Value::Nil; 5]);
        assert_eq!(
            state_of(&MirroredKey::Binding(jti.clone()), &nil_binding).unwrap(),
            FactUpdate::Unbound { jti }
        );
    }
}

//! The live revocation set, paged, from the snapshot index (`index.rs`):
//! bucket by bucket, and within a bucket in field order, so that a cursor
//! (`{bucket}` or `{bucket}:{field}`) says exactly where the next page
//! starts whatever was written in between.
//!
//! Bindings are skipped (they are not revocations), and so are entries
//! already expired for the caller's `now` (the sweep drops those later).

use deadpool_redis::redis::{self, Value};

use super::index::{BUCKETS, COMPLETE, indexed_state};
use super::{RedisStore, corrupt, opt_str, store_error};
use crate::domain::{Change, UnixTime};
use crate::store::{LivePage, StoreError, decode_list_cursor, encode_list_cursor, live_change};

/// Buckets read in the first round trip of a page; each further round
/// trip reads four times as many, up to [`MAX_CHUNK`]: a full page of a
/// large set needs a few buckets, an empty set needs few round trips.
const FIRST_CHUNK: u32 = 16;
const MAX_CHUNK: u32 = 1024;

/// Where a page starts: a bucket, and within it the field after which to
/// go on (`None`: from its first field).
#[derive(Debug, PartialEq, Eq)]
struct Position {
    bucket: u32,
    after: Option<String>,
}

impl Position {
    fn encode(&self) -> String {
        let text = match &self.after {
            None => format!("{:04x}", self.bucket),
            Some(field) => format!("{:04x}:{field}", self.bucket),
        };
        encode_list_cursor(&text)
    }

    fn decode(cursor: &str) -> Result<Self, StoreError> {
        let text = decode_list_cursor(cursor)?;
        let (hex, after) = match text.split_once(':') {
            Some((hex, field)) => (hex, Some(field.to_owned())),
            None => (text.as_str(), None),
        };
        let bucket = (hex.len() == 4)
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten()
            .filter(|b| *b < BUCKETS)
            .ok_or(StoreError::InvalidListCursor)?;
        Ok(Self { bucket, after })
    }
}

impl RedisStore {
    /// See [`crate::store::RevocationStore::live_revocations`]. Builds the
    /// index first if no instance has (only one that never loaded a mirror,
    /// `check.source = "store"`, can be in that position).
    pub(super) async fn read_live(
        &self,
        cursor: Option<&str>,
        limit: usize,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        let start = match cursor {
            Some(cursor) => Position::decode(cursor)?,
            None => Position {
                bucket: 0,
                after: None,
            },
        };
        let mut exists = redis::cmd("HEXISTS");
        exists.arg(self.index_record()).arg(COMPLETE);
        let complete: bool = self
            .run(|mut conn| async move { exists.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        if !complete {
            self.build_index(&mut |_| {}).await?;
        }

        let mut page = LivePage::default();
        let mut last: Option<Position> = None;
        let mut bucket = start.bucket;
        let mut chunk = FIRST_CHUNK;
        while bucket < BUCKETS {
            let end = bucket.saturating_add(chunk).min(BUCKETS);
            for (b, mut entries) in (bucket..end).zip(self.live_buckets(bucket, end, now).await?) {
                if b == start.bucket
                    && let Some(after) = &start.after
                {
                    entries.retain(|(field, _)| field > after);
                }
                for (field, change) in entries {
                    if page.revocations.len() == limit {
                        page.next = last.as_ref().map(Position::encode);
                        return Ok(page);
                    }
                    page.revocations.push(change);
                    last = Some(Position {
                        bucket: b,
                        after: Some(field),
                    });
                }
            }
            bucket = end;
            chunk = (chunk * 4).min(MAX_CHUNK);
        }
        Ok(page)
    }

    /// The live revocations of buckets `first..end`, each sorted by field,
    /// in one pipelined round trip.
    async fn live_buckets(
        &self,
        first: u32,
        end: u32,
        now: UnixTime,
    ) -> Result<Vec<Vec<(String, Change)>>, StoreError> {
        let mut pipe = redis::pipe();
        for bucket in first..end {
            pipe.cmd("HGETALL")
                .arg(format!("{}{bucket:04x}", self.bucket_prefix()));
        }
        let replies: Vec<Value> = self
            .run(|mut conn| async move { pipe.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        replies
            .iter()
            .map(|reply| {
                let pairs: Vec<(&Value, &Value)> = match reply {
                    Value::Array(flat) => flat.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
                    Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
                    _ => return Err(corrupt("HGETALL of an index bucket did not return a hash")),
                };
                let mut entries = Vec::new();
                for (field, value) in pairs {
                    let field = opt_str(field, "index field")?.unwrap_or_default();
                    let value = opt_str(value, field)?.unwrap_or_default();
                    let change = indexed_state(field, value, now.as_secs())?
                        .and_then(|update| live_change(update, now));
                    if let Some(change) = change {
                        entries.push((field.to_owned(), change));
                    }
                }
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(entries)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_opaque_cursors() {
        for position in [
            Position {
                bucket: 0,
                after: None,
            },
            Position {
                bucket: 0xfffe,
                after: Some("ses:19:https://idp.example:a b/c".into()),
            },
        ] {
            let cursor = position.encode();
            assert!(
                cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{cursor}"
            );
            assert_eq!(Position::decode(&cursor).unwrap(), position);
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for text in ["", "zzzz", "10000", "123", "abcde:x"] {
            let cursor = encode_list_cursor(text);
            assert!(
                matches!(
                    Position::decode(&cursor),
                    Err(StoreError::InvalidListCursor)
                ),
                "{text:?}"
            );
        }
        assert!(Position::decode("not base64!").is_err());
    }
}

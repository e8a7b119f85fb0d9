//! The snapshot index: every mirrored fact, in a form a starting instance
//! reads fast.
//!
//! Reading the facts themselves needs a `SCAN` of the whole keyspace and a
//! `GET` per key, about 5 µs of Redis time per fact: a minute for 10M. So
//! every write script also copies the state of each mirrored key it touched
//! into the index (`index` in the scripts' prelude), and a snapshot reads
//! the index instead.
//!
//! # Layout
//!
//! [`BUCKETS`] hashes, `{prefix}mirror:{hhhh}`, where `hhhh` is the first 4
//! hex digits of the SHA-1 of the field (Lua's `redis.sha1hex`). A field is
//! the fact's key without the prefix; its value is the key's string value,
//! or for a binding its fields joined by newlines (identifiers hold no
//! control characters). Many small hashes rather than one large one: Redis
//! stores a hash of up to 512 entries of up to 64 bytes as one contiguous
//! listpack (the defaults `hash-max-listpack-entries` and `-value`), which
//! `HGETALL` walks about 9 times faster than `HSCAN` walks one large hash
//! (0.17 µs against 1.5 µs of Redis time per field, measured here); a
//! bucket holds about 150 facts at 10M.
//!
//! `{prefix}mirror` is the index's own record: `complete` (set once a
//! build has finished) and `sweep` (the next bucket to sweep).
//!
//! # Building and sweeping
//!
//! Data written before the index existed is copied into it once, by the
//! first snapshot that finds no `complete` mark: a `SCAN` that hands out
//! what it reads and copies it into the index as it goes. Each step reads a
//! key and writes its field atomically, and writes running meanwhile keep
//! their own keys current, so the finished index holds every live fact.
//!
//! Redis expires the facts' keys, but nothing expires hash fields on Redis
//! 7.0: a snapshot skips expired entries, and [`RedisStore::sweep_index`]
//! drops them a few buckets at a time, resuming where the last sweep of any
//! instance stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use deadpool_redis::redis::{self, Value};

use super::scripts::{BUILD, SWEEP};

use super::feed::{BINDING_FIELDS, binding_update, fact_update, state_of};
use super::{NEVER, RedisStore, corrupt, opt_str, store_error};
use crate::domain::{ChangeKinds, FactUpdate, TokenBatch, TokenId, UnixTime};
use crate::store::FeedPosition;
use crate::store::{LivePage, MirroredKey, SnapshotSink, StoreError, live_change};

/// Buckets of the index: 16^4, one per 4 hex digits of a SHA-1.
pub const BUCKETS: u32 = 1 << 16;

/// Buckets a snapshot reads per round trip (one pipeline of `HGETALL`s):
/// about 75,000 entries at 10M, a few MB of replies waiting in Redis.
const READ_CHUNK: u32 = 512;

/// Readers of a snapshot at once, each on a connection and a task of its
/// own, decoding and handing over what it reads: Redis, the decoding and
/// the mirror's inserts overlap.
const READS_IN_FLIGHT: usize = 3;

/// Token revocations decoded before they are handed to the sink: large
/// batches, so that the mirror can order each as its table lays it out
/// (see `Mirror::apply_tokens`); about a chunk at 10M.
const HAND_OVER: usize = 1 << 16;

/// Buckets read by the first round trip of a page of the live set; each
/// further one reads twice as many, up to [`LIVE_CHUNK_MAX`].
const LIVE_CHUNK_FIRST: u32 = 8;
const LIVE_CHUNK_MAX: u32 = 1024;

/// Buckets swept per script run: a few milliseconds of Redis time at 10M.
const SWEEP_CHUNK: u32 = 64;

/// One bucket in this many is counted for [`RedisStore::index_tokens_hint`]:
/// 256 buckets, about 40,000 fields at 10M, a few milliseconds.
const HINT_STRIDE: u32 = 256;

/// Keys read per `SCAN` step of a build: one script run, one round trip,
/// about 20 ms of Redis time (other clients wait meanwhile).
const BUILD_BATCH: usize = 2_000;

/// The record's field that says the index holds every mirrored fact.
const COMPLETE: &str = "complete";

impl RedisStore {
    /// The index's own record (`complete`, `sweep`).
    pub(crate) fn index_record(&self) -> String {
        format!("{}mirror", self.prefix)
    }

    /// What every bucket's key starts with.
    fn bucket_prefix(&self) -> String {
        format!("{}mirror:", self.prefix)
    }

    /// The bucket that holds `field` (a mirrored key without the prefix),
    /// as the scripts choose it.
    pub fn index_bucket(&self, field: &str) -> String {
        let digest = openssl::sha::sha1(field.as_bytes());
        format!("{}{}", self.bucket_prefix(), hex::encode(&digest[..2]))
    }

    /// Every mirrored fact, handed to `sink` in batches: from the index
    /// when it is complete, else from a `SCAN` that builds it. Returns the
    /// feed position to follow from, read first, so that a change made
    /// meanwhile is either in the snapshot or after that position (or both;
    /// replaying it is harmless).
    ///
    /// # Errors
    /// Redis is unavailable, or a value is not in this module's format.
    pub(super) async fn read_snapshot(
        &self,
        sink: Arc<dyn SnapshotSink>,
    ) -> Result<FeedPosition, StoreError> {
        let head = self.feed_head().await?;
        if self.index_complete().await? {
            self.read_index(sink).await?;
        } else {
            self.build_index(&*sink).await?;
        }
        Ok(head)
    }

    /// The token revocations in the index, estimated from the fields of
    /// one bucket in [`HINT_STRIDE`] (SHA-1 spreads keys evenly, so the
    /// error is well under 1 % at a million), for the mirror to reserve
    /// room before a snapshot; `None` while the index is not complete.
    pub(super) async fn index_tokens_hint(&self) -> Result<Option<u64>, StoreError> {
        if !self.index_complete().await? {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        for bucket in (0..BUCKETS).step_by(HINT_STRIDE as usize) {
            pipe.cmd("HKEYS")
                .arg(format!("{}{bucket:04x}", self.bucket_prefix()));
        }
        let replies: Vec<Value> = self
            .run(|mut conn| async move { pipe.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        let tokens = replies
            .iter()
            .filter_map(|reply| match reply {
                Value::Array(fields) => Some(fields),
                _ => None,
            })
            .flatten()
            .filter(|field| matches!(field, Value::BulkString(name) if name.starts_with(b"tok:")))
            .count() as u64;
        Ok(Some(tokens * u64::from(HINT_STRIDE)))
    }

    /// Reads every bucket: [`READS_IN_FLIGHT`] tasks, each on a
    /// [`RawConnection`] of its own, take [`READ_CHUNK`] buckets at a time
    /// (one pipeline of `HGETALL`s), decode the replies in place and hand
    /// them to `sink` themselves, so that Redis, the decoding and the
    /// sink's inserts run side by side. The first failure stops them all.
    async fn read_index(&self, sink: Arc<dyn SnapshotSink>) -> Result<(), StoreError> {
        let now = UnixTime::now().as_secs();
        let next = Arc::new(AtomicU32::new(0));
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..READS_IN_FLIGHT {
            readers.spawn(
                self.clone()
                    .read_index_part(Arc::clone(&next), Arc::clone(&sink), now),
            );
        }
        while let Some(done) = readers.join_next().await {
            // Returning drops (and so aborts) the other readers.
            done.map_err(corrupt)??;
        }
        Ok(())
    }

    /// One reader of [`Self::read_index`]: chunks of buckets until none is
    /// left.
    async fn read_index_part(
        self,
        next: Arc<AtomicU32>,
        sink: Arc<dyn SnapshotSink>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.raw_connection().await?;
        let mut decoder = IndexDecoder::new(now);
        loop {
            let first = next.fetch_add(READ_CHUNK, Ordering::Relaxed);
            if first >= BUCKETS {
                return Ok(());
            }
            let buckets = first..first.saturating_add(READ_CHUNK).min(BUCKETS);
            let mut pipe = redis::pipe();
            for bucket in buckets.clone() {
                pipe.cmd("HGETALL")
                    .arg(format!("{}{bucket:04x}", self.bucket_prefix()));
            }
            conn.send(&pipe.get_packed_pipeline()).await?;
            for _ in buckets {
                conn.read_hash(|field, value| decoder.entry(field, value))
                    .await?;
                if decoder.tokens.len() >= HAND_OVER {
                    decoder.hand_over(&*sink);
                }
            }
            decoder.hand_over(&*sink);
        }
    }

    /// One pipeline of `HGETALL`s: the raw replies for buckets
    /// `first..first + count`, in bucket order.
    async fn hgetall_buckets(&self, first: u32, count: u32) -> Result<Vec<Value>, StoreError> {
        let mut pipe = redis::pipe();
        for bucket in first..first.saturating_add(count).min(BUCKETS) {
            pipe.cmd("HGETALL")
                .arg(format!("{}{bucket:04x}", self.bucket_prefix()));
        }
        self.run(|mut conn| async move { pipe.query_async(&mut conn).await.map_err(store_error) })
            .await
    }

    /// Every mirrored fact from a `SCAN` of the keys themselves, copied
    /// into the index as it goes ([`BUILD_BATCH`] keys per round trip); the
    /// index is marked complete at the end.
    async fn build_index(&self, sink: &dyn SnapshotSink) -> Result<(), StoreError> {
        tracing::info!("building the snapshot index of the Redis store (once, with SCAN)");
        let progress = crate::progress::Progress::new(
            "building the snapshot index of the Redis store",
            "keys scanned",
            None,
        );
        let pattern = glob_escape(&self.prefix);
        let mut cursor = "0".to_owned();
        loop {
            let mut call = BUILD.prepare_invoke();
            call.arg(&pattern)
                .arg(self.prefix.len())
                .arg(&cursor)
                .arg(BUILD_BATCH);
            let reply: Value =
                self.run(|mut conn| async move {
                    call.invoke_async(&mut conn).await.map_err(store_error)
                })
                .await?;
            let Value::Array(items) = reply else {
                return Err(corrupt("the index build script did not return an array"));
            };
            let Some((next, pairs)) = items.split_first() else {
                return Err(corrupt("the index build script returned no cursor"));
            };
            progress.advance((pairs.len() / 2) as u64);
            let mut batch = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks_exact(2) {
                let name = opt_str(&pair[0], "scanned key")?.unwrap_or_default();
                let Some(key) = self.mirrored(name) else {
                    continue;
                };
                batch.push(state_of(&key, &pair[1])?);
            }
            if !batch.is_empty() {
                sink.facts(batch);
            }
            cursor = opt_str(next, "SCAN cursor")?
                .ok_or_else(|| corrupt("SCAN returned no cursor"))?
                .to_owned();
            if cursor == "0" {
                break;
            }
        }
        let mut complete = redis::cmd("HSET");
        complete
            .arg(self.index_record())
            .arg(COMPLETE)
            .arg(UnixTime::now().as_secs());
        self.run(|mut conn| async move {
            complete
                .query_async::<Value>(&mut conn)
                .await
                .map_err(store_error)
        })
        .await?;
        tracing::info!(progress = %progress.describe(), "built the snapshot index of the Redis store");
        Ok(())
    }

    /// One page of live revocations of `kinds` from the index, at most
    /// `limit` of them (at least one); builds the index first when it is
    /// not complete.
    ///
    /// Pages walk the buckets in order and, inside a bucket, its fields in
    /// byte order, so a cursor is a bucket plus the last field served from
    /// it (see [`LiveCursor`]): a revocation recorded or lifted between two
    /// pages never shifts what the next page starts with.
    ///
    /// # Errors
    /// Redis is unavailable, the cursor is not one of ours, or an entry is
    /// not in the index's format.
    pub(super) async fn read_live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        let limit = limit.max(1);
        let start = match cursor {
            None => {
                if !self.index_complete().await? {
                    self.build_index(&Discard).await?;
                }
                LiveCursor {
                    bucket: 0,
                    after: None,
                }
            }
            Some(text) => LiveCursor::decode(text).ok_or(StoreError::InvalidCursor)?,
        };
        let mut revocations = Vec::with_capacity(limit.min(1024));
        let mut bucket = start.bucket;
        let mut after = start.after;
        // Few buckets first (a large set fills a page from a handful),
        // more while they come back sparse.
        let mut chunk = LIVE_CHUNK_FIRST;
        while bucket < BUCKETS {
            let replies = self.hgetall_buckets(bucket, chunk).await?;
            for reply in &replies {
                let mut entries = Vec::new();
                for_each_entry(reply, |field, value| {
                    // Kinds not asked for are dropped before any parsing.
                    if MirroredKey::live_kind(field).is_some_and(|kind| kinds.contains(kind)) {
                        entries.push((field.to_owned(), value.to_owned()));
                    }
                    Ok(())
                })?;
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (field, value) in entries {
                    if after.as_deref().is_some_and(|last| field.as_str() <= last) {
                        continue;
                    }
                    let live = indexed_state(&field, &value, now.as_secs())?
                        .and_then(|update| live_change(update, now));
                    if let Some(change) = live {
                        revocations.push(change);
                        if revocations.len() == limit {
                            let next = LiveCursor {
                                bucket,
                                after: Some(field),
                            };
                            return Ok(LivePage {
                                revocations,
                                next: Some(next.encode()),
                            });
                        }
                    }
                }
                bucket += 1;
                after = None;
            }
            chunk = (chunk * 2).min(LIVE_CHUNK_MAX);
        }
        Ok(LivePage {
            revocations,
            next: None,
        })
    }

    async fn index_complete(&self) -> Result<bool, StoreError> {
        let mut exists = redis::cmd("HEXISTS");
        exists.arg(self.index_record()).arg(COMPLETE);
        self.run(|mut conn| async move { exists.query_async(&mut conn).await.map_err(store_error) })
            .await
    }

    /// Drops expired facts from the index: up to `steps` script runs of
    /// [`SWEEP_CHUNK`] buckets, resuming where the last sweep (of any
    /// instance) stopped and stopping after the last bucket. Returns how
    /// many entries were dropped. Does nothing before the index is
    /// complete.
    ///
    /// # Errors
    /// Redis is unavailable.
    pub async fn sweep_index(&self, now: UnixTime, steps: usize) -> Result<u64, StoreError> {
        let mut dropped = 0;
        for _ in 0..steps {
            let mut call = SWEEP.prepare_invoke();
            call.key(self.index_record())
                .arg(now.as_secs())
                .arg(SWEEP_CHUNK)
                .arg(self.bucket_prefix())
                .arg(BUCKETS);
            let (next, count): (u32, u64) =
                self.run(|mut conn| async move {
                    call.invoke_async(&mut conn).await.map_err(store_error)
                })
                .await?;
            dropped += count;
            if next == 0 {
                break;
            }
        }
        Ok(dropped)
    }
}

/// Calls `entry` with each `(field, value)` of an `HGETALL` reply (RESP2
/// flat array or RESP3 map).
fn for_each_entry(
    reply: &Value,
    mut entry: impl FnMut(&str, &str) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut pair = |field: &Value, value: &Value| {
        let field = opt_str(field, "index field")?.unwrap_or_default();
        let value = opt_str(value, field)?.unwrap_or_default();
        entry(field, value)
    };
    match reply {
        Value::Array(flat) => flat.chunks_exact(2).try_for_each(|kv| pair(&kv[0], &kv[1])),
        Value::Map(pairs) => pairs.iter().try_for_each(|(k, v)| pair(k, v)),
        _ => Err(corrupt("HGETALL of an index bucket did not return a hash")),
    }
}

/// A sink for a build whose facts nobody reads (a page of the live set).
struct Discard;

impl SnapshotSink for Discard {
    fn facts(&self, _: Vec<FactUpdate>) {}
}

/// Decodes the entries of index buckets as they are read: token
/// revocations (nearly all of a large index) into a [`TokenBatch`] without
/// an allocation each, everything else through [`indexed_state`].
struct IndexDecoder {
    now: i64,
    tokens: TokenBatch,
    others: Vec<FactUpdate>,
}

impl IndexDecoder {
    fn new(now: i64) -> Self {
        Self {
            now,
            tokens: TokenBatch::new(),
            others: Vec::new(),
        }
    }

    /// One `(field, value)` of a bucket, as [`indexed_state`] reads it:
    /// the same entries skipped, the same ones refused.
    ///
    /// # Errors
    /// Not UTF-8, or not in the index's format.
    fn entry(&mut self, field: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let field = std::str::from_utf8(field).map_err(|_| corrupt("index field is not UTF-8"))?;
        let value = std::str::from_utf8(value)
            .map_err(|_| corrupt(format_args!("{field} is not UTF-8")))?;
        if let Some(jti) = field.strip_prefix("tok:") {
            // A token id `TokenId::parse` refuses is not ours: skipped, as
            // `MirroredKey::decode` skips it.
            if !TokenId::is_valid(jti) {
                return Ok(());
            }
            let expires = if value == NEVER {
                Some(i64::MAX)
            } else {
                value.parse::<i64>().ok()
            };
            match expires {
                Some(secs) if value != NEVER && secs <= self.now => {}
                Some(secs) => {
                    self.tokens.push(jti, UnixTime::from_secs(secs));
                }
                // Refused with the same words as every other reader.
                None => {
                    indexed_state(field, value, self.now)?;
                }
            }
            return Ok(());
        }
        self.others.extend(indexed_state(field, value, self.now)?);
        Ok(())
    }

    /// Hands what was decoded to `sink` and starts afresh.
    fn hand_over(&mut self, sink: &dyn SnapshotSink) {
        if !self.tokens.is_empty() {
            sink.tokens(&self.tokens);
            self.tokens.clear();
        }
        if !self.others.is_empty() {
            sink.facts(std::mem::take(&mut self.others));
        }
    }
}

/// Where a page of the live set resumes: a bucket, and the last field
/// already served from it (none: the bucket from its start). Written
/// `{bucket}` or `{bucket}.{hex of the field}`.
#[derive(Debug, PartialEq, Eq)]
struct LiveCursor {
    bucket: u32,
    after: Option<String>,
}

impl LiveCursor {
    fn encode(&self) -> String {
        match &self.after {
            None => self.bucket.to_string(),
            Some(field) => format!("{}.{}", self.bucket, hex::encode(field)),
        }
    }

    /// `None` for anything [`Self::encode`] does not write.
    fn decode(text: &str) -> Option<Self> {
        let (bucket_text, field) = match text.split_once('.') {
            None => (text, None),
            Some((bucket, hex_field)) => {
                let bytes = hex::decode(hex_field).ok()?;
                let field = String::from_utf8(bytes).ok()?;
                if field.is_empty() || hex_field != hex::encode(&field) {
                    return None;
                }
                (bucket, Some(field))
            }
        };
        let bucket = bucket_text.parse::<u32>().ok()?;
        (bucket < BUCKETS && bucket_text == bucket.to_string()).then_some(Self {
            bucket,
            after: field,
        })
    }
}

/// One index entry as the update it stands for; `None` for keys this
/// version does not mirror and for facts already expired at `now` (the
/// sweep drops those).
///
/// # Errors
/// The value is not in the index's format.
fn indexed_state(field: &str, value: &str, now: i64) -> Result<Option<FactUpdate>, StoreError> {
    let Some(key) = MirroredKey::decode(field) else {
        return Ok(None);
    };
    let expiry = match &key {
        MirroredKey::Binding(_) => value.split('\n').next(),
        MirroredKey::SubjectRevokedBefore(_) => value.split_once(' ').map(|(_, exp)| exp),
        MirroredKey::SessionBinding(_) => value.split(' ').next(),
        _ => Some(value),
    };
    if let Some(expiry) = expiry
        && expiry != NEVER
        && expiry.parse::<i64>().is_ok_and(|secs| secs <= now)
    {
        return Ok(None);
    }
    let update = match &key {
        MirroredKey::Binding(jti) => {
            let mut parts = value.split('\n');
            let fields = [(); BINDING_FIELDS.len()].map(|()| parts.next());
            if parts.next().is_some() {
                return Err(corrupt(format_args!("{field}: not a binding")));
            }
            binding_update(jti, fields, &key)?
        }
        _ => fact_update(&key, Some(value))?,
    };
    Ok(Some(update))
}

/// Escapes the glob characters of `MATCH` in a key prefix.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issuer, Session, SessionId, Subject, SubjectId, TokenId};

    #[test]
    fn live_cursors_round_trip_and_refuse_anything_else() {
        for cursor in [
            LiveCursor {
                bucket: 0,
                after: None,
            },
            LiveCursor {
                bucket: BUCKETS - 1,
                after: Some("tok:a.b:c\n\u{e9}".into()),
            },
        ] {
            assert_eq!(LiveCursor::decode(&cursor.encode()), Some(cursor));
        }
        assert_eq!(LiveCursor::decode("12").unwrap().bucket, 12);
        for bad in [
            "",
            "65536",
            "012",
            "+1",
            "-1",
            "1.",
            "1.zz",
            "1.6",
            "1.746F6B",
            "x.746f6b",
            "1.746f6b.00",
            "1.ff",
        ] {
            assert_eq!(LiveCursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn match_patterns_escape_globs() {
        assert_eq!(glob_escape("revokd:"), "revokd:*");
        assert_eq!(glob_escape("{a*}[x]?:"), "{a\\*}\\[x\\]\\?:*");
    }

    #[test]
    fn expired_entries_are_skipped_and_live_ones_read() {
        let now = 1_000;
        assert_eq!(indexed_state("tok:t", "999", now).unwrap(), None);
        assert_eq!(indexed_state("tok:t", "1000", now).unwrap(), None);
        assert_eq!(
            indexed_state("tok:t", "1001", now).unwrap(),
            Some(FactUpdate::Token {
                jti: TokenId::parse("t").unwrap(),
                expires_at: UnixTime::from_secs(1001)
            })
        );
        assert_eq!(indexed_state("rb:3:iss:u", "10 999", now).unwrap(), None);
        assert!(
            indexed_state("rb:3:iss:u", "10 never", now)
                .unwrap()
                .is_some()
        );
        assert!(
            indexed_state("dis:3:iss:u", "never", now)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            indexed_state("bnd:t", "999\n1\niss\nsub", now).unwrap(),
            None
        );
        // Not ours (seen markers, registrations, unknown kinds): skipped.
        assert_eq!(indexed_state("seen:3:iss:x", "5000", now).unwrap(), None);
        assert_eq!(indexed_state("complete", "1", now).unwrap(), None);
    }

    #[test]
    fn bindings_read_with_and_without_a_session() {
        let now = 1_000;
        let Some(FactUpdate::Binding {
            session,
            subject,
            registered_at,
            expires_at,
            ..
        }) = indexed_state("bnd:t", "2000\n900\nhttps://idp\nalice\ns1", now).unwrap()
        else {
            panic!("a binding");
        };
        assert_eq!(session.map(|s| s.sid.to_string()), Some("s1".to_owned()));
        assert_eq!(subject.sub.to_string(), "alice");
        assert_eq!(
            (registered_at, expires_at),
            (UnixTime::from_secs(900), UnixTime::from_secs(2000))
        );
        let Some(FactUpdate::Binding { session, .. }) =
            indexed_state("bnd:t", "2000\n900\nhttps://idp\nalice", now).unwrap()
        else {
            panic!("a binding");
        };
        assert_eq!(session, None);
    }

    #[test]
    fn session_bindings_read_with_their_subject_and_expire() {
        let now = 1_000;
        assert_eq!(
            indexed_state("sbn:11:https://idp:s1", "2000 900 alice b", now).unwrap(),
            Some(FactUpdate::SessionBound {
                session: Session {
                    iss: Issuer::parse("https://idp").unwrap(),
                    sid: SessionId::parse("s1").unwrap(),
                },
                subject: Subject {
                    iss: Issuer::parse("https://idp").unwrap(),
                    sub: SubjectId::parse("alice b").unwrap(),
                },
                registered_at: UnixTime::from_secs(900),
                expires_at: UnixTime::from_secs(2000),
            })
        );
        assert_eq!(
            indexed_state("sbn:11:https://idp:s1", "1000 900 alice", now).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_entries_are_errors_not_guesses() {
        let now = 1_000;
        for (field, value) in [
            ("tok:t", "soon"),
            ("rb:3:iss:u", "10"),
            ("rb:3:iss:u", "x 2000"),
            ("bnd:t", "2000"),
            ("bnd:t", "2000\n900\nhttps://idp\nalice\ns1\nextra"),
            ("bnd:t", "2000\nlater\nhttps://idp\nalice"),
            ("sbn:3:iss:s", "2000"),
            ("sbn:3:iss:s", "2000 later alice"),
        ] {
            assert!(
                matches!(
                    indexed_state(field, value, now),
                    Err(StoreError::Corrupt(_))
                ),
                "{field} = {value:?}"
            );
        }
    }
}

//! The Redis store: shared by every instance that points at the same Redis
//! and key prefix.
//!
//! # Layout in Redis
//!
//! Each fact is its own string key, `{key_prefix}{FactKey::encode()}`, so
//! that Redis 7.0 (no per-field `HEXPIRE`) can expire every fact by itself
//! with `EXAT`. The value repeats the expiry, because Redis expires keys on
//! *its* clock while the contract filters on the caller's `now`:
//!
//! | fact                   | key                   | value                             |
//! |------------------------|-----------------------|-----------------------------------|
//! | token revoked          | `tok:{jti}`           | `{expires_at}`                    |
//! | session revoked        | `ses:{n}:{iss}:{sid}` | `{expires_at}`                    |
//! | subject disabled       | `dis:{n}:{iss}:{sub}` | `{expires_at}` or `never`         |
//! | subject revoked-before | `rb:{n}:{iss}:{sub}`  | `{before} {expires_at or never}`  |
//!
//! Times are decimal Unix seconds. A `never` key has no TTL.
//!
//! Audit events live in one stream, `{key_prefix}events`, one field `event`
//! holding the JSON of the [`Event`] without its id: the stream entry id *is*
//! the [`EventId`], so ids increase monotonically and paging is a range read.
//!
//! # Atomicity
//!
//! [`RevocationStore::apply`] runs one Lua script ([`APPLY_LUA`]) that reads
//! the old facts, merges, writes and `XADD`s, so the fact and its event
//! commit together. Redis does not roll a script back, so the script reads
//! and validates everything before its first write. Durability is the
//! server's: run Redis with `appendonly yes` and `appendfsync always` when a
//! 200 must survive a Redis crash.
//!
//! # Redis Cluster
//!
//! `apply` touches a fact key and the stream in one script, and `lookup`
//! reads up to four keys with one `MGET`; Cluster only allows that within one
//! hash slot. Put a hash tag in the prefix (`key_prefix = "{revokd}:"`) to
//! keep every key of a deployment in one slot.
//!
//! # Faults
//!
//! Every call is bounded by `connect_timeout + command_timeout`, on top of
//! the pool's own wait/create/recycle timeouts and the connection's response
//! timeout, and fails with [`StoreError::Unavailable`] when it runs out.
//! Nothing is cached between calls except pooled connections, and the pool
//! replaces dead ones (see [`RedisStore::connect`]), so calls succeed again
//! as soon as Redis is back.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncConnectionConfig, ErrorKind, RedisError, Script, Value};
use deadpool_redis::{Manager, Pool, PoolConfig, QueueMode, Runtime, Timeouts};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{FactKey, RevocationStore, StoreError};
use crate::domain::{Change, Event, EventId, EventPage, Facts, Lookup, Note, Provenance, UnixTime};

/// `[redis]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// A secret: it may hold a password.
    pub url: SecretString,
    /// Prefix of every key.
    pub key_prefix: String,
    pub pool_size: usize,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Approximate length of the audit stream (`XADD ... MAXLEN ~`).
    pub max_events: u64,
}

/// The error code [`APPLY_LUA`] answers with when a stored value is not in
/// the format this module writes. Mapped to [`StoreError::Corrupt`].
const CORRUPT_CODE: &str = "CORRUPT";

/// The stored value of a disable (or a revoked-before mark) that has no
/// expiry. Written as a word rather than a sentinel number so that nobody
/// reading the database with `redis-cli` mistakes it for an instant.
const NEVER: &str = "never";

/// The stream field that holds an event's JSON.
const EVENT_FIELD: &str = "event";

/// Applies one [`Change`] and appends its event, atomically.
///
/// `KEYS`: the fact keys of the change kind (see below), then the stream.
/// `ARGV`: `kind`, `now`, `max_events`, `event JSON`, then per kind:
///
/// | kind                     | KEYS (before the stream) | extra ARGV            |
/// |--------------------------|--------------------------|-----------------------|
/// | `token_revoked`          | token key                | `expires_at`          |
/// | `session_revoked`        | session key              | `expires_at`          |
/// | `subject_disabled`       | disabled key             | `expires_at`/`never`  |
/// | `subject_enabled`        | disabled key             |                       |
/// | `subject_revoked_before` | rb key                   | `before`, `expires_at`|
///
/// Old values that are already expired for `now` are ignored, so a merge
/// never revives a dead fact. Numbers are compared with `tonumber` but
/// written back as the original decimal strings: Lua numbers are doubles,
/// and formatting one would turn a large instant into `1e+15`. A fact that is
/// dead on arrival (`expires_at <= now`) is deleted rather than written, and
/// `EXAT` is capped at the end of year 9999, because Redis refuses expiry
/// instants beyond about 2^63 ms.
///
/// Returns the stream id of the event.
const APPLY_LUA: &str = r#"
local stream = KEYS[#KEYS]
local kind = ARGV[1]
local now = tonumber(ARGV[2])
local max_events = ARGV[3]
local event = ARGV[4]
local NEVER = 'never'
local MAX_EXAT = 253402300799

local function corrupt(key)
  error({err = 'CORRUPT unreadable value at ' .. key})
end

-- A decimal integer, or nil.
local function int(s)
  if type(s) == 'string' and string.match(s, '^%-?%d+$') then
    return tonumber(s)
  end
  return nil
end

-- An expiry: a decimal integer or 'never' (math.huge).
local function expiry(s)
  if s == NEVER then return math.huge end
  return int(s)
end

-- The later of two expiry strings; nil counts as absent.
local function later(a, b)
  if a == nil then return b end
  if b == nil then return a end
  if expiry(b) > expiry(a) then return b end
  return a
end

-- A simple fact (token, session, disable): its expiry string if live.
local function live_expiry(key)
  local v = redis.call('GET', key)
  if not v then return nil end
  local e = expiry(v)
  if e == nil then corrupt(key) end
  if e > now then return v end
  return nil
end

-- A revoked-before mark: before, expiry (strings) if live.
local function live_mark(key)
  local v = redis.call('GET', key)
  if not v then return nil, nil end
  local before, exp = string.match(v, '^(%-?%d+) (%S+)$')
  if before == nil then corrupt(key) end
  local e = expiry(exp)
  if e == nil then corrupt(key) end
  if e > now then return before, exp end
  return nil, nil
end

-- Writes value with an absolute expiry, or removes the key when the fact is
-- already dead for `now`.
local function put(key, value, exp)
  if exp == NEVER then
    redis.call('SET', key, value)
    return
  end
  local e = tonumber(exp)
  if e <= now or e <= 0 then
    redis.call('DEL', key)
  elseif e > MAX_EXAT then
    redis.call('SET', key, value, 'EXAT', tostring(MAX_EXAT))
  else
    redis.call('SET', key, value, 'EXAT', exp)
  end
end

-- Reads and checks first: Redis does not roll a script back on error.
local t = redis.call('TYPE', stream)['ok']
if t ~= 'stream' and t ~= 'none' then corrupt(stream) end

if kind == 'token_revoked' or kind == 'session_revoked' then
  local exp = later(ARGV[5], live_expiry(KEYS[1]))
  put(KEYS[1], exp, exp)
elseif kind == 'subject_disabled' then
  local dis_exp = later(ARGV[5], live_expiry(KEYS[1]))
  put(KEYS[1], dis_exp, dis_exp)
elseif kind == 'subject_enabled' then
  redis.call('DEL', KEYS[1])
elseif kind == 'subject_revoked_before' then
  local old_before, old_exp = live_mark(KEYS[1])
  local before = ARGV[5]
  if old_before ~= nil and tonumber(old_before) > tonumber(before) then before = old_before end
  local exp = later(ARGV[6], old_exp)
  put(KEYS[1], before .. ' ' .. exp, exp)
else
  return redis.error_reply('ERR unknown change kind ' .. kind)
end

return redis.call('XADD', stream, 'MAXLEN', '~', max_events, '*', 'event', event)
"#;

static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(APPLY_LUA));

/// What the `event` field of a stream entry holds: an [`Event`] without its
/// id, which is the entry id.
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    at: UnixTime,
    #[serde(flatten)]
    change: Change,
    actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Note>,
}

/// Failures of this module that are not a [`RedisError`].
#[derive(Debug, thiserror::Error)]
enum Fault {
    /// Carries the parser's reason, never the URL: it may hold a password.
    #[error("`redis.url` is not a usable Redis URL")]
    BadUrl(#[source] RedisError),
    #[error("cannot build the Redis connection pool")]
    Pool(#[source] deadpool_redis::BuildError),
    #[error("Redis did not answer within {0:?}")]
    Deadline(Duration),
    #[error("Redis answered PING with something other than PONG")]
    NotPong,
}

/// A Redis-backed [`RevocationStore`]. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    prefix: Arc<str>,
    stream: Arc<str>,
    max_events: u64,
    /// Upper bound of every call, whatever the pool and the connection do:
    /// deadpool retries recycling one pooled connection after another, so
    /// its own timeouts alone could add up to `pool_size` times
    /// `command_timeout` against a Redis that accepts but does not answer.
    deadline: Duration,
}

impl RedisStore {
    /// Builds the connection pool. Does not connect: a Redis that is down at
    /// start-up makes `/readyz` fail, not revokd exit.
    ///
    /// Connections are opened lazily, bounded by `connect_timeout`; each
    /// command waits at most `command_timeout` for its answer. On every
    /// checkout deadpool-redis sends `UNWATCH` + `PING` (one pipelined round
    /// trip) and drops connections that fail it: that is what makes a
    /// restarted Redis transparent, at the cost of one extra round trip per
    /// call (deadpool-redis 0.23 has no setting to skip it).
    ///
    /// # Errors
    /// The URL cannot be parsed ([`StoreError::Unavailable`], the only
    /// variant that fits; the message names the key, never the URL).
    pub fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout));
        let manager = Manager::new_with_config(settings.url.expose_secret(), connection)
            .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?;
        let config = PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(settings.command_timeout),
                create: Some(settings.connect_timeout),
                recycle: Some(settings.command_timeout),
            },
            queue_mode: QueueMode::Fifo,
        };
        let pool = Pool::builder(manager)
            .config(config)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::unavailable(Fault::Pool(err)))?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.as_str().into(),
            stream: format!("{}events", settings.key_prefix).into(),
            max_events: settings.max_events,
            deadline: settings
                .connect_timeout
                .saturating_add(settings.command_timeout),
        })
    }

    fn key(&self, fact: FactKey<'_>) -> String {
        format!("{}{}", self.prefix, fact.encode())
    }

    /// The fact keys (before the stream key) and the kind-specific arguments
    /// (after the common four) that [`APPLY_LUA`] expects for `change`.
    fn script_input(&self, change: &Change) -> (Vec<String>, Vec<String>) {
        let secs = |at: &UnixTime| at.as_secs().to_string();
        match change {
            Change::TokenRevoked { jti, expires_at } => {
                (vec![self.key(FactKey::Token(jti))], vec![secs(expires_at)])
            }
            Change::SessionRevoked {
                session,
                expires_at,
            } => (
                vec![self.key(FactKey::Session(session))],
                vec![secs(expires_at)],
            ),
            Change::SubjectDisabled {
                subject,
                expires_at,
            } => (
                vec![self.key(FactKey::SubjectDisabled(subject))],
                vec![expires_at.as_ref().map_or_else(|| NEVER.to_owned(), secs)],
            ),
            Change::SubjectEnabled { subject } => {
                (vec![self.key(FactKey::SubjectDisabled(subject))], vec![])
            }
            Change::SubjectRevokedBefore {
                subject,
                before,
                expires_at,
            } => (
                vec![self.key(FactKey::SubjectRevokedBefore(subject))],
                vec![secs(before), secs(expires_at)],
            ),
        }
    }

    /// Runs `op` on a pooled connection within [`RedisStore::deadline`].
    async fn run<T, F>(
        &self,
        op: impl FnOnce(deadpool_redis::Connection) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let call = async {
            let conn = self.pool.get().await.map_err(StoreError::unavailable)?;
            op(conn).await
        };
        tokio::time::timeout(self.deadline, call)
            .await
            .map_err(|_| StoreError::unavailable(Fault::Deadline(self.deadline)))?
    }
}

/// Sorts a Redis failure into the store's error kinds: our own `CORRUPT`
/// reply, a key of the wrong type and an unexpected reply shape mean the data
/// is not ours to read; everything else (I/O, timeouts, `LOADING`,
/// `READONLY` after a failover, authentication) is the store being
/// unavailable.
fn store_error(err: RedisError) -> StoreError {
    let corrupt = matches!(err.code(), Some(CORRUPT_CODE | "WRONGTYPE"))
        || err.kind() == ErrorKind::UnexpectedReturnType;
    if corrupt {
        StoreError::Corrupt(err.to_string())
    } else {
        StoreError::unavailable(err)
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The bytes of a bulk (or simple) string reply; `None` for nil.
fn opt_bytes(value: &Value) -> Result<Option<&[u8]>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(s) => Ok(Some(s.as_bytes())),
        other => Err(corrupt(format_args!(
            "expected a string reply, got {other:?}"
        ))),
    }
}

fn opt_str<'v>(value: &'v Value, key: &str) -> Result<Option<&'v str>, StoreError> {
    opt_bytes(value)?
        .map(|bytes| {
            std::str::from_utf8(bytes).map_err(|_| corrupt(format_args!("{key} is not UTF-8")))
        })
        .transpose()
}

fn parse_secs(text: &str, key: &str) -> Result<i64, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format_args!("{key}: {text:?} is not a Unix time")))
}

/// Whether a stored expiry (`{secs}` or `never`) lies after `now`.
fn is_live(expiry: &str, now: UnixTime, key: &str) -> Result<bool, StoreError> {
    if expiry == NEVER {
        return Ok(true);
    }
    Ok(parse_secs(expiry, key)? > now.as_secs())
}

/// A stream id, `{ms}-{seq}`, as Redis prints it.
fn parse_stream_id(text: &str) -> Option<(u64, u64)> {
    let (ms, seq) = text.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn decode_event(entry: &Value) -> Result<Event, StoreError> {
    let Value::Array(parts) = entry else {
        return Err(corrupt("a stream entry is not an array"));
    };
    let [id, fields] = parts.as_slice() else {
        return Err(corrupt("a stream entry is not an [id, fields] pair"));
    };
    let id = opt_str(id, "stream entry id")?.ok_or_else(|| corrupt("a stream entry has no id"))?;
    let pairs: Vec<(&Value, &Value)> = match fields {
        Value::Array(flat) => flat
            .chunks_exact(2)
            .map(|pair| (&pair[0], &pair[1]))
            .collect(),
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        _ => return Err(corrupt(format_args!("event {id}: fields are not an array"))),
    };
    let json = pairs
        .into_iter()
        .find(|(name, _)| matches!(opt_bytes(name), Ok(Some(n)) if n == EVENT_FIELD.as_bytes()))
        .map(|(_, value)| opt_bytes(value))
        .transpose()?
        .flatten()
        .ok_or_else(|| corrupt(format_args!("event {id} has no `{EVENT_FIELD}` field")))?;
    let stored: StoredEvent =
        serde_json::from_slice(json).map_err(|err| corrupt(format_args!("event {id}: {err}")))?;
    Ok(Event {
        id: EventId(id.to_owned()),
        at: stored.at,
        change: stored.change,
        actor: stored.actor,
        reason: stored.reason,
    })
}

impl RevocationStore for RedisStore {
    async fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        let (keys, extra) = self.script_input(&change);
        let stored = StoredEvent {
            at: now,
            change,
            actor: provenance.actor,
            reason: provenance.reason,
        };
        let json = serde_json::to_string(&stored)
            .map_err(|err| corrupt(format_args!("cannot encode the event: {err}")))?;

        let mut call = APPLY.prepare_invoke();
        for key in keys {
            call.key(key);
        }
        call.key(&*self.stream);
        call.arg(stored.change.kind().as_str())
            .arg(now.as_secs())
            .arg(self.max_events)
            .arg(json);
        for arg in extra {
            call.arg(arg);
        }
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;

        let id = opt_str(&reply, "XADD reply")?.ok_or_else(|| corrupt("XADD returned nil"))?;
        if parse_stream_id(id).is_none() {
            return Err(corrupt(format_args!(
                "XADD returned {id:?}, not a stream id"
            )));
        }
        Ok(Event {
            id: EventId(id.to_owned()),
            at: stored.at,
            change: stored.change,
            actor: stored.actor,
            reason: stored.reason,
        })
    }

    async fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> Result<Facts, StoreError> {
        #[derive(Clone, Copy)]
        enum Slot {
            Token,
            Session,
            Disabled,
            RevokedBefore,
        }
        let mut slots = Vec::with_capacity(4);
        if let Some(jti) = lookup.jti {
            slots.push((Slot::Token, self.key(FactKey::Token(jti))));
        }
        if let Some(session) = lookup.session {
            slots.push((Slot::Session, self.key(FactKey::Session(session))));
        }
        if let Some(subject) = lookup.subject {
            slots.push((Slot::Disabled, self.key(FactKey::SubjectDisabled(subject))));
            slots.push((
                Slot::RevokedBefore,
                self.key(FactKey::SubjectRevokedBefore(subject)),
            ));
        }
        if slots.is_empty() {
            return Ok(Facts::default());
        }

        let mut mget = redis::cmd("MGET");
        for (_, key) in &slots {
            mget.arg(key);
        }
        let reply: Value = self
            .run(|mut conn| async move { mget.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(values) = reply else {
            return Err(corrupt("MGET did not return an array"));
        };
        if values.len() != slots.len() {
            return Err(corrupt("MGET returned the wrong number of values"));
        }

        let mut facts = Facts::default();
        for ((slot, key), value) in slots.iter().zip(&values) {
            let Some(text) = opt_str(value, key)? else {
                continue;
            };
            match slot {
                Slot::Token => facts.token_revoked = is_live(text, now, key)?,
                Slot::Session => facts.session_revoked = is_live(text, now, key)?,
                Slot::Disabled => facts.subject_disabled = is_live(text, now, key)?,
                Slot::RevokedBefore => {
                    let (before, expiry) = text
                        .split_once(' ')
                        .ok_or_else(|| corrupt(format_args!("{key}: {text:?} is not a mark")))?;
                    let before = parse_secs(before, key)?;
                    if is_live(expiry, now, key)? {
                        facts.subject_revoked_before = Some(UnixTime::from_secs(before));
                    }
                }
            }
        }
        Ok(facts)
    }

    async fn events(&self, page: &EventPage) -> Result<Vec<Event>, StoreError> {
        let end = match &page.before {
            None => "+".to_owned(),
            Some(before) => match parse_stream_id(&before.0) {
                None => return Err(StoreError::InvalidCursor),
                // Nothing is older than the first possible id, and Redis
                // refuses to decrement it for an exclusive range.
                Some((0, 0)) => return Ok(Vec::new()),
                Some(_) => format!("({}", before.0),
            },
        };
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let mut range = redis::cmd("XREVRANGE");
        range
            .arg(&*self.stream)
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(page.limit);
        let reply: Value = self
            .run(|mut conn| async move { range.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(entries) = reply else {
            return Err(corrupt("XREVRANGE did not return an array"));
        };
        entries.iter().map(decode_event).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: Value = self
            .run(|mut conn| async move {
                redis::cmd("PING")
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        match reply {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            _ => Err(StoreError::unavailable(Fault::NotPong)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: SecretString::from(url),
            key_prefix: "revokd:".into(),
            pool_size: 2,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            max_events: 100,
        }
    }

    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn connect_does_not_touch_the_network() {
        // Port 1 on loopback: nothing listens, and nothing may try yet.
        assert!(RedisStore::connect(&settings("redis://127.0.0.1:1")).is_ok());
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        for url in [
            "redis://user:hunter2@host:notaport",
            "http://user:hunter2@host",
            "hunter2",
        ] {
            let Err(err) = RedisStore::connect(&settings(url)) else {
                panic!("{url:?} was accepted");
            };
            let text = chain(&err);
            assert!(text.contains("redis.url"), "{text}");
            assert!(
                !text.contains("hunter2"),
                "the error repeats the URL: {text}"
            );
        }
    }

    #[test]
    fn stream_ids_are_two_decimal_parts() {
        assert_eq!(
            parse_stream_id("1764331613000-0"),
            Some((1_764_331_613_000, 0))
        );
        assert_eq!(parse_stream_id("0-0"), Some((0, 0)));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-b",
            "+1-0",
            "1-0-0",
            "1 -0",
            "99999999999999999999-0",
        ] {
            assert_eq!(parse_stream_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_script_writes_the_field_that_events_reads() {
        assert!(APPLY_LUA.contains(&format!("'{EVENT_FIELD}', event)")));
    }

    #[test]
    fn stored_events_round_trip_without_an_id() {
        let stored = StoredEvent {
            at: UnixTime::from_secs(10),
            change: Change::SubjectEnabled {
                subject: crate::domain::Subject {
                    iss: crate::domain::Issuer::parse("https://idp.example").unwrap(),
                    sub: crate::domain::SubjectId::parse("alice").unwrap(),
                },
            },
            actor: "admin:ops".into(),
            reason: None,
        };
        let json = serde_json::to_string(&stored).unwrap();
        assert!(!json.contains("\"id\""), "{json}");
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(EVENT_FIELD.into()),
                Value::BulkString(json.into_bytes()),
            ]),
        ]);
        let event = decode_event(&entry).unwrap();
        assert_eq!(event.id, EventId("5-1".into()));
        assert_eq!(event.change, stored.change);
    }

    #[test]
    fn entries_without_an_event_field_are_corrupt() {
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"other".to_vec()),
                Value::BulkString(b"{}".to_vec()),
            ]),
        ]);
        assert!(matches!(decode_event(&entry), Err(StoreError::Corrupt(_))));
    }
}

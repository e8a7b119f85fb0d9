//! The Redis store: shared by every instance that points at the same Redis
//! and key prefix.
//!
//! # Layout in Redis
//!
//! Each fact is its own key, `{key_prefix}{FactKey::encode()}`, so that
//! Redis 7.0 (no per-field `HEXPIRE`) can expire every fact by itself with
//! `EXAT`/`EXPIREAT`. The value repeats the expiry, because Redis expires
//! keys on *its* clock while the contract filters on the caller's `now`:
//!
//! | fact                   | key                    | value                             |
//! |------------------------|------------------------|-----------------------------------|
//! | token revoked          | `tok:{jti}`            | `{expires_at}`                    |
//! | session revoked        | `ses:{n}:{iss}:{sid}`  | `{expires_at}`                    |
//! | subject disabled       | `dis:{n}:{iss}:{sub}`  | `{expires_at}` or `never`         |
//! | subject revoked-before | `rb:{n}:{iss}:{sub}`   | `{before} {expires_at or never}`  |
//! | logout token seen      | `seen:{n}:{iss}:{jti}` | `{expires_at}`                    |
//! | token binding          | `bnd:{jti}`            | hash: `exp`, `at` (registered_at), `iss`, `sub`, `sid` (absent without a session), `own` (the owner key's name) |
//! | registered session     | `reg:{n}:{owner}:{n}:{iss}:{sid}` | hash: `exp`, and `t:{jti}` → `1` per registered token id |
//! | session binding        | `sbn:{n}:{iss}:{sid}`  | `{expires_at} {registered_at} {sub}` (first registration; first subject wins) |
//! | a key's volume         | `own:{owner}`          | sorted set: each token id the owner has bound, scored by the binding's `expires_at` |
//!
//! Mirrored facts (`tok`, `ses`, `dis`, `rb`, `bnd`, `sbn`) are also copied, by
//! the same script that writes them, into the snapshot index
//! `{key_prefix}mirror:{hhhh}` that starting instances read (see `index.rs`).
//!
//! Times are decimal Unix seconds. A `never` key has no TTL. Identifiers
//! are stored as they are; hashes keep them out of any separator-parsing.
//!
//! Audit events live in one stream, `{key_prefix}events`, one field `event`
//! holding the JSON of the [`Event`] without its id: the stream entry id *is*
//! the [`EventId`], so ids increase monotonically and paging is a range read.
//! Every event not caused by a client key is also added, under the same id,
//! to `{key_prefix}admin-events`, trimmed by its own `max_admin_events`: the
//! audit log read ([`RevocationStore::events`]) merges the two, so a flood of
//! client-caused events cannot push an admin's out (the change feed for
//! consumers, [`RevocationStore::events_after`], reads the first only).
//!
//! # Atomicity
//!
//! Every write is one Lua script that reads the old values, merges, writes
//! and `XADD`s, so facts and their events commit together:
//! [`APPLY_LUA`] (`apply`, and `apply_once` with its seen-marker),
//! [`REGISTER_LUA`] and [`UNREGISTER_LUA`] (a local logout runs it in
//! batches of [`UNREGISTER_BATCH`] ids, so that no script's run grows with
//! the session). Redis does not roll a script
//! back, so each script reads and validates everything before its first
//! write. Durability is the server's: run Redis with `appendonly yes` and
//! `appendfsync always` when a 200 must survive a Redis crash.
//!
//! `lookup` is one read-only script too ([`LOOKUP_LUA`]): it reads the
//! requested facts, the token id's binding, and then the facts of the bound
//! session and subject, in one round trip and one consistent snapshot.
//!
//! # Redis Cluster
//!
//! Every script touches several keys; Cluster only allows that within one
//! hash slot. Put a hash tag in the prefix (`key_prefix = "{revokd}:"`) to
//! keep every key of a deployment in one slot. `lookup` and
//! `unregister_session` also build key names from stored values (the bound
//! session's and subject's facts, the bindings of a session's token ids),
//! which Cluster accepts only under such a hash tag.
//!
//! # Faults
//!
//! Every call is bounded by `connect_timeout + command_timeout`, on top of
//! the pool's own wait/create/recycle timeouts and the connection's response
//! timeout, and fails with [`StoreError::Unavailable`] when it runs out.
//! Nothing is cached between calls except pooled connections, and the pool
//! replaces dead ones (see [`RedisStore::connect`]), so calls succeed again
//! as soon as Redis is back.

mod connector;
mod events;
mod feed;
mod pending;
mod tls;
mod validate;

pub use events::EventsWaiter;
pub use feed::{FeedBatch, FeedInfo, FeedReader};
pub use tls::{BadTlsSetting, RedisTlsSettings};
pub use validate::{check_redis_url, is_tls_redis_url};

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{PoolConfig, QueueMode, Timeouts};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ErrorKind, IntoConnectionInfo, RedisError, Script, Value,
};

use connector::{Connector, Pool, Pooled};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{FactKey, FeedPosition, LivePage, MirroredKey, RevocationStore, StoreError};
use crate::domain::{
    BoundFacts, Change, ChangeKinds, Event, EventId, EventPage, FactUpdate, Facts, Issuer, Lookup,
    Note, Owner, Provenance, Reason, Registration, SeenKey, Session, SessionId,
    SessionRegistration, TokenId, UnixTime, is_client_actor,
};

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
    /// Approximate length of the stream of events not caused by a client
    /// key (`{prefix}admin-events`), kept on top of those.
    pub max_admin_events: u64,
    /// Redis Sentinel addresses; when any, the primary is the one they name
    /// for `sentinel_service`, and `url` only gives its credentials and
    /// database.
    #[serde(default)]
    pub sentinels: Vec<String>,
    pub sentinel_service: String,
    /// `[redis.tls]`: CA and client certificate of `rediss://` connections.
    #[serde(default)]
    pub tls: RedisTlsSettings,
}

/// The error code the scripts answer with when a stored value is not in
/// the format this module writes. Mapped to [`StoreError::Corrupt`].
const CORRUPT_CODE: &str = "CORRUPT";

/// The stored value of a disable (or a revoked-before mark) that has no
/// expiry. Written as a word rather than a sentinel number so that nobody
/// reading the database with `redis-cli` mistakes it for an instant.
const NEVER: &str = "never";

/// The stream field that holds an event's JSON.
const EVENT_FIELD: &str = "event";

/// Lua shared by the scripts that merge facts. Expands to a string literal
/// so that `concat!` can put it in front of each script body.
///
/// It declares `now` without a value: each script sets it from its own
/// arguments before calling any of these functions.
///
/// Old values that are already expired for `now` are ignored, so a merge
/// never revives a dead fact. Numbers are compared with `tonumber` but
/// written back as the original decimal strings: Lua numbers are doubles,
/// and formatting one would turn a large instant into `1e+15`. A fact that is
/// dead on arrival (`expires_at <= now`) is deleted rather than written, and
/// expiry instants are capped at the end of year 9999, because Redis refuses
/// instants beyond about 2^63 ms.
macro_rules! lua_prelude {
    () => {
        r#"
local now
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

-- A simple fact (token, session, disable, seen): its expiry string if live.
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

-- The capped EXAT/EXPIREAT argument for an expiry string that is not NEVER.
local function exat(exp)
  if tonumber(exp) > MAX_EXAT then return tostring(MAX_EXAT) end
  return exp
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
  else
    redis.call('SET', key, value, 'EXAT', exat(exp))
  end
end

-- The change feed beside the audit stream `{prefix}events`: `{prefix}feed`.
local function feed_of(stream)
  return string.sub(stream, 1, #stream - #'events') .. 'feed'
end

-- The stream of events not caused by a client key, beside `{prefix}events`.
local function kept_of(stream)
  return string.sub(stream, 1, #stream - #'events') .. 'admin-events'
end

-- Fails unless `stream` and its feed are streams or absent, so that XADD
-- cannot fail after other writes.
local function check_stream(stream)
  for _, key in ipairs({stream, feed_of(stream), kept_of(stream)}) do
    local t = redis.call('TYPE', key)['ok']
    if t ~= 'stream' and t ~= 'none' then corrupt(key) end
  end
end

-- Appends to the audit stream and, when `max_kept` is not empty (an event
-- not caused by a client key), under the same id to the kept stream.
local function append(stream, max_events, event, max_kept)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', max_events, '*', 'event', event)
  if max_kept ~= nil and max_kept ~= '' then
    redis.call('XADD', kept_of(stream), 'MAXLEN', '~', max_kept, id, 'event', event)
  end
  return id
end

-- Copies the current state of each mirrored key into the snapshot index
-- (see index.rs): its bucket `{prefix}mirror:{first 4 hex digits of the
-- SHA-1 of the field}`, field: the key without its prefix; or drops it
-- there. A binding is its fields joined by newlines (identifiers hold no
-- control characters).
local function index(feed, keys)
  local prefix = string.sub(feed, 1, #feed - #'feed')
  for _, key in ipairs(keys) do
    local field = string.sub(key, #prefix + 1)
    local bucket = prefix .. 'mirror:' .. string.sub(redis.sha1hex(field), 1, 4)
    local v
    if string.sub(field, 1, 4) == 'bnd:' then
      local b = redis.call('HMGET', key, 'exp', 'at', 'iss', 'sub', 'sid')
      if b[1] then
        v = b[1] .. '\n' .. (b[2] or '') .. '\n' .. (b[3] or '') .. '\n' .. (b[4] or '')
        if b[5] then v = v .. '\n' .. b[5] end
      end
    else
      v = redis.call('GET', key)
    end
    if v then
      redis.call('HSET', bucket, field, v)
    else
      redis.call('HDEL', bucket, field)
    end
  end
end

-- Tells every instance's mirror which keys this write changed: one feed
-- entry, field `k`, the full key names separated by newlines (identifiers
-- hold no control characters); and keeps the snapshot index current.
local function publish(feed, max_events, keys)
  if #keys > 0 then
    index(feed, keys)
    redis.call('XADD', feed, 'MAXLEN', '~', max_events, '*', 'k', table.concat(keys, '\n'))
  end
end
"#
    };
}

// After `lua_prelude!`, which its build script uses.
mod index;

/// Applies one [`Change`] and appends its event, atomically; with a
/// seen-marker, only if the marker is not live.
///
/// `KEYS`: the fact key of the change, the stream, then (for `apply_once`)
/// the seen-marker key. `ARGV`: `kind`, `now`, `max_events`, `event JSON`,
/// the marker's `expires_at` (empty without a marker), `max_admin_events`
/// (empty for an event caused by a client key), then per kind:
///
/// | kind                     | fact key     | extra ARGV            |
/// |--------------------------|--------------|-----------------------|
/// | `token_revoked`          | token key    | `expires_at`          |
/// | `session_revoked`        | session key  | `expires_at`          |
/// | `subject_disabled`       | disabled key | `expires_at`/`never`  |
/// | `subject_enabled`        | disabled key |                       |
/// | `subject_revoked_before` | rb key       | `before`, `expires_at`|
///
/// The marker is checked before anything else and written last, after
/// every read that could fail: a replay writes nothing, and a failure
/// leaves no marker behind.
///
/// Returns the stream id of the event, or nil when the marker was live.
const APPLY_LUA: &str = concat!(
    lua_prelude!(),
    r#"
local fact = KEYS[1]
local stream = KEYS[2]
local seen = KEYS[3]
local kind = ARGV[1]
now = tonumber(ARGV[2])
local max_events = ARGV[3]
local event = ARGV[4]
local seen_exp = ARGV[5]
local max_kept = ARGV[6]

-- A logout token already acted on changes nothing.
if seen ~= nil and live_expiry(seen) ~= nil then return false end

-- Reads and checks first: Redis does not roll a script back on error.
check_stream(stream)

if kind == 'token_revoked' or kind == 'session_revoked' then
  local exp = later(ARGV[7], live_expiry(fact))
  put(fact, exp, exp)
elseif kind == 'subject_disabled' then
  local dis_exp = later(ARGV[7], live_expiry(fact))
  put(fact, dis_exp, dis_exp)
elseif kind == 'subject_enabled' then
  redis.call('DEL', fact)
elseif kind == 'subject_revoked_before' then
  local old_before, old_exp = live_mark(fact)
  local before = ARGV[7]
  if old_before ~= nil and tonumber(old_before) > tonumber(before) then before = old_before end
  local exp = later(ARGV[8], old_exp)
  put(fact, before .. ' ' .. exp, exp)
else
  return redis.error_reply('ERR unknown change kind ' .. kind)
end

if seen ~= nil then put(seen, seen_exp, seen_exp) end
publish(feed_of(stream), max_events, {fact})
return append(stream, max_events, event, max_kept)
"#
);

static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(APPLY_LUA));

/// Registers a session, or refuses it and revokes its token ids.
///
/// With `n` token ids, `KEYS`: the stream, the subject's disabled key, the
/// `n` token-revoked keys, the `n` binding keys, the owner's volume key,
/// then, when the registration has a `sid`, the session-revoked key, the
/// owner's registration key and the session binding key. `ARGV`: `now`,
/// `max_events`, `n`, `expires_at`, `iss`, `sub`, `sid` (empty without one:
/// a parsed `sid` never is), the owner, the per-session cap, the per-key
/// cap, the `n` token ids, the JSON of the one
/// `TokensRevoked` event a refusal records, with an empty `"jtis":[]` that
/// the script fills with the ids it revoked (the JSON's first `"jtis":[]`
/// is that field: it precedes every caller-supplied text), then
/// `max_admin_events` (empty when the caller is a client key: its refusal
/// events are not kept apart).
///
/// Every command touches one key or one field (`HLEN` and `HEXISTS` are
/// O(1)), or reads the volume set in O(log size) (`ZCOUNT`, `ZREVRANGE 0
/// 0`) and trims at most `max(2n, 64)` of its expired members, so the
/// script's cost follows `n`, never the session's size or the key's volume.
/// The volume counts members scored after `now` — exact whatever is not
/// trimmed yet; trimming only bounds memory, and the set expires with its
/// latest member.
///
/// Returns `{'registered'}`, `{'full', held, adding}`, `{'keyfull', held,
/// adding}`, or
/// `{'refused', reason, stream id or '', revoked token id...}`: `''` when
/// every id was bound by another owner and nothing was written.
const REGISTER_LUA: &str = concat!(
    lua_prelude!(),
    r#"
local stream = KEYS[1]
local dis = KEYS[2]
now = tonumber(ARGV[1])
local max_events = ARGV[2]
local n = tonumber(ARGV[3])
local exp = ARGV[4]
local iss, sub, sid = ARGV[5], ARGV[6], ARGV[7]
local owner, max_per_session, max_per_key = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local has_sid = sid ~= ''
local own = KEYS[3 + 2 * n]
local ses = KEYS[4 + 2 * n]
local reg = KEYS[5 + 2 * n]
local sbn = KEYS[6 + 2 * n]

-- A binding: {exp, at, iss, sub, sid or false, owner or false} if live.
local function live_binding(key)
  local b = redis.call('HMGET', key, 'exp', 'at', 'iss', 'sub', 'sid', 'own')
  if not b[1] then return nil end
  local e = int(b[1])
  if e == nil or int(b[2]) == nil or not b[3] or not b[4] then corrupt(key) end
  if e > now then return b end
  return nil
end

-- Reads and checks first: Redis does not roll a script back on error.
check_stream(stream)
local reason = nil
if has_sid and live_expiry(ses) ~= nil then
  reason = 'session_revoked'
elseif live_expiry(dis) ~= nil then
  reason = 'subject_disabled'
end

if reason ~= nil then
  -- Born revoked: each token id as a token revocation until `exp`, except
  -- those another owner has bound (only an admin revokes another app's).
  local merged = {}
  for i = 1, n do
    local b = live_binding(KEYS[2 + n + i])
    if b ~= nil and b[6] ~= owner then
      merged[i] = false
    else
      merged[i] = later(exp, live_expiry(KEYS[2 + i]))
    end
  end
  local out = {'refused', reason, ''}
  local touched, listed = {}, {}
  for i = 1, n do
    if merged[i] then
      put(KEYS[2 + i], merged[i], merged[i])
      touched[#touched + 1] = KEYS[2 + i]
      listed[#listed + 1] = cjson.encode(ARGV[10 + i])
      out[#out + 1] = ARGV[10 + i]
    end
  end
  if #listed > 0 then
    -- One event for the whole refusal.
    local template = ARGV[11 + n]
    local s, e = string.find(template, '"jtis":[]', 1, true)
    if s == nil then corrupt('the refusal event') end
    local event = string.sub(template, 1, s - 1) .. '"jtis":[' .. table.concat(listed, ',') .. ']' .. string.sub(template, e + 1)
    out[3] = append(stream, max_events, event, ARGV[12 + n])
  end
  publish(feed_of(stream), max_events, touched)
  return out
end

-- Plan: for each id, {registered_at, expiry} or false (bound elsewhere or
-- by another owner: the first binding wins).
local plan = {}
local want_sid = has_sid and sid or false
for i = 1, n do
  local b = live_binding(KEYS[2 + n + i])
  if b == nil then
    plan[i] = {ARGV[1], exp, true}
  elseif b[3] == iss and b[4] == sub and b[5] == want_sid and b[6] == owner then
    plan[i] = {b[2], later(exp, b[1])}
  else
    plan[i] = false
  end
end
local reg_old = nil
if has_sid then
  local v = redis.call('HGET', reg, 'exp')
  if v then
    local e = int(v)
    if e == nil then corrupt(reg) end
    if e > now then reg_old = v end
  end
  -- The cap: ids the record does not hold yet, on top of those it holds
  -- (every field but `exp`).
  local held, adding = 0, 0
  if reg_old ~= nil then held = redis.call('HLEN', reg) - 1 end
  for i = 1, n do
    if plan[i] and (reg_old == nil or redis.call('HEXISTS', reg, 't:' .. ARGV[10 + i]) == 0) then
      adding = adding + 1
    end
  end
  if held + adding > max_per_session then
    return {'full', held, adding}
  end
end
-- The key's volume: the live ids it holds (members scored after `now`),
-- plus those this registration binds anew.
local t = redis.call('TYPE', own)['ok']
if t ~= 'zset' and t ~= 'none' then corrupt(own) end
local fresh = 0
for i = 1, n do
  if plan[i] and plan[i][3] then fresh = fresh + 1 end
end
local held_by_key = redis.call('ZCOUNT', own, '(' .. ARGV[1], '+inf')
if held_by_key + fresh > max_per_key then
  return {'keyfull', held_by_key, fresh}
end

-- Writes.
local touched = {}
for i = 1, n do
  local p = plan[i]
  if p then
    local key = KEYS[2 + n + i]
    touched[#touched + 1] = key
    redis.call('DEL', key)
    if tonumber(p[2]) > now then
      if has_sid then
        redis.call('HSET', key, 'exp', p[2], 'at', p[1], 'iss', iss, 'sub', sub, 'sid', sid, 'own', owner)
      else
        redis.call('HSET', key, 'exp', p[2], 'at', p[1], 'iss', iss, 'sub', sub, 'own', owner)
      end
      redis.call('EXPIREAT', key, exat(p[2]))
      redis.call('ZADD', own, p[2], ARGV[10 + i])
    end
  end
end
-- Trims expired members, a bounded number per call (more than a call
-- adds), and lets the set expire with its latest member.
local dead = redis.call('ZRANGEBYSCORE', own, '-inf', ARGV[1], 'LIMIT', 0, math.max(2 * n, 64))
if #dead > 0 then redis.call('ZREM', own, unpack(dead)) end
local top = redis.call('ZREVRANGE', own, 0, 0, 'WITHSCORES')
if top[2] then redis.call('EXPIREAT', own, exat(top[2])) end
if has_sid then
  -- A record that is dead for `now` takes its token ids with it: at most
  -- the cap, and only once after it expired. UNLINK frees it off the
  -- main thread.
  if reg_old == nil then redis.call('UNLINK', reg) end
  local reg_exp = later(exp, reg_old)
  if tonumber(reg_exp) > now then
    redis.call('HSET', reg, 'exp', reg_exp)
    for i = 1, n do
      if plan[i] then redis.call('HSET', reg, 't:' .. ARGV[10 + i], '1') end
    end
    redis.call('EXPIREAT', reg, exat(reg_exp))
  end
  -- The session's binding to its subject: `{exp} {at} {sub}`. The first
  -- registration instant is kept (never moved forward), the expiry only
  -- grows, and the first subject wins whichever owner registered it.
  local at, bexp = ARGV[1], exp
  local v = redis.call('GET', sbn)
  local skip = false
  if v then
    local e, a, s = string.match(v, '^(%d+) (%d+) (.*)$')
    if e == nil then corrupt(sbn) end
    if tonumber(e) > now then
      if s ~= sub then skip = true end
      at, bexp = a, later(exp, e)
    end
  end
  if not skip then
    put(sbn, bexp .. ' ' .. at .. ' ' .. sub, bexp)
    touched[#touched + 1] = sbn
  end
end
publish(feed_of(stream), max_events, touched)
return {'registered'}
"#
);

static REGISTER: LazyLock<Script> = LazyLock::new(|| Script::new(REGISTER_LUA));

/// Token ids one run of [`UNREGISTER_LUA`] unbinds at most: about 2 ms of
/// Redis time (each id costs a read, an `UNLINK`, an index update and its
/// share of a feed entry), so a local logout of any session never holds
/// Redis for longer than that at a time.
const UNREGISTER_BATCH: usize = 64;

/// One step of a local logout: unbinds up to `ARGV[7]` of the token ids of
/// one owner's registration, the bindings that still point at its session
/// and owner, and removes them from the record; removes the record once it
/// holds no more ids.
///
/// `KEYS`: the registration key, the owner's volume key. `ARGV`: `now`, the key prefix, `iss`,
/// `sid`, `max_events` (the feed's approximate length), the owner, the
/// batch size, the `HSCAN` cursor (`0` on the first step). The binding keys
/// are built here from the registered token ids (`{prefix}bnd:{jti}`, as
/// [`FactKey::Binding`] does), since only the record knows them.
///
/// Returns `{0}` when there was no live record, else `{1, cursor, jti...}`
/// with the token ids whose bindings were removed; cursor `done` when the
/// record is gone, else the cursor to pass to the next step.
const UNREGISTER_LUA: &str = concat!(
    lua_prelude!(),
    r#"
local reg, own = KEYS[1], KEYS[2]
now = tonumber(ARGV[1])
local prefix, iss, sid, max_events = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local owner, batch, cursor = ARGV[6], tonumber(ARGV[7]), ARGV[8]

local v = redis.call('HGET', reg, 'exp')
if not v then return {0} end
local e = int(v)
if e == nil then corrupt(reg) end
if e <= now then return {0} end

-- Reads first: Redis does not roll a script back on error.
local feed = prefix .. 'feed'
local t = redis.call('TYPE', feed)['ok']
if t ~= 'stream' and t ~= 'none' then corrupt(feed) end
t = redis.call('TYPE', own)['ok']
if t ~= 'zset' and t ~= 'none' then corrupt(own) end
local scan = redis.call('HSCAN', reg, cursor, 'COUNT', batch)
local fields, doomed, cut = {}, {}, false
local out = {1, ''}
for i = 1, #scan[2], 2 do
  local field = scan[2][i]
  if #fields >= batch then
    cut = true
    break
  end
  if string.sub(field, 1, 2) == 't:' then
    fields[#fields + 1] = field
    local key = prefix .. 'bnd:' .. string.sub(field, 3)
    local b = redis.call('HMGET', key, 'iss', 'sid', 'own')
    if b[1] == iss and b[2] == sid and b[3] == owner then
      doomed[#doomed + 1] = key
      out[#out + 1] = string.sub(field, 3)
      redis.call('ZREM', own, string.sub(field, 3))
    end
  end
end
local next_cursor = scan[1]
if cut then
  -- A small hash answers HSCAN with every field at once: start over from
  -- the beginning for the rest (the fields done are removed below).
  next_cursor = '0'
end
for _, key in ipairs(doomed) do redis.call('UNLINK', key) end
if #fields > 0 then redis.call('HDEL', reg, unpack(fields)) end
if redis.call('HLEN', reg) <= 1 then
  redis.call('UNLINK', reg)
  out[2] = 'done'
else
  out[2] = next_cursor
end
publish(feed, max_events, doomed)
return out
"#
);

static UNREGISTER: LazyLock<Script> = LazyLock::new(|| Script::new(UNREGISTER_LUA));

/// Audit events strictly after a stream id, oldest first, or word that
/// the stream no longer holds all of them. `KEYS`: the stream. `ARGV`: the
/// id, the count.
///
/// Returns `{1, entry...}`, or `{0}` when the id lies beyond the last id
/// the stream ever generated (a reset), or before its first entry while
/// entries were ever removed (`entries-added` > `length`): `MAXLEN`
/// trimming does not record what it removed (`max-deleted-entry-id` moves
/// only on `XDEL`), so a consumer exactly at the last trimmed id is told to
/// resync too, never left with a silent gap.
const EVENTS_AFTER_LUA: &str = r#"
local stream, after, count = KEYS[1], ARGV[1], ARGV[2]
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', stream) == 0 then
  if after == '0-0' then return {1} end
  return {0}
end
local info = redis.call('XINFO', 'STREAM', stream)
local fields = {}
for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
if before(fields['last-generated-id'], after) then return {0} end
local first = fields['first-entry']
if first and first ~= false and before(after, first[1]) and fields['entries-added'] > fields['length'] then
  return {0}
end
local out = {1}
for _, entry in ipairs(redis.call('XRANGE', stream, '(' .. after, '+', 'COUNT', count)) do
  out[#out + 1] = entry
end
return out
"#;

static EVENTS_AFTER: LazyLock<Script> = LazyLock::new(|| Script::new(EVENTS_AFTER_LUA));

/// Reads the facts of a lookup and, for a token id, its binding and the
/// facts of the bound session and subject; for a session, its session
/// binding and the facts of the bound subject. Writes nothing.
///
/// `KEYS`: the `m` fact keys of the lookup, then the binding key when the
/// lookup has a token id, then the session binding key when it has a
/// session. `ARGV`: the key prefix, `m`, `1` or `0` for "a binding key
/// follows", `1` or `0` for "a session binding key follows".
///
/// Returns the `m` values (nil when absent), then, with a binding key, the
/// binding's `exp`, `at`, `iss`, `sub`, `sid` and the values of the bound
/// session-revoked, disabled and revoked-before keys (nil when absent);
/// then, with a session binding key, its value and the values of the bound
/// subject's disabled and revoked-before keys. The bound keys are built as
/// [`FactKey::encode`] builds them: the length in front of the issuer is
/// its byte length, which is what Lua's `#` counts. Liveness is judged by
/// the caller against its `now`.
const LOOKUP_LUA: &str = r#"
local prefix = ARGV[1]
local m = tonumber(ARGV[2])
local out = {}
for i = 1, m do out[i] = redis.call('GET', KEYS[i]) end
local function key(kind, iss, id)
  return prefix .. kind .. ':' .. #iss .. ':' .. iss .. ':' .. id
end
local next_key = m + 1
if ARGV[3] == '1' then
  local b = redis.call('HMGET', KEYS[next_key], 'exp', 'at', 'iss', 'sub', 'sid')
  next_key = next_key + 1
  local n = #out
  for i = 1, 5 do out[n + i] = b[i] end
  local iss, sub, sid = b[3], b[4], b[5]
  out[n + 6] = false
  out[n + 7] = false
  out[n + 8] = false
  if b[1] and iss and sub then
    if sid then out[n + 6] = redis.call('GET', key('ses', iss, sid)) end
    out[n + 7] = redis.call('GET', key('dis', iss, sub))
    out[n + 8] = redis.call('GET', key('rb', iss, sub))
  end
end
if ARGV[4] == '1' then
  local sbn = KEYS[next_key]
  local v = redis.call('GET', sbn)
  local n = #out
  out[n + 1] = v
  out[n + 2] = false
  out[n + 3] = false
  if v then
    -- `sbn:{n}:{iss}:{sid}` -> iss; the value ends with the subject.
    local len, rest = string.match(string.sub(sbn, #prefix + 5), '^(%d+):(.*)$')
    local sub = string.match(v, '^%d+ %d+ (.*)$')
    if len and sub then
      local iss = string.sub(rest, 1, tonumber(len))
      out[n + 2] = redis.call('GET', key('dis', iss, sub))
      out[n + 3] = redis.call('GET', key('rb', iss, sub))
    end
  end
end
return out
"#;

static LOOKUP: LazyLock<Script> = LazyLock::new(|| Script::new(LOOKUP_LUA));

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

impl StoredEvent {
    fn into_event(self, id: EventId) -> Event {
        Event {
            id,
            at: self.at,
            change: self.change,
            actor: self.actor,
            reason: self.reason,
        }
    }
}

/// Failures of this module that are not a [`RedisError`].
#[derive(Debug, thiserror::Error)]
enum Fault {
    /// Carries the parser's reason, never the URL: it may hold a password.
    #[error("`redis.url` is not a usable Redis URL")]
    BadUrl(#[source] RedisError),
    #[error("`redis.sentinels` holds an address that is not a Redis URL")]
    BadSentinel(#[source] RedisError),
    #[error("invalid configuration key `{}`: {}", .0.key, .0.message)]
    BadTls(BadTlsSetting),
    #[error("cannot build the Redis connection pool")]
    Pool(#[source] deadpool::managed::BuildError),
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
    max_admin_events: u64,
    /// Upper bound of every call, whatever the pool and the connection do:
    /// deadpool retries recycling one pooled connection after another, so
    /// its own timeouts alone could add up to `pool_size` times
    /// `command_timeout` against a Redis that accepts but does not answer.
    deadline: Duration,
    /// `connect_timeout` and `command_timeout`, for the connections of the
    /// blocking reads (the feed, the event wake-ups), opened outside the pool.
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl RedisStore {
    /// Builds the connection pool. Does not connect: a Redis that is down at
    /// start-up makes `/readyz` fail, not revokd exit.
    ///
    /// Connections are opened lazily (to `redis.url`, or to the primary
    /// Sentinel names), bounded by `connect_timeout`; each command waits at
    /// most `command_timeout` for its answer. See [`connector`] for how
    /// broken connections and failovers are handled.
    ///
    /// # Errors
    /// The URL cannot be parsed ([`StoreError::Unavailable`], the only
    /// variant that fits; the message names the key, never the URL).
    pub fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout));
        let url = settings.url.expose_secret();
        crate::tls::install_default_provider();
        let certificates = settings
            .tls
            .certificates()
            .map_err(|bad| StoreError::unavailable(Fault::BadTls(bad)))?;
        let connector = if settings.sentinels.is_empty() {
            Connector::direct(url, connection, certificates)
                .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?
        } else {
            // The URL parse first, so that its error names the right key.
            url.into_connection_info()
                .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?;
            Connector::sentinel(
                &settings.sentinels,
                &settings.sentinel_service,
                url,
                connection,
                certificates,
            )
            .map_err(|err| StoreError::unavailable(Fault::BadSentinel(err)))?
        };
        let config = PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts {
                wait: Some(settings.command_timeout),
                create: Some(settings.connect_timeout),
                recycle: Some(settings.command_timeout),
            },
            queue_mode: QueueMode::Fifo,
        };
        let pool = Pool::builder(connector)
            .config(config)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::unavailable(Fault::Pool(err)))?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.as_str().into(),
            stream: format!("{}events", settings.key_prefix).into(),
            max_events: settings.max_events,
            max_admin_events: settings.max_admin_events,
            deadline: settings
                .connect_timeout
                .saturating_add(settings.command_timeout),
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
        })
    }

    fn key(&self, fact: FactKey<'_>) -> String {
        format!("{}{}", self.prefix, fact.encode())
    }

    /// The `max_kept` argument of the scripts for an event by `actor`:
    /// `max_admin_events`, or empty for a client-caused event (not kept).
    fn max_kept(&self, actor: &str) -> String {
        if is_client_actor(actor) {
            String::new()
        } else {
            self.max_admin_events.to_string()
        }
    }

    /// The fact key and the kind-specific arguments (after the common five)
    /// that [`APPLY_LUA`] expects for `change`; `None` for a
    /// [`Change::TokensRevoked`], which only [`REGISTER_LUA`] writes.
    fn script_input(&self, change: &Change) -> Option<(String, Vec<String>)> {
        Some(match change {
            Change::TokenRevoked { jti, expires_at } => {
                (self.key(FactKey::Token(jti)), vec![secs(*expires_at)])
            }
            Change::TokensRevoked { .. } => return None,
            Change::SessionRevoked {
                session,
                expires_at,
            } => (self.key(FactKey::Session(session)), vec![secs(*expires_at)]),
            Change::SubjectDisabled {
                subject,
                expires_at,
            } => (
                self.key(FactKey::SubjectDisabled(subject)),
                vec![expires_at.map_or_else(|| NEVER.to_owned(), secs)],
            ),
            Change::SubjectEnabled { subject } => {
                (self.key(FactKey::SubjectDisabled(subject)), vec![])
            }
            Change::SubjectRevokedBefore {
                subject,
                before,
                expires_at,
            } => (
                self.key(FactKey::SubjectRevokedBefore(subject)),
                vec![secs(*before), secs(*expires_at)],
            ),
        })
    }

    /// `apply`, or with `seen`, `apply_once`: one run of [`APPLY_LUA`].
    /// `None` only when the seen-marker was live.
    async fn apply_script(
        &self,
        seen: Option<&SeenKey>,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        super::refuse_bulk(&change)?;
        let (fact, extra) = self
            .script_input(&change)
            .ok_or_else(|| corrupt("no script input for a bulk change"))?;
        let stored = StoredEvent {
            at: now,
            change,
            actor: provenance.actor,
            reason: provenance.reason,
        };
        let json = encode_event(&stored)?;

        let mut call = APPLY.prepare_invoke();
        call.key(fact).key(&*self.stream);
        if let Some(seen) = seen {
            call.key(self.key(FactKey::Seen(seen)));
        }
        call.arg(stored.change.kind().as_str())
            .arg(now.as_secs())
            .arg(self.max_events)
            .arg(json)
            .arg(seen.map(|s| secs(s.expires_at)).unwrap_or_default())
            .arg(self.max_kept(&stored.actor));
        for arg in extra {
            call.arg(arg);
        }
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;

        if seen.is_some() && reply == Value::Nil {
            return Ok(None);
        }
        let id = stream_id(&reply)?;
        Ok(Some(stored.into_event(id)))
    }

    /// A connection of its own to the current primary, outside the pool,
    /// for a blocking read (`XREAD BLOCK`) that waits up to `block`: its
    /// response timeout allows for that wait.
    ///
    /// # Errors
    /// Redis cannot be reached within `connect_timeout + command_timeout`.
    async fn blocking_connection(
        &self,
        block: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(block.saturating_add(self.command_timeout)));
        tokio::time::timeout(self.deadline, self.pool.manager().open(&config))
            .await
            .map_err(|_| StoreError::unavailable(Fault::Deadline(self.deadline)))?
            .map_err(store_error)
    }

    /// Runs `op` on a pooled connection within [`RedisStore::deadline`].
    async fn run<T, F>(&self, op: impl FnOnce(Pooled) -> F) -> Result<T, StoreError>
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

/// Decimal seconds, as every script reads them.
fn secs(at: UnixTime) -> String {
    at.as_secs().to_string()
}

fn encode_event(stored: &StoredEvent) -> Result<String, StoreError> {
    serde_json::to_string(stored)
        .map_err(|err| corrupt(format_args!("cannot encode the event: {err}")))
}

/// The id `XADD` answered with.
fn stream_id(reply: &Value) -> Result<EventId, StoreError> {
    let id = opt_str(reply, "XADD reply")?.ok_or_else(|| corrupt("XADD returned nil"))?;
    if parse_stream_id(id).is_none() {
        return Err(corrupt(format_args!(
            "XADD returned {id:?}, not a stream id"
        )));
    }
    Ok(EventId(id.to_owned()))
}

/// A revoked-before value, `{before} {expiry}`: the mark if live at `now`.
fn live_mark(text: &str, now: UnixTime, key: &str) -> Result<Option<UnixTime>, StoreError> {
    let (before, expiry) = text
        .split_once(' ')
        .ok_or_else(|| corrupt(format_args!("{key}: {text:?} is not a mark")))?;
    let before = parse_secs(before, key)?;
    Ok(is_live(expiry, now, key)?.then_some(UnixTime::from_secs(before)))
}

/// The bound facts from the tail of a [`LOOKUP_LUA`] reply: the binding's
/// `exp`, `at`, `iss`, `sub`, `sid`, then the bound session-revoked,
/// disabled and revoked-before values. `None` when there is no binding
/// live at `now`.
fn bound_facts(tail: &[Value], now: UnixTime) -> Result<Option<BoundFacts>, StoreError> {
    const KEY: &str = "binding";
    let [exp, at, iss, sub, _sid, session, disabled, mark] = tail else {
        return Err(corrupt(
            "the lookup script returned the wrong number of values",
        ));
    };
    let Some(exp) = opt_str(exp, KEY)? else {
        return Ok(None);
    };
    let at = opt_str(at, KEY)?.ok_or_else(|| corrupt("a binding has no `at`"))?;
    if opt_bytes(iss)?.is_none() || opt_bytes(sub)?.is_none() {
        return Err(corrupt("a binding has no `iss` or `sub`"));
    }
    if parse_secs(exp, KEY)? <= now.as_secs() {
        return Ok(None);
    }
    let registered_at = UnixTime::from_secs(parse_secs(at, KEY)?);
    let live = |value: &Value, what: &str| -> Result<bool, StoreError> {
        match opt_str(value, what)? {
            Some(text) => is_live(text, now, what),
            None => Ok(false),
        }
    };
    Ok(Some(BoundFacts {
        session_revoked: live(session, "bound session")?,
        subject_disabled: live(disabled, "bound subject")?,
        subject_revoked_before: opt_str(mark, "bound mark")?
            .map(|text| live_mark(text, now, "bound mark"))
            .transpose()?
            .flatten(),
        registered_at,
    }))
}

/// The session-bound facts from the tail of a [`LOOKUP_LUA`] reply: the
/// session binding's value `{exp} {at} {sub}`, then the bound subject's
/// disabled and revoked-before values. `None` when there is no session
/// binding live at `now`.
fn session_bound_facts(tail: &[Value], now: UnixTime) -> Result<Option<BoundFacts>, StoreError> {
    const KEY: &str = "session binding";
    let [binding, disabled, mark] = tail else {
        return Err(corrupt(
            "the lookup script returned the wrong number of values",
        ));
    };
    let Some(text) = opt_str(binding, KEY)? else {
        return Ok(None);
    };
    let (exp, at) = text
        .split_once(' ')
        .and_then(|(exp, rest)| Some((exp, rest.split_once(' ')?.0)))
        .ok_or_else(|| corrupt(format_args!("{KEY}: {text:?} is not a binding")))?;
    if !is_live(exp, now, KEY)? {
        return Ok(None);
    }
    let live = |value: &Value, what: &str| -> Result<bool, StoreError> {
        match opt_str(value, what)? {
            Some(text) => is_live(text, now, what),
            None => Ok(false),
        }
    };
    Ok(Some(BoundFacts {
        session_revoked: false,
        subject_disabled: live(disabled, "bound subject")?,
        subject_revoked_before: opt_str(mark, "bound mark")?
            .map(|text| live_mark(text, now, "bound mark"))
            .transpose()?
            .flatten(),
        registered_at: UnixTime::from_secs(parse_secs(at, KEY)?),
    }))
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
        self.apply_script(None, change, provenance, now)
            .await?
            .ok_or_else(|| corrupt("the apply script returned nil"))
    }

    async fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        self.apply_script(Some(seen), change, provenance, now).await
    }

    async fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        let ids = reg.token_ids();
        // The event a refusal records, built here so that it is encoded
        // exactly as `apply` encodes events; the script fills in `jtis`.
        let refusal = StoredEvent {
            at: now,
            change: Change::TokensRevoked {
                jtis: Vec::new(),
                expires_at: reg.expires_at(),
            },
            actor: provenance.actor.clone(),
            reason: provenance.reason.clone(),
        };

        let mut call = REGISTER.prepare_invoke();
        call.key(&*self.stream)
            .key(self.key(FactKey::SubjectDisabled(&reg.subject())));
        for jti in ids {
            call.key(self.key(FactKey::Token(jti)));
        }
        for jti in ids {
            call.key(self.key(FactKey::Binding(jti)));
        }
        call.key(self.key(FactKey::Volume(reg.owner())));
        if let Some(session) = reg.session() {
            call.key(self.key(FactKey::Session(&session)))
                .key(self.key(FactKey::Registration(reg.owner(), &session)))
                .key(self.key(FactKey::SessionBinding(&session)));
        }
        call.arg(now.as_secs())
            .arg(self.max_events)
            .arg(ids.len())
            .arg(secs(reg.expires_at()))
            .arg(reg.iss().as_ref())
            .arg(reg.sub().as_ref())
            .arg(reg.sid().map_or("", AsRef::as_ref))
            .arg(reg.owner().as_ref())
            .arg(reg.max_per_session())
            .arg(reg.max_per_key());
        for jti in ids {
            call.arg(jti.as_ref());
        }
        call.arg(encode_event(&refusal)?)
            .arg(self.max_kept(&provenance.actor));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;

        let Value::Array(parts) = reply else {
            return Err(corrupt("the register script did not return an array"));
        };
        let (status, rest) = parts
            .split_first()
            .ok_or_else(|| corrupt("the register script returned nothing"))?;
        match opt_str(status, "register status")? {
            Some("registered") => Ok(Registration::Registered),
            Some(full @ ("full" | "keyfull")) => {
                let count = |value: Option<&Value>| match value {
                    Some(Value::Int(n)) => usize::try_from(*n).map_err(corrupt),
                    _ => Err(corrupt("a full session or key without its counts")),
                };
                let (held, adding) = (count(rest.first())?, count(rest.get(1))?);
                Ok(if full == "full" {
                    Registration::SessionFull {
                        held,
                        adding,
                        max: reg.max_per_session(),
                    }
                } else {
                    Registration::KeyFull {
                        held,
                        adding,
                        max: reg.max_per_key(),
                    }
                })
            }
            Some("refused") => {
                let (reason, ids) = rest
                    .split_first()
                    .ok_or_else(|| corrupt("a refusal without a reason"))?;
                let reason = match opt_str(reason, "refusal reason")? {
                    Some("session_revoked") => Reason::SessionRevoked,
                    Some("subject_disabled") => Reason::SubjectDisabled,
                    other => return Err(corrupt(format_args!("unknown refusal {other:?}"))),
                };
                let Some((id, revoked)) = ids.split_first() else {
                    return Err(corrupt("a refusal without its event id"));
                };
                let event = match opt_str(id, "refusal event id")? {
                    Some("") => None,
                    _ => {
                        let jtis = revoked
                            .iter()
                            .map(|jti| {
                                let jti = opt_str(jti, "revoked token id")?
                                    .ok_or_else(|| corrupt("a nil revoked token id"))?;
                                TokenId::parse(jti).map_err(corrupt)
                            })
                            .collect::<Result<Vec<_>, StoreError>>()?;
                        let mut stored = refusal;
                        stored.change = Change::TokensRevoked {
                            jtis,
                            expires_at: reg.expires_at(),
                        };
                        Some(stored.into_event(stream_id(id)?))
                    }
                };
                Ok(Registration::Refused { reason, event })
            }
            other => Err(corrupt(format_args!("unknown register status {other:?}"))),
        }
    }

    async fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        let session = Session {
            iss: iss.clone(),
            sid: sid.clone(),
        };
        let key = self.key(FactKey::Registration(owner, &session));
        let volume = self.key(FactKey::Volume(owner));
        let unexpected = || corrupt("the unregister script returned an unexpected reply");
        let mut cursor = "0".to_owned();
        let mut unbound = Vec::new();
        // Each step unbinds a bounded batch; a session that grows meanwhile
        // only adds steps.
        loop {
            let mut call = UNREGISTER.prepare_invoke();
            call.key(&key)
                .key(&volume)
                .arg(now.as_secs())
                .arg(&*self.prefix)
                .arg(iss.as_ref())
                .arg(sid.as_ref())
                .arg(self.max_events)
                .arg(owner.as_ref())
                .arg(UNREGISTER_BATCH)
                .arg(&cursor);
            let reply: Value =
                self.run(|mut conn| async move {
                    call.invoke_async(&mut conn).await.map_err(store_error)
                })
                .await?;
            let Value::Array(items) = reply else {
                return Err(unexpected());
            };
            match items.as_slice() {
                // No live record: gone before this call, or between steps.
                [Value::Int(0)] if unbound.is_empty() && cursor == "0" => return Ok(None),
                [Value::Int(0)] => return Ok(Some(unbound)),
                [Value::Int(1), next, ids @ ..] => {
                    for id in ids {
                        let id = opt_str(id, "unbound token id")?.ok_or_else(unexpected)?;
                        unbound.push(TokenId::parse(id).map_err(corrupt)?);
                    }
                    match opt_str(next, "unregister cursor")?.ok_or_else(unexpected)? {
                        "done" => return Ok(Some(unbound)),
                        next => next.clone_into(&mut cursor),
                    }
                }
                _ => return Err(unexpected()),
            }
        }
    }

    async fn token_ids_held(&self, owner: &Owner, now: UnixTime) -> Result<usize, StoreError> {
        let key = self.key(FactKey::Volume(owner));
        let held: u64 = self
            .run(|mut conn| async move {
                redis::cmd("ZCOUNT")
                    .arg(&key)
                    .arg(format!("({}", now.as_secs()))
                    .arg("+inf")
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        usize::try_from(held).map_err(corrupt)
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

        let mut call = LOOKUP.prepare_invoke();
        for (_, key) in &slots {
            call.key(key);
        }
        if let Some(jti) = lookup.jti {
            call.key(self.key(FactKey::Binding(jti)));
        }
        if let Some(session) = lookup.session {
            call.key(self.key(FactKey::SessionBinding(session)));
        }
        call.arg(&*self.prefix)
            .arg(slots.len())
            .arg(u8::from(lookup.jti.is_some()))
            .arg(u8::from(lookup.session.is_some()));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(values) = reply else {
            return Err(corrupt("the lookup script did not return an array"));
        };
        let wanted = slots.len()
            + if lookup.jti.is_some() { 8 } else { 0 }
            + if lookup.session.is_some() { 3 } else { 0 };
        if values.len() != wanted {
            return Err(corrupt(
                "the lookup script returned the wrong number of values",
            ));
        }
        let (values, tail) = values.split_at(slots.len());

        let mut facts = Facts::default();
        for ((slot, key), value) in slots.iter().zip(values) {
            let Some(text) = opt_str(value, key)? else {
                continue;
            };
            match slot {
                Slot::Token => facts.token_revoked = is_live(text, now, key)?,
                Slot::Session => facts.session_revoked = is_live(text, now, key)?,
                Slot::Disabled => facts.subject_disabled = is_live(text, now, key)?,
                Slot::RevokedBefore => facts.subject_revoked_before = live_mark(text, now, key)?,
            }
        }
        let tail = if lookup.jti.is_some() {
            let (binding, rest) = tail.split_at(8);
            facts.bound = bound_facts(binding, now)?;
            rest
        } else {
            tail
        };
        if lookup.session.is_some() {
            facts.session_bound = session_bound_facts(tail, now)?;
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
        // The newest of each stream, merged: an event trimmed from the log
        // by a flood of client-caused ones is still in the kept stream.
        let kept = format!("{}admin-events", self.prefix);
        let mut pipe = redis::pipe();
        for stream in [&*self.stream, kept.as_str()] {
            pipe.cmd("XREVRANGE")
                .arg(stream)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(page.limit);
        }
        let replies: Vec<Value> = self
            .run(|mut conn| async move { pipe.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        let mut merged = Vec::new();
        for reply in &replies {
            let Value::Array(entries) = reply else {
                return Err(corrupt("XREVRANGE did not return an array"));
            };
            for entry in entries {
                merged.push(decode_event(entry)?);
            }
        }
        let key = |event: &Event| parse_stream_id(&event.id.0).unwrap_or_default();
        merged.sort_by_key(|event| std::cmp::Reverse(key(event)));
        merged.dedup_by(|a, b| a.id == b.id);
        merged.truncate(page.limit);
        Ok(merged)
    }

    async fn events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        if parse_stream_id(&after.0).is_none() {
            return Err(StoreError::InvalidCursor);
        }
        let mut call = EVENTS_AFTER.prepare_invoke();
        call.key(&*self.stream).arg(&after.0).arg(limit.max(1));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("the events-after script did not return an array"));
        };
        match parts.split_first() {
            Some((Value::Int(0), _)) => Ok(None),
            Some((Value::Int(1), entries)) => entries
                .iter()
                .take(limit)
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            _ => Err(corrupt("the events-after script returned the wrong shape")),
        }
    }

    async fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        self.read_live_page(cursor, limit, kinds, now).await
    }

    async fn read_states(&self, keys: &[MirroredKey]) -> Result<Vec<FactUpdate>, StoreError> {
        self.read_states_now(keys).await
    }

    async fn snapshot(
        &self,
        sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
    ) -> Result<FeedPosition, StoreError> {
        self.read_snapshot(sink).await
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
            max_admin_events: 100,
            sentinels: Vec::new(),
            sentinel_service: "mymaster".into(),
            tls: Default::default(),
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

-- prelude.lua: Lua shared by the scripts that merge facts, put in front
-- of each of them at build time (`concat!` + `include_str!` in scripts.rs).
--
-- It declares `now` without a value: each script sets it from its own
-- arguments before calling any of these functions.
--
-- Old values that are already expired for `now` are ignored, so a merge
-- never revives a dead fact. Numbers are compared with `tonumber` but
-- written back as the original decimal strings: Lua numbers are doubles,
-- and formatting one would turn a large instant into `1e+15`. A fact that is
-- dead on arrival (`expires_at <= now`) is deleted rather than written, and
-- expiry instants are capped at the end of year 9999, because Redis refuses
-- instants beyond about 2^63 ms.
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

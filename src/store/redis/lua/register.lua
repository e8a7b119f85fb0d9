-- register.lua (runs after prelude.lua, concatenated at build time)
--
-- Registers a session, or refuses it and revokes its token ids.
--
-- With `n` token ids, `KEYS`: the stream, the subject's disabled key, the
-- `n` token-revoked keys, the `n` binding keys, the owner's volume key,
-- then, when the registration has a `sid`, the session-revoked key, the
-- owner's registration key and the session binding key; last, the
-- subject's registry (`stk:`, a sorted set of its bound token ids by
-- expiry, what the admin API lists). `ARGV`: `now`,
-- `max_events`, `n`, `expires_at`, `iss`, `sub`, `sid` (empty without one:
-- a parsed `sid` never is), the owner, the per-session cap, the per-key
-- cap, the `n` token ids, the JSON of the one
-- `TokensRevoked` event a refusal records, with an empty `"jtis":[]` that
-- the script fills with the ids it revoked (the JSON's first `"jtis":[]`
-- is that field: it precedes every caller-supplied text), then
-- `max_admin_events` (empty when the caller is a client key: its refusal
-- events are not kept apart).
--
-- Every command touches one key or one field (`HLEN` and `HEXISTS` are
-- O(1)), or reads the volume set in O(log size) (`ZCOUNT`, `ZREVRANGE 0
-- 0`) and trims at most `max(2n, 64)` of its expired members, so the
-- script's cost follows `n`, never the session's size or the key's volume.
-- The volume counts members scored after `now` — exact whatever is not
-- trimmed yet; trimming only bounds memory, and the set expires with its
-- latest member.
--
-- Returns `{'registered'}`, `{'full', held, adding}`, `{'keyfull', held,
-- adding}`, or
-- `{'refused', reason, stream id or '', revoked token id...}`: `''` when
-- every id was bound by another owner and nothing was written.
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
local stk = KEYS[#KEYS]

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
t = redis.call('TYPE', stk)['ok']
if t ~= 'zset' and t ~= 'none' then corrupt(stk) end
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
      redis.call('ZADD', stk, p[2], ARGV[10 + i])
    end
  end
end
-- Trims expired members, a bounded number per call (more than a call
-- adds), and lets the set expire with its latest member.
local dead = redis.call('ZRANGEBYSCORE', own, '-inf', ARGV[1], 'LIMIT', 0, math.max(2 * n, 64))
if #dead > 0 then redis.call('ZREM', own, unpack(dead)) end
local top = redis.call('ZREVRANGE', own, 0, 0, 'WITHSCORES')
if top[2] then redis.call('EXPIREAT', own, exat(top[2])) end
-- The same for the subject's registry.
dead = redis.call('ZRANGEBYSCORE', stk, '-inf', ARGV[1], 'LIMIT', 0, math.max(2 * n, 64))
if #dead > 0 then redis.call('ZREM', stk, unpack(dead)) end
top = redis.call('ZREVRANGE', stk, 0, 0, 'WITHSCORES')
if top[2] then redis.call('EXPIREAT', stk, exat(top[2])) end
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

-- subject_tokens.lua
--
-- A subject's session registry: its live registered token ids, the latest
-- expiry first, with each binding's `exp`, `at`, `sid` and `own`.
--
-- `KEYS`: the subject's registry (`stk:{n}:{iss}:{sub}`, a sorted set of
-- token ids scored by their binding's expiry, written by register.lua and
-- pruned by unregister.lua). `ARGV`: `now`, the key prefix, `iss`, `sub`,
-- `limit`. The binding keys are built here from the members
-- (`{prefix}bnd:{jti}`, as `FactKey::Binding` does).
--
-- Trims at most 64 expired members (the set also expires with its latest
-- member), then reads at most `limit + 1` members scored after `now` and
-- one hash per member: the cost follows `limit`, never the subject's size.
-- A member whose binding is gone, expired, or bound to another subject is
-- skipped.
--
-- Returns `{truncated, jti, exp, at, sid, own, ...}`: `truncated` is 1 when
-- more than `limit` members are live, then five values per listed id
-- (`sid` and `own` are '' when the binding has none).
local stk = KEYS[1]
local now, prefix, iss, sub = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[5])

local t = redis.call('TYPE', stk)['ok']
if t == 'none' then return {0} end
if t ~= 'zset' then error({err = 'CORRUPT unreadable value at ' .. stk}) end
local dead = redis.call('ZRANGEBYSCORE', stk, '-inf', now, 'LIMIT', 0, 64)
if #dead > 0 then redis.call('ZREM', stk, unpack(dead)) end
local ids = redis.call('ZREVRANGEBYSCORE', stk, '+inf', '(' .. now, 'LIMIT', 0, limit + 1)
local out = {0}
for i, jti in ipairs(ids) do
  if i > limit then
    out[1] = 1
    break
  end
  local b = redis.call('HMGET', prefix .. 'bnd:' .. jti, 'exp', 'at', 'iss', 'sub', 'sid', 'own')
  if b[1] and b[3] == iss and b[4] == sub and tonumber(b[1]) and tonumber(b[1]) > tonumber(now) then
    out[#out + 1] = jti
    out[#out + 1] = b[1]
    out[#out + 1] = b[2] or ''
    out[#out + 1] = b[5] or ''
    out[#out + 1] = b[6] or ''
  end
end
return out

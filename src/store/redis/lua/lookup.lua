-- lookup.lua
--
-- Reads the facts of a lookup and, for a token id, its binding and the
-- facts of the bound session and subject; for a session, its session
-- binding and the facts of the bound subject. Writes nothing.
--
-- `KEYS`: the `m` fact keys of the lookup, then the binding key when the
-- lookup has a token id, then the session binding key when it has a
-- session. `ARGV`: the key prefix, `m`, `1` or `0` for "a binding key
-- follows", `1` or `0` for "a session binding key follows".
--
-- Returns the `m` values (nil when absent), then, with a binding key, the
-- binding's `exp`, `at`, `iss`, `sub`, `sid` and the values of the bound
-- session-revoked, disabled and revoked-before keys (nil when absent);
-- then, with a session binding key, its value and the values of the bound
-- subject's disabled and revoked-before keys. The bound keys are built as
-- `FactKey::encode` builds them: the length in front of the issuer is
-- its byte length, which is what Lua's `#` counts. Liveness is judged by
-- the caller against its `now`.
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

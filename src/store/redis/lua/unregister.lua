-- unregister.lua (runs after prelude.lua, concatenated at build time)
--
-- One step of a local logout: unbinds up to `ARGV[7]` of the token ids of
-- one owner's registration, the bindings that still point at its session
-- and owner, and removes them from the record; removes the record once it
-- holds no more ids.
--
-- `KEYS`: the registration key, the owner's volume key. `ARGV`: `now`, the key prefix, `iss`,
-- `sid`, `max_events` (the feed's approximate length), the owner, the
-- batch size, the `HSCAN` cursor (`0` on the first step). The binding keys
-- are built here from the registered token ids (`{prefix}bnd:{jti}`, as
-- `FactKey::Binding` does), since only the record knows them, and the
-- bound subject's registry (`{prefix}stk:{n}:{iss}:{sub}`, as
-- `FactKey::SubjectTokens` does) from the binding's `sub`.
--
-- Returns `{0}` when there was no live record, else `{1, cursor, jti...}`
-- with the token ids whose bindings were removed; cursor `done` when the
-- record is gone, else the cursor to pass to the next step.
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
    local b = redis.call('HMGET', key, 'iss', 'sid', 'own', 'sub')
    if b[1] == iss and b[2] == sid and b[3] == owner then
      doomed[#doomed + 1] = key
      out[#out + 1] = string.sub(field, 3)
      redis.call('ZREM', own, string.sub(field, 3))
      if b[4] then
        redis.call('ZREM', prefix .. 'stk:' .. #iss .. ':' .. iss .. ':' .. b[4], string.sub(field, 3))
      end
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

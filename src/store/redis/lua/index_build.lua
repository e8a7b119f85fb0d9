-- index_build.lua (runs after prelude.lua, concatenated at build time)
--
-- One `SCAN` step over the deployment's keys that also copies each
-- mirrored key into the index, with the write scripts' own `index` (so the
-- encoding has one source). `ARGV`: the escaped `MATCH` pattern, the
-- prefix length, the cursor, the count. Returns the next cursor, then a
-- key and its value (as the read script returns them) for each mirrored
-- key.
local pattern, prefix_len = ARGV[1], tonumber(ARGV[2])
local r = redis.call('SCAN', ARGV[3], 'MATCH', pattern, 'COUNT', ARGV[4])
local out = {r[1]}
local found = {}
for _, key in ipairs(r[2]) do
  local kind = string.match(string.sub(key, prefix_len + 1), '^(%a+):')
  local v = nil
  if kind == 'tok' or kind == 'ses' or kind == 'dis' or kind == 'rb' or kind == 'sbn' then
    v = redis.call('GET', key)
  elseif kind == 'bnd' then
    v = redis.call('HMGET', key, 'exp', 'at', 'iss', 'sub', 'sid')
  end
  if v then
    out[#out + 1] = key
    out[#out + 1] = v
    found[#found + 1] = key
  end
end
if #found > 0 then
  index(string.sub(found[1], 1, prefix_len) .. 'feed', found)
end
return out

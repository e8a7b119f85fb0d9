-- read.lua
--
-- `KEYS`: mirrored keys. `ARGV`: the key prefix's length. Returns, per key, its string value, or for a
-- binding the array of `BINDING_FIELDS` (nil when absent).
local prefix_len = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  if string.sub(key, prefix_len + 1, prefix_len + 4) == 'bnd:' then
    out[i] = redis.call('HMGET', key, 'exp', 'at', 'iss', 'sub', 'sid')
  else
    out[i] = redis.call('GET', key)
  end
end
return out

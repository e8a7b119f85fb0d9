-- head.lua
--
-- The feed's newest id and `entries-added`, in one step. `KEYS`: the feed.
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', 0} end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #newest > 0 then id = newest[1][1] end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then return {id, info[i + 1]} end
end
return redis.error_reply('ERR XINFO STREAM has no entries-added: revokd needs Redis 7.0 or later')

-- pending_keep.lua
--
-- Keeps one pending logout unless its id is there or the hash is full.
--
-- `KEYS`: the hash. `ARGV`: the id, the JSON, the most the hash may hold.
-- Returns 'dup', 'full' or 'kept'.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'dup' end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'kept'

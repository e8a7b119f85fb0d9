-- scim_delete.lua
--
-- Removes one SCIM user, its unique index entries and its place in the
-- listing order.
--
-- `KEYS`: as scim_write.lua. `ARGV`: the id.
-- Returns the removed JSON, or false when there was none.
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return false end
local user = cjson.decode(old)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], user['name_key'])
if type(user['external_id']) == 'string' then redis.call('HDEL', KEYS[3], user['external_id']) end
redis.call('ZREM', KEYS[4], ARGV[1])
return old

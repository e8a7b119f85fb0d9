-- scim_write.lua
--
-- Creates or replaces one SCIM user of a client, with its unique indexes
-- and its place in the client's listing order.
--
-- `KEYS`: the users hash (id -> JSON), the userName index (folded
-- userName -> id), the externalId index (externalId -> id), the order
-- index (sorted set: id scored by its `created` seconds; ties by id).
-- `ARGV`: the id, the JSON, the folded userName, the externalId ('' for
-- none), the expected version ('' to create), the `created` seconds.
-- Returns 'ok', 'userName' or 'externalId' (taken by another user),
-- 'missing' (replace of no user), 'version' (another version is stored).
local id, json, name, ext, expected, created = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local old = redis.call('HGET', KEYS[1], id)
if expected == '' then
  if old then return redis.error_reply('CORRUPT scim user id handed out twice') end
else
  if not old then return 'missing' end
  old = cjson.decode(old)
  if tostring(old['version']) ~= expected then return 'version' end
end
local holder = redis.call('HGET', KEYS[2], name)
if holder and holder ~= id then return 'userName' end
if ext ~= '' then
  holder = redis.call('HGET', KEYS[3], ext)
  if holder and holder ~= id then return 'externalId' end
end
if old then
  redis.call('HDEL', KEYS[2], old['name_key'])
  if type(old['external_id']) == 'string' then redis.call('HDEL', KEYS[3], old['external_id']) end
end
redis.call('HSET', KEYS[1], id, json)
redis.call('HSET', KEYS[2], name, id)
if ext ~= '' then redis.call('HSET', KEYS[3], ext, id) end
redis.call('ZADD', KEYS[4], created, id)
return 'ok'

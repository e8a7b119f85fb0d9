-- scim_page.lua
--
-- One page of a client's SCIM users in listing order, and how many it
-- has, read in one step: the order index's cardinality, a rank range of
-- it and those users' JSON. Costs O(log n + count), whatever n is.
--
-- `KEYS`: as scim_write.lua. `ARGV`: the 0-based offset, the count.
-- Returns {total, JSON, JSON, ...}; errors if the index names a user the
-- hash does not hold (the write scripts keep them in step).
local total = redis.call('ZCARD', KEYS[4])
local offset, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local reply = {total}
if count <= 0 or offset >= total then return reply end
local ids = redis.call('ZRANGE', KEYS[4], offset, offset + count - 1)
if #ids == 0 then return reply end
local users = redis.call('HMGET', KEYS[1], unpack(ids))
for i, json in ipairs(users) do
  if not json then return redis.error_reply('CORRUPT scim order index names missing user ' .. ids[i]) end
  reply[#reply + 1] = json
end
return reply

-- index_sweep.lua
--
-- One step of the sweep: drops the entries of up to `ARGV[2]` buckets
-- whose fact expired before `now`, starting at the record's `sweep`.
-- `KEYS`: the record. `ARGV`: `now`, the count, the buckets' key prefix,
-- the number of buckets. Returns the next bucket (0 after the last) and
-- how many entries were dropped; `{0, 0}` without a complete index.
local record, now, count, base, buckets = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', record, 'complete') == 0 then return {0, 0} end
local first = tonumber(redis.call('HGET', record, 'sweep') or '0') or 0
if first >= buckets then first = 0 end
local last = math.min(first + count, buckets) - 1
local dropped = 0
for b = first, last do
  local idx = base .. string.format('%04x', b)
  local items = redis.call('HGETALL', idx)
  for i = 1, #items, 2 do
    local field, v = items[i], items[i + 1]
    local kind = string.match(field, '^(%a+):')
    local exp = nil
    if kind == 'rb' then
      exp = string.match(v, ' (%S+)$')
    elseif kind == 'bnd' then
      exp = string.match(v, '^([^\n]*)')
    elseif kind == 'sbn' then
      exp = string.match(v, '^(%S+) ')
    elseif kind ~= nil then
      exp = v
    end
    if exp ~= nil and exp ~= 'never' and tonumber(exp) ~= nil and tonumber(exp) <= now then
      redis.call('HDEL', idx, field)
      dropped = dropped + 1
    end
  end
end
local next = last + 1
if next >= buckets then next = 0 end
redis.call('HSET', record, 'sweep', next)
return {next, dropped}

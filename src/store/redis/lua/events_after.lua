-- events_after.lua
--
-- Audit events strictly after a stream id, oldest first, or word that
-- the stream no longer holds all of them. `KEYS`: the stream. `ARGV`: the
-- id, the count.
--
-- Returns `{1, entry...}`, or `{0}` when the id lies beyond the last id
-- the stream ever generated (a reset), or before its first entry while
-- entries were ever removed (`entries-added` > `length`): `MAXLEN`
-- trimming does not record what it removed (`max-deleted-entry-id` moves
-- only on `XDEL`), so a consumer exactly at the last trimmed id is told to
-- resync too, never left with a silent gap.
local stream, after, count = KEYS[1], ARGV[1], ARGV[2]
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', stream) == 0 then
  if after == '0-0' then return {1} end
  return {0}
end
local info = redis.call('XINFO', 'STREAM', stream)
local fields = {}
for i = 1, #info, 2 do fields[info[i]] = info[i + 1] end
if before(fields['last-generated-id'], after) then return {0} end
local first = fields['first-entry']
if first and first ~= false and before(after, first[1]) and fields['entries-added'] > fields['length'] then
  return {0}
end
local out = {1}
for _, entry in ipairs(redis.call('XRANGE', stream, '(' .. after, '+', 'COUNT', count)) do
  out[#out + 1] = entry
end
return out

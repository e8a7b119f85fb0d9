-- apply.lua (runs after prelude.lua, concatenated at build time)
--
-- Applies one `Change` and appends its event, atomically; with a
-- seen-marker, only if the marker is not live.
--
-- `KEYS`: the fact key of the change, the stream, then (for `apply_once`)
-- the seen-marker key. `ARGV`: `kind`, `now`, `max_events`, `event JSON`,
-- the marker's `expires_at` (empty without a marker), `max_admin_events`
-- (empty for an event caused by a client key), then per kind:
--
-- | kind                     | fact key     | extra ARGV            |
-- |--------------------------|--------------|-----------------------|
-- | `token_revoked`          | token key    | `expires_at`          |
-- | `session_revoked`        | session key  | `expires_at`          |
-- | `subject_disabled`       | disabled key | `expires_at`/`never`  |
-- | `subject_enabled`        | disabled key |                       |
-- | `subject_revoked_before` | rb key       | `before`, `expires_at`|
--
-- The marker is checked before anything else and written last, after
-- every read that could fail: a replay writes nothing, and a failure
-- leaves no marker behind.
--
-- Returns the stream id of the event, or nil when the marker was live.
local fact = KEYS[1]
local stream = KEYS[2]
local seen = KEYS[3]
local kind = ARGV[1]
now = tonumber(ARGV[2])
local max_events = ARGV[3]
local event = ARGV[4]
local seen_exp = ARGV[5]
local max_kept = ARGV[6]

-- A logout token already acted on changes nothing.
if seen ~= nil and live_expiry(seen) ~= nil then return false end

-- Reads and checks first: Redis does not roll a script back on error.
check_stream(stream)

if kind == 'token_revoked' or kind == 'session_revoked' then
  local exp = later(ARGV[7], live_expiry(fact))
  put(fact, exp, exp)
elseif kind == 'subject_disabled' then
  local dis_exp = later(ARGV[7], live_expiry(fact))
  put(fact, dis_exp, dis_exp)
elseif kind == 'subject_enabled' then
  redis.call('DEL', fact)
elseif kind == 'subject_revoked_before' then
  local old_before, old_exp = live_mark(fact)
  local before = ARGV[7]
  if old_before ~= nil and tonumber(old_before) > tonumber(before) then before = old_before end
  local exp = later(ARGV[8], old_exp)
  put(fact, before .. ' ' .. exp, exp)
else
  return redis.error_reply('ERR unknown change kind ' .. kind)
end

if seen ~= nil then put(seen, seen_exp, seen_exp) end
publish(feed_of(stream), max_events, {fact})
return append(stream, max_events, event, max_kept)

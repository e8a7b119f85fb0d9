//! Reading the audit stream `{prefix}events` forwards, for the event
//! stream of `GET /v1/events`: from an id a consumer last saw, telling a
//! consumer that is behind the stream's retention from one that is not.
//!
//! The stream is capped with `XADD ... MAXLEN ~`, which trims the oldest
//! entries and, unlike `XDEL`, leaves `max-deleted-entry-id` alone. So
//! whether something after an id was trimmed is judged from the stream's
//! first entry: an id older than it, in a stream that lost entries
//! (`entries-added` > `length`), may have missed some.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncConnectionConfig, Script, Value};
use secrecy::ExposeSecret;

use super::{
    Fault, RedisSettings, RedisStore, corrupt, decode_event, opt_str, parse_stream_id, store_error,
};
use crate::domain::EventId;
use crate::store::{EventsAfter, StoreError};

/// The origin id: before every entry of a stream.
const ORIGIN: &str = "0-0";

/// `KEYS`: the stream. `ARGV`: the id to read after, the first id to read
/// (its successor; empty when it has none), the count. Returns
/// `{last-generated-id, first entry id or '', entries-added, length,
/// 1 when the id is an entry else 0, entries}`, all from one moment.
const AFTER_LUA: &str = r#"
local stream, after, start, count = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', stream) == 0 then return {'0-0', '', 0, 0, 0, {}} end
local last, added, length
local info = redis.call('XINFO', 'STREAM', stream)
for i = 1, #info, 2 do
  local k = info[i]
  if k == 'last-generated-id' then last = info[i + 1]
  elseif k == 'entries-added' then added = info[i + 1]
  elseif k == 'length' then length = info[i + 1]
  end
end
if added == nil then
  return redis.error_reply('ERR XINFO STREAM has no entries-added: revokd needs Redis 7.0 or later')
end
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
local first = ''
if #head > 0 then first = head[1][1] end
local exists = 0
if #redis.call('XRANGE', stream, after, after) > 0 then exists = 1 end
local entries = {}
if start ~= '' then entries = redis.call('XRANGE', stream, start, '+', 'COUNT', count) end
return {last, first, added, length, exists, entries}
"#;

/// `KEYS`: the stream. Returns its `last-generated-id`, `0-0` when absent.
const LAST_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return '0-0' end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then return info[i + 1] end
end
return redis.error_reply('ERR XINFO STREAM has no last-generated-id')
"#;

static AFTER: LazyLock<Script> = LazyLock::new(|| Script::new(AFTER_LUA));
static LAST: LazyLock<Script> = LazyLock::new(|| Script::new(LAST_LUA));

/// The first stream id after `(ms, seq)`, as `XRANGE` takes it; `None`
/// after the largest possible id.
fn successor((ms, seq): (u64, u64)) -> Option<String> {
    match seq.checked_add(1) {
        Some(seq) => Some(format!("{ms}-{seq}")),
        None => ms.checked_add(1).map(|ms| format!("{ms}-0")),
    }
}

/// What the stream's state says about reading after `after`, before its
/// entries are looked at: `Some` answer when there is nothing to read.
fn judge(
    after: (u64, u64),
    last: (u64, u64),
    first: Option<(u64, u64)>,
    trimmed: bool,
    exists: bool,
) -> Result<Option<EventsAfter>, ()> {
    if after > last {
        return Err(());
    }
    let origin = after == (0, 0);
    match first {
        // Every entry is gone: only the newest id (or the origin of an
        // untouched stream) has nothing after it.
        None if after == last => Ok(Some(EventsAfter::Events(Vec::new()))),
        None => Ok(Some(EventsAfter::BehindRetention)),
        Some(first) if trimmed && after < first => Ok(Some(EventsAfter::BehindRetention)),
        Some(_) if !origin && !exists => Err(()),
        Some(_) => Ok(None),
    }
}

impl RedisStore {
    /// See [`crate::store::RevocationStore::last_event_id`].
    pub(super) async fn newest_event_id(&self) -> Result<EventId, StoreError> {
        let mut call = LAST.prepare_invoke();
        call.key(&*self.stream);
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let id = opt_str(&reply, "last-generated-id")?.unwrap_or(ORIGIN);
        Ok(EventId(id.to_owned()))
    }

    /// See [`crate::store::RevocationStore::events_after`].
    pub(super) async fn read_events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> Result<EventsAfter, StoreError> {
        let unknown = || StoreError::UnknownEventId(after.0.clone());
        let position = parse_stream_id(&after.0).ok_or_else(unknown)?;
        let mut call = AFTER.prepare_invoke();
        call.key(&*self.stream)
            .arg(&after.0)
            .arg(successor(position).unwrap_or_default())
            .arg(limit.max(1));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("the events-after script did not return an array"));
        };
        let [last, first, added, length, exists, entries] = parts.as_slice() else {
            return Err(corrupt("the events-after script returned the wrong shape"));
        };
        let id = |value: &Value, what: &str| -> Result<Option<(u64, u64)>, StoreError> {
            match opt_str(value, what)? {
                None | Some("") => Ok(None),
                Some(text) => parse_stream_id(text)
                    .map(Some)
                    .ok_or_else(|| corrupt(format_args!("{what} {text:?} is not a stream id"))),
            }
        };
        let int = |value: &Value| match value {
            Value::Int(n) => Ok(*n),
            _ => Err(corrupt("the events-after script returned a non-integer")),
        };
        let last = id(last, "last-generated-id")?.unwrap_or((0, 0));
        let first = id(first, "first entry")?;
        let trimmed = int(added)? > int(length)?;
        match judge(position, last, first, trimmed, int(exists)? == 1) {
            Err(()) => return Err(unknown()),
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => {}
        }
        if limit == 0 {
            return Ok(EventsAfter::Events(Vec::new()));
        }
        let Value::Array(entries) = entries else {
            return Err(corrupt("XRANGE did not return an array"));
        };
        entries
            .iter()
            .map(decode_event)
            .collect::<Result<Vec<_>, _>>()
            .map(EventsAfter::Events)
    }
}

impl RedisStore {
    /// A dedicated connection that waits for new audit events with
    /// `XREAD BLOCK`, so that the wait never holds a pooled connection.
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn events_waiter(
        &self,
        settings: &RedisSettings,
        block: Duration,
    ) -> Result<EventsWaiter, StoreError> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|err| StoreError::unavailable(Fault::BadUrl(err)))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(block.saturating_add(settings.command_timeout)));
        let deadline = settings
            .connect_timeout
            .saturating_add(settings.command_timeout);
        let connection = tokio::time::timeout(
            deadline,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| StoreError::unavailable(Fault::Deadline(deadline)))?
        .map_err(store_error)?;
        Ok(EventsWaiter {
            connection,
            stream: self.stream.to_string(),
            block,
        })
    }
}

/// Waits on its own connection for audit events after an id.
pub struct EventsWaiter {
    connection: redis::aio::MultiplexedConnection,
    stream: String,
    block: Duration,
}

impl EventsWaiter {
    /// Returns once an event after `after` exists, or after the block time
    /// (`false`). Reads at most one entry: the caller reads the events
    /// themselves with `events_after`, which also tells a trimmed stream.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn wait(&mut self, after: &EventId) -> Result<bool, StoreError> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(u64::try_from(self.block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(&after.0);
        let reply: Value = read
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        Ok(reply != Value::Nil)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors_carry_into_the_milliseconds() {
        assert_eq!(successor((5, 1)).as_deref(), Some("5-2"));
        assert_eq!(successor((5, u64::MAX)).as_deref(), Some("6-0"));
        assert_eq!(successor((u64::MAX, u64::MAX)), None);
    }

    #[test]
    fn ids_are_judged_against_the_retained_range() {
        let events = |v: Result<Option<EventsAfter>, ()>| v;
        // Newer than anything issued: unknown.
        assert_eq!(
            events(judge((9, 0), (5, 0), Some((1, 0)), false, false)),
            Err(())
        );
        // Older than the first retained entry of a trimmed stream: behind.
        assert_eq!(
            judge((1, 0), (9, 0), Some((3, 0)), true, false),
            Ok(Some(EventsAfter::BehindRetention))
        );
        assert_eq!(
            judge((0, 0), (9, 0), Some((3, 0)), true, false),
            Ok(Some(EventsAfter::BehindRetention))
        );
        // The origin of a stream that never lost anything reads it all.
        assert_eq!(judge((0, 0), (9, 0), Some((3, 0)), false, false), Ok(None));
        // Within range but never an entry: unknown.
        assert_eq!(judge((4, 0), (9, 0), Some((3, 0)), true, false), Err(()));
        assert_eq!(judge((4, 0), (9, 0), Some((3, 0)), true, true), Ok(None));
        // Nothing at all yet.
        assert_eq!(
            judge((0, 0), (0, 0), None, false, false),
            Ok(Some(EventsAfter::Events(Vec::new())))
        );
    }
}

//! Waking the event hub (`crate::events`) when any instance records an
//! audit event: one `XREAD BLOCK` on `{prefix}events`, on a dedicated
//! connection, per instance. The hub still reads the events themselves
//! with `events_after` (which also tells a trimmed log); this only says
//! "there is something new", within milliseconds instead of at the next
//! poll.

use std::time::Duration;

use deadpool_redis::redis::{self, Value};

use super::{RedisStore, corrupt, opt_str, store_error};
use crate::store::StoreError;

impl RedisStore {
    /// A dedicated connection that waits for new audit events, so that the
    /// blocking read never holds a pooled connection. Opened like the
    /// change feed's reader (it follows Sentinel too).
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn events_waiter(&self, block: Duration) -> Result<EventsWaiter, StoreError> {
        let connection = self.blocking_connection(block).await?;
        Ok(EventsWaiter {
            connection,
            stream: self.stream.to_string(),
            block,
            last: "$".to_owned(),
        })
    }
}

/// Waits on its own connection for audit events newer than the last it
/// saw (at first: newer than when it started waiting).
pub struct EventsWaiter {
    connection: redis::aio::MultiplexedConnection,
    stream: String,
    block: Duration,
    /// The newest entry id seen, or `$` before the first.
    last: String,
}

/// Entries read per wait: only the last id matters.
const WAIT_COUNT: usize = 1000;

impl EventsWaiter {
    /// Returns `true` once there are new events, `false` after the block
    /// time without any.
    ///
    /// # Errors
    /// The connection failed or the reply is not a stream read.
    pub async fn wait(&mut self) -> Result<bool, StoreError> {
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(WAIT_COUNT)
            .arg("BLOCK")
            .arg(u64::try_from(self.block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(&self.last);
        let reply: Value = read
            .query_async(&mut self.connection)
            .await
            .map_err(store_error)?;
        match newest_id(&reply)? {
            None => Ok(false),
            Some(id) => {
                self.last = id;
                Ok(true)
            }
        }
    }
}

/// The id of the last entry of an `XREAD` reply on one stream; `None` for
/// nil (nothing within the block time).
fn newest_id(reply: &Value) -> Result<Option<String>, StoreError> {
    let streams: Vec<&Value> = match reply {
        Value::Nil => return Ok(None),
        Value::Array(streams) => streams.iter().collect(),
        Value::Map(map) => map.iter().map(|(_, entries)| entries).collect(),
        _ => return Err(corrupt("XREAD did not return streams")),
    };
    let mut newest = None;
    for stream in streams {
        // RESP2: [name, entries]; RESP3 maps: entries only.
        let entries = match stream {
            Value::Array(parts) if parts.len() == 2 && matches!(parts[1], Value::Array(_)) => {
                &parts[1]
            }
            other => other,
        };
        let Value::Array(entries) = entries else {
            return Err(corrupt("XREAD returned a stream without entries"));
        };
        if let Some(Value::Array(entry)) = entries.last()
            && let Some(id) = entry.first()
        {
            newest = opt_str(id, "stream entry id")?.map(str::to_owned);
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Value {
        Value::Array(vec![
            Value::BulkString(id.as_bytes().to_vec()),
            Value::Array(vec![]),
        ])
    }

    #[test]
    fn the_newest_id_of_a_read_is_its_last_entry() {
        let resp2 = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"revokd:events".to_vec()),
            Value::Array(vec![entry("5-0"), entry("6-1")]),
        ])]);
        assert_eq!(newest_id(&resp2).unwrap().as_deref(), Some("6-1"));
        let resp3 = Value::Map(vec![(
            Value::BulkString(b"revokd:events".to_vec()),
            Value::Array(vec![entry("7-0")]),
        )]);
        assert_eq!(newest_id(&resp3).unwrap().as_deref(), Some("7-0"));
        assert_eq!(newest_id(&Value::Nil).unwrap(), None);
    }
}

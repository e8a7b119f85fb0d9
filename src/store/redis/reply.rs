//! Reading Redis replies: strings, instants, stream ids, the stored form
//! of an event, and the facts a lookup script returns about what a token
//! or session is bound to. Anything not in this module's format is
//! [`StoreError::Corrupt`].

use deadpool_redis::redis::Value;
use serde::{Deserialize, Serialize};

use super::{EVENT_FIELD, NEVER};
use crate::domain::{BoundFacts, Change, Event, EventId, Note, UnixTime};
use crate::store::StoreError;

/// What the `event` field of a stream entry holds: an [`Event`] without its
/// id, which is the entry id.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredEvent {
    pub(super) at: UnixTime,
    #[serde(flatten)]
    pub(super) change: Change,
    pub(super) actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<Note>,
}

impl StoredEvent {
    pub(super) fn into_event(self, id: EventId) -> Event {
        Event {
            id,
            at: self.at,
            change: self.change,
            actor: self.actor,
            reason: self.reason,
        }
    }
}

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The bytes of a bulk (or simple) string reply; `None` for nil.
pub(super) fn opt_bytes(value: &Value) -> Result<Option<&[u8]>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(s) => Ok(Some(s.as_bytes())),
        other => Err(corrupt(format_args!(
            "expected a string reply, got {other:?}"
        ))),
    }
}

pub(super) fn opt_str<'v>(value: &'v Value, key: &str) -> Result<Option<&'v str>, StoreError> {
    opt_bytes(value)?
        .map(|bytes| {
            std::str::from_utf8(bytes).map_err(|_| corrupt(format_args!("{key} is not UTF-8")))
        })
        .transpose()
}

pub(super) fn parse_secs(text: &str, key: &str) -> Result<i64, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format_args!("{key}: {text:?} is not a Unix time")))
}

/// Whether a stored expiry (`{secs}` or `never`) lies after `now`.
pub(super) fn is_live(expiry: &str, now: UnixTime, key: &str) -> Result<bool, StoreError> {
    if expiry == NEVER {
        return Ok(true);
    }
    Ok(parse_secs(expiry, key)? > now.as_secs())
}

/// Decimal seconds, as every script reads them.
pub(super) fn secs(at: UnixTime) -> String {
    at.as_secs().to_string()
}

pub(super) fn encode_event(stored: &StoredEvent) -> Result<String, StoreError> {
    serde_json::to_string(stored)
        .map_err(|err| corrupt(format_args!("cannot encode the event: {err}")))
}

/// The id `XADD` answered with.
pub(super) fn stream_id(reply: &Value) -> Result<EventId, StoreError> {
    let id = opt_str(reply, "XADD reply")?.ok_or_else(|| corrupt("XADD returned nil"))?;
    if parse_stream_id(id).is_none() {
        return Err(corrupt(format_args!(
            "XADD returned {id:?}, not a stream id"
        )));
    }
    Ok(EventId(id.to_owned()))
}

/// A revoked-before value, `{before} {expiry}`: the mark if live at `now`.
pub(super) fn live_mark(
    text: &str,
    now: UnixTime,
    key: &str,
) -> Result<Option<UnixTime>, StoreError> {
    let (before, expiry) = text
        .split_once(' ')
        .ok_or_else(|| corrupt(format_args!("{key}: {text:?} is not a mark")))?;
    let before = parse_secs(before, key)?;
    Ok(is_live(expiry, now, key)?.then_some(UnixTime::from_secs(before)))
}

/// The bound facts from the tail of a `lua/lookup.lua` reply: the binding's
/// `exp`, `at`, `iss`, `sub`, `sid`, then the bound session-revoked,
/// disabled and revoked-before values. `None` when there is no binding
/// live at `now`.
pub(super) fn bound_facts(tail: &[Value], now: UnixTime) -> Result<Option<BoundFacts>, StoreError> {
    const KEY: &str = "binding";
    let [exp, at, iss, sub, _sid, session, disabled, mark] = tail else {
        return Err(corrupt(
            "the lookup script returned the wrong number of values",
        ));
    };
    let Some(exp) = opt_str(exp, KEY)? else {
        return Ok(None);
    };
    let at = opt_str(at, KEY)?.ok_or_else(|| corrupt("a binding has no `at`"))?;
    if opt_bytes(iss)?.is_none() || opt_bytes(sub)?.is_none() {
        return Err(corrupt("a binding has no `iss` or `sub`"));
    }
    if parse_secs(exp, KEY)? <= now.as_secs() {
        return Ok(None);
    }
    let registered_at = UnixTime::from_secs(parse_secs(at, KEY)?);
    let live = |value: &Value, what: &str| -> Result<bool, StoreError> {
        match opt_str(value, what)? {
            Some(text) => is_live(text, now, what),
            None => Ok(false),
        }
    };
    Ok(Some(BoundFacts {
        session_revoked: live(session, "bound session")?,
        subject_disabled: live(disabled, "bound subject")?,
        subject_revoked_before: opt_str(mark, "bound mark")?
            .map(|text| live_mark(text, now, "bound mark"))
            .transpose()?
            .flatten(),
        registered_at,
    }))
}

/// The session-bound facts from the tail of a `lua/lookup.lua` reply: the
/// session binding's value `{exp} {at} {sub}`, then the bound subject's
/// disabled and revoked-before values. `None` when there is no session
/// binding live at `now`.
pub(super) fn session_bound_facts(
    tail: &[Value],
    now: UnixTime,
) -> Result<Option<BoundFacts>, StoreError> {
    const KEY: &str = "session binding";
    let [binding, disabled, mark] = tail else {
        return Err(corrupt(
            "the lookup script returned the wrong number of values",
        ));
    };
    let Some(text) = opt_str(binding, KEY)? else {
        return Ok(None);
    };
    let (exp, at) = text
        .split_once(' ')
        .and_then(|(exp, rest)| Some((exp, rest.split_once(' ')?.0)))
        .ok_or_else(|| corrupt(format_args!("{KEY}: {text:?} is not a binding")))?;
    if !is_live(exp, now, KEY)? {
        return Ok(None);
    }
    let live = |value: &Value, what: &str| -> Result<bool, StoreError> {
        match opt_str(value, what)? {
            Some(text) => is_live(text, now, what),
            None => Ok(false),
        }
    };
    Ok(Some(BoundFacts {
        session_revoked: false,
        subject_disabled: live(disabled, "bound subject")?,
        subject_revoked_before: opt_str(mark, "bound mark")?
            .map(|text| live_mark(text, now, "bound mark"))
            .transpose()?
            .flatten(),
        registered_at: UnixTime::from_secs(parse_secs(at, KEY)?),
    }))
}

/// A stream id, `{ms}-{seq}`, as Redis prints it.
pub(super) fn parse_stream_id(text: &str) -> Option<(u64, u64)> {
    let (ms, seq) = text.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

pub(super) fn decode_event(entry: &Value) -> Result<Event, StoreError> {
    let Value::Array(parts) = entry else {
        return Err(corrupt("a stream entry is not an array"));
    };
    let [id, fields] = parts.as_slice() else {
        return Err(corrupt("a stream entry is not an [id, fields] pair"));
    };
    let id = opt_str(id, "stream entry id")?.ok_or_else(|| corrupt("a stream entry has no id"))?;
    let pairs: Vec<(&Value, &Value)> = match fields {
        Value::Array(flat) => flat
            .chunks_exact(2)
            .map(|pair| (&pair[0], &pair[1]))
            .collect(),
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        _ => return Err(corrupt(format_args!("event {id}: fields are not an array"))),
    };
    let json = pairs
        .into_iter()
        .find(|(name, _)| matches!(opt_bytes(name), Ok(Some(n)) if n == EVENT_FIELD.as_bytes()))
        .map(|(_, value)| opt_bytes(value))
        .transpose()?
        .flatten()
        .ok_or_else(|| corrupt(format_args!("event {id} has no `{EVENT_FIELD}` field")))?;
    let stored: StoredEvent =
        serde_json::from_slice(json).map_err(|err| corrupt(format_args!("event {id}: {err}")))?;
    Ok(Event {
        id: EventId(id.to_owned()),
        at: stored.at,
        change: stored.change,
        actor: stored.actor,
        reason: stored.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_two_decimal_parts() {
        assert_eq!(
            parse_stream_id("1764331613000-0"),
            Some((1_764_331_613_000, 0))
        );
        assert_eq!(parse_stream_id("0-0"), Some((0, 0)));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-b",
            "+1-0",
            "1-0-0",
            "1 -0",
            "99999999999999999999-0",
        ] {
            assert_eq!(parse_stream_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stored_events_round_trip_without_an_id() {
        let stored = StoredEvent {
            at: UnixTime::from_secs(10),
            change: Change::SubjectEnabled {
                subject: crate::domain::Subject {
                    iss: crate::domain::Issuer::parse("https://idp.example").unwrap(),
                    sub: crate::domain::SubjectId::parse("alice").unwrap(),
                },
            },
            actor: "admin:ops".into(),
            reason: None,
        };
        let json = serde_json::to_string(&stored).unwrap();
        assert!(!json.contains("\"id\""), "{json}");
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(EVENT_FIELD.into()),
                Value::BulkString(json.into_bytes()),
            ]),
        ]);
        let event = decode_event(&entry).unwrap();
        assert_eq!(event.id, EventId("5-1".into()));
        assert_eq!(event.change, stored.change);
    }

    #[test]
    fn entries_without_an_event_field_are_corrupt() {
        let entry = Value::Array(vec![
            Value::BulkString(b"5-1".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"other".to_vec()),
                Value::BulkString(b"{}".to_vec()),
            ]),
        ]);
        assert!(matches!(decode_event(&entry), Err(StoreError::Corrupt(_))));
    }
}

//! Server-Sent Events framing (WHATWG HTML, "Server-sent events", §9.2):
//! each [`Frame`] as the bytes of one message.
//!
//! A message is `field: value` lines ended by a blank line. A line break
//! inside a value would end the field (or the message) early, so data is
//! always one line of JSON (`serde_json` escapes control characters inside
//! strings) and an id never carries a line break, a carriage return or a
//! NUL (the last makes clients ignore the id).

use actix_web::web::Bytes;

use crate::events::Frame;

/// The message for `frame`.
pub fn encode(frame: &Frame) -> Bytes {
    let message = match frame {
        Frame::Event(event) => message(Some(&event.id.0), "revocation", &json(&**event)),
        Frame::Hello { last_event_id } => message(
            Some(&last_event_id.0),
            "hello",
            &json(&serde_json::json!({ "last_event_id": last_event_id })),
        ),
        Frame::Resync => message(None, "resync", r#"{"reason":"behind_retention"}"#),
        Frame::Keepalive => ": keepalive\n\n".to_owned(),
    };
    Bytes::from(message)
}

fn json(value: &impl serde::Serialize) -> String {
    // Serialising our own types to a string cannot fail; an empty object
    // keeps the stream well-formed if it ever did.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

fn message(id: Option<&str>, event: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    if let Some(id) = id {
        out.push_str("id: ");
        out.extend(id.chars().filter(|c| !matches!(c, '\n' | '\r' | '\0')));
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    out.push_str("data: ");
    out.extend(data.chars().filter(|c| !matches!(c, '\n' | '\r')));
    out.push_str("\n\n");
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{Change, Event, EventId, Note, TokenId, UnixTime};

    fn event(id: &str, reason: Option<&str>) -> Event {
        Event {
            id: EventId(id.into()),
            at: UnixTime::from_secs(10),
            change: Change::TokenRevoked {
                jti: TokenId::parse("t1").unwrap(),
                expires_at: UnixTime::from_secs(99),
            },
            actor: "admin:ops".into(),
            reason: reason.map(|r| Note::parse(r).unwrap()),
        }
    }

    fn text(frame: &Frame) -> String {
        String::from_utf8(encode(frame).to_vec()).unwrap()
    }

    #[test]
    fn a_revocation_is_an_id_an_event_name_and_one_line_of_json() {
        let e = event("1764331613000-0", None);
        assert_eq!(
            text(&Frame::Event(Arc::new(e.clone()))),
            format!(
                "id: 1764331613000-0\nevent: revocation\ndata: {}\n\n",
                serde_json::to_string(&e).unwrap()
            )
        );
    }

    #[test]
    fn data_stays_on_one_line_whatever_the_event_holds() {
        // A reason with line breaks (if a note ever allowed them) must not
        // split the message.
        let mut e = event("7", None);
        e.actor = "admin:ops\n\nevent: forged\ndata: x\r".into();
        let message = text(&Frame::Event(Arc::new(e.clone())));
        let lines: Vec<&str> = message.split('\n').collect();
        assert_eq!(lines.len(), 5, "{message:?}");
        assert_eq!(lines[0], "id: 7");
        assert_eq!(lines[1], "event: revocation");
        assert_eq!((lines[3], lines[4]), ("", ""));
        let data: Event = serde_json::from_str(lines[2].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data, e);
    }

    #[test]
    fn ids_never_carry_line_breaks() {
        let message = text(&Frame::Event(Arc::new(event("1\n2\r3\u{0}", None))));
        assert!(
            message.starts_with("id: 123\nevent: revocation\n"),
            "{message:?}"
        );
    }

    #[test]
    fn hello_resync_and_keepalive_frames() {
        assert_eq!(
            text(&Frame::Hello {
                last_event_id: EventId("42".into())
            }),
            "id: 42\nevent: hello\ndata: {\"last_event_id\":\"42\"}\n\n"
        );
        assert_eq!(
            text(&Frame::Resync),
            "event: resync\ndata: {\"reason\":\"behind_retention\"}\n\n"
        );
        assert_eq!(text(&Frame::Keepalive), ": keepalive\n\n");
    }
}

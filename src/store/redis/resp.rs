//! Reading the replies a snapshot needs straight from RESP2 bytes.
//!
//! The redis crate parses every reply into a [`redis::Value`], a tree with
//! a `Vec<u8>` per bulk string: for the `HGETALL`s of a 10M-revocation
//! snapshot index, 20M allocations and a parser run per field, a third of
//! the load's time. A snapshot only ever needs two shapes, so this reads
//! exactly those from the bytes of its own connection (`raw.rs`) and hands
//! out slices of the buffer:
//!
//! - a status line (`+OK`), the answer to `AUTH` and `SELECT`;
//! - an array of bulk strings (`*2\r\n$1\r\na\r\n$1\r\nb\r\n`), the answer
//!   to `HGETALL` in RESP2 (the connection never switches to RESP3).
//!
//! An error reply (`-ERR …`) is [`RespError::Server`]; anything else, or a
//! length beyond Redis's own bounds, is [`RespError::Malformed`]. Never a
//! panic: every index is checked (see the property tests below).
//!
//! [`redis::Value`]: deadpool_redis::redis::Value

use std::ops::Range;

/// The longest bulk string Redis sends (`proto-max-bulk-len`, 512 MB).
const MAX_BULK: usize = 512 << 20;
/// The most elements an array reply may announce; a hash holds at most
/// 2^32 - 1 fields, two elements each.
const MAX_ELEMENTS: usize = 1 << 33;
/// The longest header or status line accepted (`$536870912\r\n` is 12
/// bytes; a status or error line may say more).
const MAX_LINE: usize = 4096;

/// A reply that is not what a snapshot asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    /// Redis answered with an error (`-NOPERM …`, `-WRONGTYPE …`).
    #[error("Redis answered: {0}")]
    Server(String),
    #[error("malformed reply from Redis: {0}")]
    Malformed(&'static str),
}

impl RespError {
    /// The error code of a [`RespError::Server`] reply (`WRONGTYPE`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Server(text) => text.split(' ').next(),
            Self::Malformed(_) => None,
        }
    }
}

/// The line starting at `at` (without its `\r\n`) and where the next one
/// starts; `None` while it is incomplete.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = buf.get(at..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(end) => match end.checked_sub(1) {
            Some(cr) if window[cr] == b'\r' => Ok(Some((&window[..cr], at + end + 1))),
            _ => Err(RespError::Malformed("a line not ended by CRLF")),
        },
        None if window.len() > MAX_LINE => Err(RespError::Malformed("a line too long")),
        None => Ok(None),
    }
}

/// A decimal length of at most `max`.
fn length(digits: &[u8], max: usize) -> Result<usize, RespError> {
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(RespError::Malformed(
            "a length that is not a decimal number",
        ));
    }
    let n = digits
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    if n > max {
        return Err(RespError::Malformed("a length beyond Redis's bounds"));
    }
    Ok(n)
}

fn server_error(text: &[u8]) -> RespError {
    RespError::Server(String::from_utf8_lossy(text).into_owned())
}

/// A status reply (`+OK`) at the start of `buf`: how many bytes it takes;
/// `None` while incomplete.
///
/// # Errors
/// An error reply, or anything but a status line.
pub fn status(buf: &[u8]) -> Result<Option<usize>, RespError> {
    let Some((text, next)) = line(buf, 0)? else {
        return Ok(None);
    };
    match text.split_first() {
        Some((b'+', _)) => Ok(Some(next)),
        Some((b'-', error)) => Err(server_error(error)),
        _ => Err(RespError::Malformed("expected a status reply")),
    }
}

/// An array of bulk strings (an `HGETALL` reply) at the start of `buf`:
/// fills `items` with where each string lies in `buf` and returns how many
/// bytes the reply takes; `None` while incomplete (`items` then holds
/// nothing useful). The array must hold field-value pairs: an odd count is
/// malformed.
///
/// # Errors
/// An error reply, or anything but an array of an even number of bulk
/// strings.
pub fn bulk_array(buf: &[u8], items: &mut Vec<Range<usize>>) -> Result<Option<usize>, RespError> {
    items.clear();
    let Some((header, mut at)) = line(buf, 0)? else {
        return Ok(None);
    };
    let count = match header.split_first() {
        Some((b'*', digits)) => length(digits, MAX_ELEMENTS)?,
        Some((b'-', error)) => return Err(server_error(error)),
        _ => return Err(RespError::Malformed("expected an array reply")),
    };
    if count % 2 != 0 {
        return Err(RespError::Malformed("a hash reply of an odd length"));
    }
    for _ in 0..count {
        let Some((header, start)) = line(buf, at)? else {
            return Ok(None);
        };
        let len = match header.split_first() {
            Some((b'$', digits)) => length(digits, MAX_BULK)?,
            _ => return Err(RespError::Malformed("expected a bulk string")),
        };
        let end = start + len;
        match buf.get(end..end + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(RespError::Malformed("a bulk string not ended by CRLF")),
        }
        items.push(start..end);
        at = end + 2;
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(items: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", items.len()).into_bytes();
        for item in items {
            out.extend_from_slice(format!("${}\r\n", item.len()).as_bytes());
            out.extend_from_slice(item);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// A whole reply: its length and its strings.
    type Parsed = Option<(usize, Vec<Vec<u8>>)>;

    fn parsed(buf: &[u8]) -> Result<Parsed, RespError> {
        let mut items = Vec::new();
        Ok(bulk_array(buf, &mut items)?
            .map(|n| (n, items.iter().map(|r| buf[r.clone()].to_vec()).collect())))
    }

    #[test]
    fn hash_replies_are_read_in_place() {
        let reply = encode(&[b"tok:a", b"1700000000", b"", b"x\r\ny"]);
        let mut buf = reply.clone();
        buf.extend_from_slice(b"*0\r\n");
        let (n, items) = parsed(&buf).unwrap().unwrap();
        assert_eq!(n, reply.len());
        assert_eq!(
            items,
            [
                b"tok:a".to_vec(),
                b"1700000000".to_vec(),
                vec![],
                b"x\r\ny".to_vec()
            ]
        );
        assert_eq!(parsed(&buf[n..]).unwrap(), Some((4, vec![])));
    }

    #[test]
    fn every_cut_of_a_reply_asks_for_more() {
        let reply = encode(&[b"tok:a", b"1700000000", b"ses:1:i:s", b"2"]);
        for cut in 0..reply.len() {
            assert_eq!(parsed(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(status(b"+O"), Ok(None));
        assert_eq!(status(b"+OK\r"), Ok(None));
    }

    #[test]
    fn error_replies_are_server_errors_with_their_code() {
        let err = parsed(b"-WRONGTYPE Operation against a key\r\n").unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        let err = status(b"-NOPERM no\r\n").unwrap_err();
        assert_eq!(err, RespError::Server("NOPERM no".into()));
        assert_eq!(status(b"+OK\r\n*0"), Ok(Some(5)));
    }

    #[test]
    fn other_shapes_and_impossible_lengths_are_malformed() {
        for bad in [
            &b"+OK\r\n"[..],
            b":1\r\n",
            b"%1\r\n",
            b"*-1\r\n",
            b"*1\r\n$1\r\na\r\n",
            b"*2\r\n:1\r\n:2\r\n",
            b"*2\r\n$-1\r\n$-1\r\n",
            b"*2\r\n$1\r\nab\r\n",
            b"*2\r\n$x\r\n",
            b"*2\r\n$\r\n",
            b"*2\r\n$+1\r\n",
            b"*99999999999999999999\r\n",
            b"*2\r\n$536870913\r\n",
            b"*2\n",
            b"*2\r\n$1\r\na\n\n",
        ] {
            assert!(
                matches!(parsed(bad), Err(RespError::Malformed(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(bad),
                parsed(bad)
            );
        }
        assert!(matches!(status(b":1\r\n"), Err(RespError::Malformed(_))));
        let long = vec![b'*'; MAX_LINE + 10];
        assert!(matches!(parsed(&long), Err(RespError::Malformed(_))));
        assert!(matches!(status(&long), Err(RespError::Malformed(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any field-value pairs come back as they were, whole or cut.
        #[test]
        fn pairs_round_trip_and_cuts_are_incomplete(
            pairs in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..40)),
                0..8,
            ),
            cut in any::<prop::sample::Index>(),
        ) {
            let items: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
            let reply = encode(&items);
            let (n, back) = parsed(&reply).unwrap().unwrap();
            prop_assert_eq!(n, reply.len());
            prop_assert_eq!(back, items.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
            let cut = cut.index(reply.len());
            prop_assert_eq!(parsed(&reply[..cut]), Ok(None));
        }

        /// A reply with any bytes changed, dropped or added is read, asks
        /// for more, or is refused: never a panic, never a slice outside it.
        #[test]
        fn mutated_replies_never_panic(
            pairs in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..20)),
                0..6,
            ),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        ) {
            let items: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
            let mut reply = encode(&items);
            for (at, byte, op) in edits {
                let i = at.index(reply.len() + 1);
                match op {
                    0 if i < reply.len() => reply[i] = byte,
                    1 if i < reply.len() => { reply.remove(i); }
                    _ => reply.insert(i, byte),
                }
            }
            let mut ranges = Vec::new();
            if let Ok(Some(n)) = bulk_array(&reply, &mut ranges) {
                prop_assert!(n <= reply.len());
                prop_assert!(ranges.iter().all(|r| r.end <= n));
            }
            let _ = status(&reply);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut ranges = Vec::new();
            if let Ok(Some(n)) = bulk_array(&bytes, &mut ranges) {
                prop_assert!(ranges.iter().all(|r| r.end <= n && n <= bytes.len()));
            }
            if let Ok(Some(n)) = status(&bytes) {
                prop_assert!(n <= bytes.len());
            }
        }
    }
}

//! Raw HTTP, for what a normal client would tidy up first.

use super::*;

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and headers, as received.
    pub head: String,
    /// Whatever followed the head before the server closed the connection
    /// or went quiet.
    pub body: Vec<u8>,
}

/// Sends `GET {target}` exactly as given (no normalisation of dot
/// segments or percent-encoding, which HTTP clients do for you) and reads
/// the response of a `Connection: close` exchange.
pub fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    let mut stream = connect(addr);
    stream
        .write_all(request.as_bytes())
        .expect("send raw request");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let (head, body) =
        split_head(&bytes).unwrap_or_else(|| panic!("no HTTP response to {target}: {bytes:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    RawResponse {
        status: status_of(&head),
        head,
        body,
    }
}

/// The payload of a `Transfer-Encoding: chunked` body (extensions and
/// trailers ignored); stops at the first malformed chunk.
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size_field = String::from_utf8_lossy(&bytes[..line_end]);
        let size_hex = size_field.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || bytes.len() < start + size {
            break;
        }
        out.extend_from_slice(&bytes[start..start + size]);
        bytes = bytes.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}

/// Opens a WebSocket at `path` through `addr` and checks that bytes travel
/// both ways: the handshake's `101` and accept key, then `payload` echoed
/// back by [`Upstream`]. Returns the response head on success.
///
/// # Panics
/// The handshake is refused or the echo does not come back.
pub fn websocket_roundtrip(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> String {
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    let mut stream = connect(addr);
    stream
        .write_all(request.as_bytes())
        .expect("send handshake");
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let head = loop {
        let n = stream.read(&mut chunk).expect("read handshake answer");
        assert!(
            n > 0,
            "connection closed during the handshake: {received:?}"
        );
        received.extend_from_slice(&chunk[..n]);
        if let Some((head, rest)) = split_head(&received) {
            let rest = rest.to_vec();
            received = rest;
            break head;
        }
    };
    assert_eq!(status_of(&head), 101, "handshake refused:\n{head}");
    let accept = websocket_accept(KEY.as_bytes());
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "sec-websocket-accept: {}",
            accept.to_ascii_lowercase()
        )),
        "wrong or missing Sec-WebSocket-Accept:\n{head}"
    );
    stream.write_all(payload).expect("send through the tunnel");
    while received.len() < payload.len() {
        let n = stream.read(&mut chunk).expect("read the echo");
        assert!(n > 0, "tunnel closed before the echo: {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(received, payload, "the echo differs");
    head
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
}

/// The head (up to the blank line) as text, and the bytes after it.
fn split_head(bytes: &[u8]) -> Option<(String, &[u8])> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&bytes[..end]).into_owned(),
        &bytes[end + 4..],
    ))
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

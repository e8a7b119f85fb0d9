"""The SSE parser, against the framing revokd's stream uses."""

from __future__ import annotations

from custom_components.revokd.sse import SseEvent, SseParser

STREAM = (
    b": keepalive\n"
    b"id: 41\n"
    b"event: revocation\n"
    b'data: {"id":"41","kind":"token_revoked","jti":"abc"}\n'
    b"\n"
    b": keepalive\r\n"
    b"event: revocation\r\n"
    b"id: 42\r\n"
    b"data: first line\r\n"
    b"data: second line\r\n"
    b"\r\n"
    b"event: resync\r"
    b'data: {"reason":"behind_retention"}\r'
    b"\r"
)
EXPECTED = [
    SseEvent("revocation", '{"id":"41","kind":"token_revoked","jti":"abc"}', "41"),
    SseEvent("revocation", "first line\nsecond line", "42"),
    # No id field: the last event id carries over, as the spec says.
    SseEvent("resync", '{"reason":"behind_retention"}', "42"),
]


def feed_all(chunks: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_whole_stream_in_one_chunk() -> None:
    assert feed_all([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(1, len(STREAM)):
        assert feed_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_every_three_way_split_gives_the_same_events() -> None:
    for first in range(1, len(STREAM), 3):
        for second in range(first + 1, len(STREAM), 5):
            chunks = [STREAM[:first], STREAM[first:second], STREAM[second:]]
            assert feed_all(chunks) == EXPECTED, (first, second)


def test_byte_by_byte() -> None:
    assert feed_all([bytes([b]) for b in STREAM]) == EXPECTED


def test_comments_and_heartbeats_dispatch_nothing() -> None:
    assert feed_all([b": keepalive\n\n: keepalive\n\n"]) == []


def test_event_without_data_is_not_dispatched_and_type_resets() -> None:
    events = feed_all([b"event: hello\n\ndata: x\n\n"])
    assert events == [SseEvent("message", "x", None)]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    events = feed_all([b"data: a\r", b"\n", b"\r", b"\n"])
    assert events == [SseEvent("message", "a", None)]


def test_utf8_split_inside_a_character() -> None:
    payload = "data: café ✓\n\n".encode()
    cut = payload.index("✓".encode()) + 1
    assert feed_all([payload[:cut], payload[cut:]]) == [SseEvent("message", "café ✓", None)]


def test_field_without_space_and_unknown_fields() -> None:
    events = feed_all([b"data:no-space\nfoo: bar\nretry: 3000\nid\n\n"])
    assert events == [SseEvent("message", "no-space", "", 3000)]


def test_leading_bom_is_ignored() -> None:
    assert feed_all([b"\xef\xbb\xbfdata: x\n\n"]) == [SseEvent("message", "x", None)]


def test_incomplete_event_waits_for_its_blank_line() -> None:
    parser = SseParser()
    assert parser.feed(b"id: 7\ndata: x\n") == []
    assert parser.last_event_id == "7"
    assert parser.feed(b"\n") == [SseEvent("message", "x", "7")]

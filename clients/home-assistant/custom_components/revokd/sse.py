"""Incremental Server-Sent Events parser.

revokd's ``/v1/events`` is plain SSE (WHATWG HTML, "Server-sent events",
§9.2.6 "Interpreting an event stream"). aiohttp hands us arbitrary chunks:
a line, or an event, may be split anywhere — even between ``\\r`` and
``\\n`` — so the parser keeps the unfinished tail between calls and never
assumes a chunk boundary means anything. It is pure (no I/O) so that the
chunk-splitting rules can be tested exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event.

    ``id`` is the stream's last event id *after* this event (the spec keeps
    it across events that carry no ``id:`` field), which is what a
    reconnect must send as ``Last-Event-ID``.
    """

    event: str
    data: str
    id: str | None
    retry: int | None = None


class SseParser:
    """Feed bytes in, get complete events out."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder_pending = b""
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._first = True
        self._pending_cr = False

    @property
    def last_event_id(self) -> str | None:
        """The id a reconnect should resume from."""
        return self._last_id

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Consume ``chunk`` and return every event it completed."""
        text = self._decode(chunk)
        if self._first and text:
            # A leading U+FEFF BOM is ignored (§9.2.6).
            if text.startswith("\ufeff"):
                text = text[1:]
            self._first = False
        if self._pending_cr and text.startswith("\n"):
            # The "\r" that ended the previous chunk already ended the line.
            text = text[1:]
        self._pending_cr = False
        self._buffer += text
        events: list[SseEvent] = []
        while True:
            line, rest, found = self._split_line(self._buffer)
            if not found:
                break
            self._buffer = rest
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def _decode(self, chunk: bytes) -> str:
        # UTF-8 may be split mid-character across chunks: keep the tail.
        data = self._decoder_pending + chunk
        for cut in range(0, 4):
            try:
                text = data[: len(data) - cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._decoder_pending = data[len(data) - cut :]
            return text
        # Not UTF-8 at all: replace, as the spec's decoder does.
        self._decoder_pending = b""
        return data.decode("utf-8", errors="replace")

    def _split_line(self, buffer: str) -> tuple[str, str, bool]:
        """Split off one line ended by CRLF, LF or CR."""
        for index, char in enumerate(buffer):
            if char == "\n":
                return buffer[:index], buffer[index + 1 :], True
            if char == "\r":
                if index + 1 < len(buffer):
                    skip = 2 if buffer[index + 1] == "\n" else 1
                    return buffer[:index], buffer[index + skip :], True
                # "\r" at the very end: a line ends, but a "\n" may follow
                # in the next chunk and must not end a second (empty) line.
                self._pending_cr = True
                return buffer[:index], "", True
        return buffer, "", False

    def _process_line(self, line: str) -> SseEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment, e.g. revokd's ": keepalive"
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        # Any other field is ignored (§9.2.6).
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            # No data: nothing is dispatched, the event type resets.
            self._event = ""
            return None
        event = SseEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._last_id,
            retry=self._retry,
        )
        self._data = []
        self._event = ""
        return event

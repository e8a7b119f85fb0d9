"""revokd's event-stream contract, served in-process for edge cases.

The real binary is what most tests use. This stub serves the same
contract (hello, revocation events with ids, ``Last-Event-ID`` resume,
``resync`` then close, ``: keepalive``, ``openapi/revokd.yaml``) but lets a
test force what revokd does only under load or over time: a log trimmed
past the client's id, a connection cut between two events. Events are
written in awkward pieces on purpose, to exercise the parser over a real
socket.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class ContractStub:
    """Live set + event log + open streams, driven by the test."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []  # every event, ids "1", "2", ...
        self.live: list[dict[str, Any]] = []
        self.retention_floor = 0  # ids <= this are forgotten: resync
        self.last_event_ids_seen: list[str | None] = []
        self.registrations: list[dict[str, Any]] = []
        self.live_set_reads = 0
        self.kinds_asked: list[str | None] = []
        # False: `kinds` is refused (400), as by a revokd without the filter.
        self.kinds_supported = True
        self.checks: list[str] = []
        # False: /v1/events answers 404, as on a revokd that lacks it.
        self.stream = True
        # Bumped to end every open stream (drop_streams / shutdown).
        self._generation = 0
        self._streams: set[web.StreamResponse] = set()
        self.app = web.Application()
        self.app.router.add_get("/readyz", self._ready)
        self.app.router.add_get("/v1/check", self._check)
        self.app.router.add_post("/v1/sessions", self._register)
        self.app.router.add_get("/v1/revocations", self._revocations)
        self.app.router.add_get("/v1/events", self._events)

    @property
    def head(self) -> str:
        """The newest id; with an empty log, "0": the id before the first."""
        return str(len(self.log))

    async def push(self, rev: dict[str, Any], *, live: bool = True) -> str:
        """Record a revocation and stream it to open connections."""
        event_id = str(len(self.log) + 1)
        event = {"id": event_id, "at": 0, "actor": "admin", **rev}
        self.log.append(event)
        if live:
            self.live.append(rev)
        return event_id

    async def drop_streams(self) -> None:
        """Cut every open stream (a revokd restart, a proxy timeout)."""
        self._generation += 1
        old = set(self._streams)
        while old & self._streams:
            await asyncio.sleep(0.01)

    async def _ready(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    async def _check(self, request: web.Request) -> web.Response:
        self.checks.append(request.query["jti"])
        revoked = any(
            rev.get("kind") == "token_revoked" and rev.get("jti") == request.query["jti"]
            for rev in self.live
        )
        if revoked:
            return web.json_response({"active": False, "reason": "token_revoked"})
        return web.json_response({"active": True})

    async def _register(self, request: web.Request) -> web.Response:
        self.registrations.append(await request.json())
        return web.json_response({"registered": True})

    async def _revocations(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "500"))
        start = int(request.query.get("cursor") or 0)
        limit = min(limit, 2)  # force pagination
        if start == 0:
            self.live_set_reads += 1
            self.kinds_asked.append(request.query.get("kinds"))
        kinds = request.query.get("kinds")
        if kinds and not self.kinds_supported:
            return web.json_response(
                {"error": "invalid_request", "error_description": "unknown field `kinds`"},
                status=400,
            )
        live = [r for r in self.live if not kinds or r["kind"] in kinds.split(",")]
        page = live[start : start + limit]
        more = start + limit < len(live)
        return web.json_response(
            {
                "revocations": page,
                "next_cursor": str(start + limit) if more else None,
                "as_of": self.head,
            }
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self.stream:
            raise web.HTTPNotFound
        last = request.headers.get("Last-Event-ID")
        self.last_event_ids_seen.append(last)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        self._streams.add(resp)
        generation = self._generation
        try:
            if last is None:
                hello = json.dumps({"last_event_id": self.head})
                await resp.write(f"event: hello\ndata: {hello}\n\n".encode())
                sent = len(self.log)
            elif int(last) < self.retention_floor:
                await resp.write(b'event: resync\ndata: {"reason":"behind_retention"}\n\n')
                return resp
            else:
                sent = int(last)
            while True:
                for event in self.log[sent:]:
                    frame = (
                        f"id: {event['id']}\r\nevent: revocation\r\n"
                        f"data: {json.dumps(event)}\r\n\r\n"
                    ).encode()
                    # Split mid-line, and between CR and LF.
                    await resp.write(b": keepalive\n")
                    await resp.write(frame[:7])
                    await resp.write(frame[7:-1])
                    await resp.write(frame[-1:])
                    sent += 1
                idle = 0.0
                while len(self.log) == sent and generation == self._generation:
                    await asyncio.sleep(0.01)
                    idle += 0.01
                    if idle >= 15:
                        await resp.write(b": keepalive\n\n")
                        idle = 0.0
                if generation != self._generation:
                    # Ending the handler closes the connection mid-stream.
                    request.transport.close()
                    return resp
        finally:
            self._streams.discard(resp)

"""HTTP client for revokd.

One job: speak revokd's HTTP contract (``openapi/revokd.yaml``) with the
client key, and turn its answers into typed results or typed errors. It
knows nothing about Home Assistant's auth; the caller decides what a
refusal means. The key is a secret: it goes in the ``Authorization``
header and nowhere else (never in a log line or an exception text).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
import json
from typing import Any

import aiohttp

from .sse import SseEvent, SseParser

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
# revokd sends ": keepalive" every 15 s; three missed heartbeats mean the
# connection is dead even if TCP has not noticed.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=45)


class RevokdError(Exception):
    """Base class: revokd could not answer usefully."""


class RevokdUnreachable(RevokdError):
    """No answer (connection refused, timeout, 5xx)."""


class RevokdAuthError(RevokdError):
    """The client key was refused (401/403 on a client route)."""


class RevokdNotSupported(RevokdError):
    """This revokd does not serve the route (404): an older version."""


class RevokdBadRequest(RevokdError):
    """revokd refused the request as malformed (400)."""


@dataclass(frozen=True)
class RegistrationRefused(RevokdError):
    """``POST /v1/sessions`` answered 403: the ids are revoked already."""

    reason: str


@dataclass(frozen=True)
class CheckResult:
    """Answer of ``GET /v1/check``."""

    active: bool
    reason: str | None


@dataclass(frozen=True)
class RevocationPage:
    """One page of ``GET /v1/revocations``."""

    revocations: list[dict[str, Any]]
    next_cursor: str | None
    as_of: str | None


class RevokdClient:
    """Thin async client; one instance per config entry."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._key = key

    @property
    def url(self) -> str:
        """Base URL (not secret)."""
        return self._url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        try:
            async with self._session.request(
                method,
                self._url + path,
                params=params,
                json=json_body,
                headers=self._headers() if auth else None,
                timeout=REQUEST_TIMEOUT,
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError, ValueError):
                    body = {}
                if not isinstance(body, dict):
                    body = {}
                return resp.status, body
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise RevokdUnreachable(type(err).__name__) from err

    @staticmethod
    def _raise_for(status: int, body: dict[str, Any]) -> None:
        if status in (401, 403):
            raise RevokdAuthError(str(body.get("error", status)))
        if status == 404:
            raise RevokdNotSupported(str(status))
        if status == 400:
            raise RevokdBadRequest(str(body.get("error_description", "")))
        if status >= 500 or status != 200:
            raise RevokdUnreachable(f"HTTP {status}")

    async def async_ready(self) -> bool:
        """``GET /readyz``: True when revokd's store answers."""
        status, _ = await self._request("GET", "/readyz", auth=False)
        return status == 200

    async def async_check(self, jti: str) -> CheckResult:
        """``GET /v1/check?jti=``: is this token id active?"""
        status, body = await self._request("GET", "/v1/check", params={"jti": jti})
        self._raise_for(status, body)
        return CheckResult(bool(body.get("active")), body.get("reason"))

    async def async_register_session(
        self,
        *,
        iss: str,
        sub: str,
        sid: str | None,
        token_ids: list[str],
        expires_at: int,
    ) -> None:
        """``POST /v1/sessions``.

        Raises :class:`RegistrationRefused` on 403 with a revocation code:
        revokd has then recorded the ids as revoked.
        """
        body: dict[str, Any] = {
            "iss": iss,
            "sub": sub,
            "token_ids": token_ids,
            "expires_at": expires_at,
        }
        if sid:
            body["sid"] = sid
        status, answer = await self._request("POST", "/v1/sessions", json_body=body)
        if status == 403 and answer.get("error") in (
            "session_revoked",
            "subject_disabled",
        ):
            raise RegistrationRefused(str(answer["error"]))
        self._raise_for(status, answer)

    async def async_forget_session(self, *, iss: str, sid: str) -> None:
        """``DELETE /v1/sessions?iss=&sid=`` (a local logout)."""
        status, body = await self._request(
            "DELETE", "/v1/sessions", params={"iss": iss, "sid": sid}
        )
        self._raise_for(status, body)

    async def async_revocations(
        self, cursor: str | None = None, limit: int = 500, kinds: str | None = None
    ) -> RevocationPage:
        """``GET /v1/revocations``: one page of the live set (``kinds``:
        comma-separated kinds to list; a revokd without the filter answers
        400, :class:`RevokdBadRequest`)."""
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if kinds:
            params["kinds"] = kinds
        status, body = await self._request("GET", "/v1/revocations", params=params)
        self._raise_for(status, body)
        items = body.get("revocations") or []
        return RevocationPage(
            revocations=[item for item in items if isinstance(item, dict)],
            next_cursor=body.get("next_cursor"),
            as_of=body.get("as_of"),
        )

    async def async_live_set(
        self, kinds: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every live revocation (of ``kinds``), all pages, and the event id
        it is as of."""
        revocations: list[dict[str, Any]] = []
        cursor: str | None = None
        as_of: str | None = None
        first = True
        while True:
            page = await self.async_revocations(cursor, kinds=kinds)
            if first:
                # The snapshot is as of the first page; later pages belong
                # to it (the cursor pins it).
                as_of = page.as_of
                first = False
            revocations.extend(page.revocations)
            if not page.next_cursor:
                return revocations, as_of
            cursor = page.next_cursor

    async def async_events(
        self,
        last_event_id: str | None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[SseEvent]:
        """Follow ``GET /v1/events`` until the server closes it.

        Yields parsed events; raises :class:`RevokdNotSupported` on 404 and
        :class:`RevokdUnreachable` when the connection fails or goes silent.
        """
        headers = {**self._headers(), "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        try:
            async with self._session.get(
                self._url + "/v1/events", headers=headers, timeout=STREAM_TIMEOUT
            ) as resp:
                if resp.status != 200:
                    try:
                        body = await resp.json(content_type=None)
                    except (ValueError, aiohttp.ClientError):
                        body = {}
                    self._raise_for(resp.status, body if isinstance(body, dict) else {})
                if on_open is not None:
                    on_open()
                parser = SseParser()
                async for chunk in resp.content.iter_any():
                    for event in parser.feed(chunk):
                        yield event
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise RevokdUnreachable(type(err).__name__) from err

"""The restart window: what works between HTTP up and the integration set up.

A real Home Assistant serves HTTP (logins, the refresh grant, websockets)
from its "frontend" stage on, and sets custom integrations up in stage 2,
after every stage before it. Until this integration's setup runs, nothing
refuses a token revoked while Home Assistant was down, nor a login of a
subject disabled before the restart. These tests reproduce that order in
the test harness: Home Assistant's auth, websocket and REST API are set up
and serving, the integration's config entry is not (it was unloaded: Home
Assistant "stopped"), revocations happen, tokens are used, then the entry
is set up ("started") and the tests assert that nothing revoked works from
the moment the setup returns, and measure how long it worked.

The limit, stated honestly: the harness has no bootstrap stages, so the
time measured here is the integration's own part of the window (its setup,
which catches up with revokd before it returns). On a real start the
stages before custom integrations come on top of it: a custom integration
cannot run earlier (see the README), the forward-auth guard in front of
Home Assistant can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import time
from typing import Any

import aiohttp
import pytest
from pytest_homeassistant_custom_component.common import CLIENT_ID

from custom_components.revokd.const import DOMAIN, ISSUE_UNREACHABLE
from custom_components.revokd.ready import READY_URL
from homeassistant.auth import InvalidAuthError
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import Admin, setup_http, setup_integration
from .helpers import local_login, make_local_user, make_openid_user, refresh, settle

ISS = "https://idp.test/application/o/ha/"
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


@dataclass
class Probe:
    """Uses an access token on ``/api/`` over and over, as a client in the
    window would, and records when each request was sent and its status."""

    client: Any
    results: list[tuple[float, int]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            sent = time.monotonic()
            resp = await self.client.get("/api/")
            self.results.append((sent, resp.status))
            resp.release()
            if resp.status == 401:
                return
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def last_ok(self) -> float | None:
        """When the last request that worked was sent."""
        return max((sent for sent, status in self.results if status == 200), default=None)


@pytest.fixture
async def probes() -> AsyncIterator[list[Probe]]:
    """Probes to start; stopped after the test, whatever happened."""
    started: list[Probe] = []
    yield started
    for probe in started:
        await probe.stop()


async def _closed(ws: Any) -> bool:
    """Whether the server closed this websocket (within a short wait)."""
    try:
        msg = await ws.receive(timeout=2)
    except TimeoutError:
        return False
    return msg.type in CLOSED


async def _stop_home_assistant(hass: HomeAssistant, entry_id: str) -> None:
    """The integration goes away (its registry written), HTTP stays: what a
    restart looks like from the moment HTTP is up again."""
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


async def test_revoked_while_down_is_refused_from_the_moment_setup_returns(
    hass: HomeAssistant,
    revokd: Any,
    admin: Admin,
    local_auth: Any,
    hass_client_no_auth: Any,
    hass_client: Any,
    hass_ws_client: Any,
    probes: list[Probe],
) -> None:
    assert await setup_http(hass)
    entry, runtime = await setup_integration(hass, revokd.url)
    await make_local_user(hass, local_auth, "carol", "pw-carol-123")
    carol = await local_login(await hass_client_no_auth(), "carol", "pw-carol-123")
    # hass-openid users; their window logins are made without the
    # credential (no openid auth provider here to mint access tokens for
    # it): the integration knows them by the user's credentials all the same.
    dave, _ = await make_openid_user(hass, ISS, "dave", "sid-d")
    await runtime.async_idle()
    carol_rt = hass.auth.async_get_refresh_token_by_token(carol["refresh_token"])
    assert carol_rt is not None and runtime.registry.entries[carol_rt.id].registered

    # Home Assistant is down: carol's token is revoked, dave is disabled.
    await _stop_home_assistant(hass, entry.entry_id)
    await admin.post("/v1/admin/tokens/revoke", {"jti": carol_rt.id, "reason": "lost phone"})
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "dave"})

    # Home Assistant starts: HTTP is up, the integration not yet. Carol's
    # revoked token works, and dave signs in.
    http_up = time.monotonic()
    dave_rt = await hass.auth.async_create_refresh_token(dave, CLIENT_ID)
    dave_access = hass.auth.async_create_access_token(dave_rt)
    probes += [
        Probe(await hass_client(carol["access_token"])),
        Probe(await hass_client(dave_access)),
    ]
    for probe in probes:
        probe.start()
    carol_ws = await hass_ws_client(hass, carol["access_token"])
    dave_ws = await hass_ws_client(hass, dave_access)
    assert await refresh(await hass_client_no_auth(), carol["refresh_token"]) == 200
    await asyncio.sleep(0.05)  # the window, long enough for the probes to see it
    assert all(probe.last_ok() is not None for probe in probes), "the window is not reproduced"

    setup_started = time.monotonic()
    assert await hass.config_entries.async_setup(entry.entry_id)
    set_up = time.monotonic()

    # From here on nothing revoked works, before anything else has run.
    assert hass.auth.async_get_refresh_token(carol_rt.id) is None
    assert hass.auth.async_get_refresh_token(dave_rt.id) is None
    assert await refresh(await hass_client_no_auth(), carol["refresh_token"]) == 400
    assert (await (await hass_client(carol["access_token"])).get("/api/")).status == 401
    assert (await (await hass_client(dave_access)).get("/api/")).status == 401
    assert await _closed(carol_ws)
    assert await _closed(dave_ws)
    for probe in probes:
        await probe.stop()
        assert all(status == 401 for sent, status in probe.results if sent >= set_up)

    last_ok = max(probe.last_ok() or 0.0 for probe in probes)
    print(  # noqa: T201 (the measurement, shown with pytest -s)
        f"\nrestart window: revoked tokens worked until {1000 * (last_ok - http_up):.1f} ms"
        f" after HTTP was up; the integration's setup took"
        f" {1000 * (set_up - setup_started):.1f} ms and they worked"
        f" {1000 * max(0.0, last_ok - setup_started):.1f} ms into it"
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_known_disable_is_enforced_at_setup_with_revokd_down(
    hass: HomeAssistant,
    revokd: Any,
    admin: Admin,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_ws_client: Any,
) -> None:
    assert await setup_http(hass)
    entry, runtime = await setup_integration(hass, revokd.url)
    erin, _ = await make_openid_user(hass, ISS, "erin", "sid-e")
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "erin"})
    await settle(hass, runtime, admin)
    assert (ISS, "erin") in runtime.registry.state.disabled  # persisted with the registry

    # Home Assistant restarts while revokd is down; in the window erin signs
    # in and opens a websocket.
    await _stop_home_assistant(hass, entry.entry_id)
    await hass.async_add_executor_job(revokd.stop)
    rt = await hass.auth.async_create_refresh_token(erin, CLIENT_ID)
    access = hass.auth.async_create_access_token(rt)
    ws = await hass_ws_client(hass, access)

    assert await hass.config_entries.async_setup(entry.entry_id)

    # What the registry knew is enforced at setup, without revokd: the
    # window's token is gone and its websocket closed.
    assert hass.auth.async_get_refresh_token(rt.id) is None
    assert await _closed(ws)
    assert (await (await hass_client(access)).get("/api/")).status == 401
    issue_id = f"{ISSUE_UNREACHABLE}_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # Ready for a proxy all the same: it enforces all it can know.
    resp = await (await hass_client_no_auth()).get(READY_URL)
    assert (resp.status, await resp.json()) == (200, {"ready": True, "caught_up": False})
    await hass.config_entries.async_unload(entry.entry_id)


async def test_ready_is_404_before_the_setup_200_after_it_and_503_after_an_unload(
    hass: HomeAssistant, revokd: Any, hass_client_no_auth: Any
) -> None:
    assert await setup_http(hass)
    # A real Home Assistant keeps its router open for integrations set up
    # after HTTP started (HomeAssistantHTTP.start does this); the harness's
    # test server does not start it that way.
    hass.http.app._router.freeze = lambda: None  # noqa: SLF001
    client = await hass_client_no_auth()
    # A proxy holding the websocket and the token endpoint back until this
    # answers 200 closes the window: before the setup the route is not there.
    assert (await client.get(READY_URL)).status == 404

    entry, _ = await setup_integration(hass, revokd.url)
    resp = await client.get(READY_URL)
    assert (resp.status, await resp.json()) == (200, {"ready": True, "caught_up": True})

    await hass.config_entries.async_unload(entry.entry_id)
    assert (await client.get(READY_URL)).status == 503


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_disabled_owner_is_kept_active_but_their_logins_are_refused_until_enabled(
    hass: HomeAssistant,
    revokd: Any,
    admin: Admin,
    owner: Any,
    local_auth: Any,
    hass_client_no_auth: Any,
    hass_client: Any,
) -> None:
    from homeassistant.auth.models import Credentials  # noqa: PLC0415

    from .helpers import fake_id_token  # noqa: PLC0415

    assert await setup_http(hass)
    entry, runtime = await setup_integration(
        hass, revokd.url, {"subject_disable": "deactivate_user"}
    )
    credential = Credentials(
        auth_provider_type="openid",
        auth_provider_id=None,
        data={
            "username": "olivia",
            "subject": "olivia",
            "openid_id_token": fake_id_token(
                {"iss": ISS, "sub": "olivia", "sid": "sid-o", "aud": "ha", "exp": 2**31}
            ),
        },
        is_new=False,
    )
    await hass.auth.async_link_user(owner, credential)
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "olivia"})
    await settle(hass, runtime, admin)
    await runtime.async_idle()

    # Home Assistant does not let the owner be deactivated ...
    assert (await hass.auth.async_get_user(owner.id)).is_active
    # ... but no login of theirs works while the subject is disabled: not
    # through the provider (the token endpoint makes no access token, and
    # revokd refuses the registration) ...
    rt = await hass.auth.async_create_refresh_token(owner, CLIENT_ID)
    with pytest.raises(InvalidAuthError):
        hass.auth.async_create_access_token(rt)
    await runtime.async_idle()
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(rt.id) is None
    # ... nor with their local password: the integration knows the user by
    # every subject they have.
    await local_auth.async_initialize()
    await hass.async_add_executor_job(local_auth.data.add_auth, "olivia", "pw-olivia-12")
    await local_auth.data.async_save()
    local = await local_auth.async_get_or_create_credentials({"username": "olivia"})
    await hass.auth.async_link_user(owner, local)
    answer = await local_login(
        await hass_client_no_auth(), "olivia", "pw-olivia-12", token_status=403
    )
    assert answer["error"] == "access_denied"

    # Enabled again: a login (a second later, see the whole-second rule)
    # works and stays.
    await admin.post("/v1/admin/subjects/enable", {"iss": ISS, "sub": "olivia"})
    await settle(hass, runtime, admin)
    await asyncio.sleep(1.1)
    rt = await hass.auth.async_create_refresh_token(owner, CLIENT_ID)
    access = hass.auth.async_create_access_token(rt)
    await runtime.async_idle()
    assert (await (await hass_client(access)).get("/api/")).status == 200
    assert runtime.registry.entries[rt.id].registered
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_login_in_the_same_second_as_a_disable_stays_refused_after_the_enable(
    hass: HomeAssistant, revokd: Any, admin: Admin, hass_client: Any
) -> None:
    assert await setup_http(hass)
    entry, runtime = await setup_integration(hass, revokd.url)
    user, _ = await make_openid_user(hass, ISS, "pat", "sid-p")
    # Start right after a second boundary, so that all of this is one second.
    await asyncio.sleep(1.02 - time.time() % 1)
    second = int(time.time())
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "pat"})
    await admin.post("/v1/admin/subjects/enable", {"iss": ISS, "sub": "pat"})
    await settle(hass, runtime, admin)
    rt = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    assert int(rt.created_at.timestamp()) == second, "the machine was too slow for this test"
    await runtime.async_idle()
    assert runtime.registry.entries[rt.id].registered

    # A disable also revokes every token issued at or before it, in whole
    # seconds (that mark outlives the enable): this login counts as issued
    # before it, so revokd and the integration refuse it; one a second
    # later works.
    assert (await admin.check(rt.id))["reason"] == "subject_revoked_before"
    with pytest.raises(InvalidAuthError):  # what /auth/token answers with 403
        hass.auth.async_create_access_token(rt)
    await _until(lambda: int(time.time()) > second)
    later = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    await runtime.async_idle()
    assert (await admin.check(later.id))["active"] is True
    access = hass.auth.async_create_access_token(later)
    assert (await (await hass_client(access)).get("/api/")).status == 200
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_revokd_that_does_not_answer_delays_the_setup_by_the_bound_only(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custom_components.revokd import runtime as runtime_module  # noqa: PLC0415

    held: list[asyncio.StreamWriter] = []
    # Accepts connections and never answers (a hung revokd, a black hole).
    server = await asyncio.start_server(lambda _r, w: held.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(runtime_module, "STARTUP_CATCH_UP_TIMEOUT", 0.3)
    started = time.monotonic()
    entry, runtime = await setup_integration(hass, f"http://127.0.0.1:{port}")
    took = time.monotonic() - started

    assert 0.3 <= took < 3, took
    assert not runtime.caught_up_at_start
    issue_id = f"{ISSUE_UNREACHABLE}_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_unload(entry.entry_id)
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()

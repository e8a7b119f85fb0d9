"""The event stream of the real revokd binary: ``GET /v1/events`` and the
live set ``GET /v1/revocations`` as the integration follows them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from custom_components.revokd.api import RevokdClient
from custom_components.revokd.enforcement import PEOPLE_KINDS
from homeassistant.core import HomeAssistant

from .conftest import Admin, setup_integration
from .helpers import make_openid_user
from .revokd_server import CLIENT_KEY

ISS = "https://idp.test/application/o/ha/"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _login(hass: HomeAssistant, sub: str, sid: str) -> Any:
    user, credential = await make_openid_user(hass, ISS, sub, sid)
    return await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )


async def test_stream_applies_an_admin_revocation_without_polling(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    entry, runtime = await setup_integration(hass, revokd.url, {"poll_interval": 3600})
    rt = await _login(hass, "lena", "s-lena")
    await runtime.async_idle()
    await until(lambda: runtime.status.mode == "stream")

    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "s-lena"})
    await until(lambda: hass.auth.async_get_refresh_token(rt.id) is None)
    assert runtime.status.events_applied >= 1
    assert runtime.status.last_event_kind == "session_revoked"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_stream_resync_at_start_removes_what_was_revoked_while_down(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    entry, runtime = await setup_integration(hass, revokd.url, {"poll_interval": 3600})
    rt = await _login(hass, "mona", "s-mona")
    await runtime.async_idle()
    await hass.config_entries.async_unload(entry.entry_id)

    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "mona"})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await until(lambda: hass.auth.async_get_refresh_token(rt.id) is None)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_restart_catches_up_with_revocations_made_while_down(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    entry, runtime = await setup_integration(hass, revokd.url)
    rt = await _login(hass, "nina", "s-nina")
    await runtime.async_idle()
    assert runtime.registry.entries[rt.id].registered
    await hass.config_entries.async_unload(entry.entry_id)  # writes the registry

    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "s-nina"})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await until(lambda: hass.auth.async_get_refresh_token(rt.id) is None)
    runtime = hass.data["revokd"][entry.entry_id]
    assert runtime.status.connected
    await hass.config_entries.async_unload(entry.entry_id)


async def test_the_live_set_of_people_facts_leaves_other_apps_tokens_out(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    for i in range(5):
        await admin.post("/v1/admin/tokens/revoke", {"jti": f"other-app-{i}"})
    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "s-gone"})
    async with aiohttp.ClientSession() as session:
        client = RevokdClient(session, revokd.url, CLIENT_KEY)
        live, as_of = await client.async_live_set(kinds=PEOPLE_KINDS)
        everything, _ = await client.async_live_set()
    assert as_of is not None
    assert [rev["kind"] for rev in live] == ["session_revoked"]
    assert len(everything) == 6

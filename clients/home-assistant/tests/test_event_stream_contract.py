"""The follower against the event-stream contract (in-process stub).

See ``contract_stub.py`` for why a stub next to the real binary: it makes
on demand what revokd only does under load or over time.
``test_event_stream_real.py`` runs the follower against the real binary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestServer
import pytest

from homeassistant.core import HomeAssistant

from .conftest import setup_integration
from .contract_stub import ContractStub
from .helpers import make_openid_user

ISS = "https://idp.test/"


@pytest.fixture
async def stub(socket_enabled: None) -> AsyncIterator[tuple[ContractStub, str]]:
    contract = ContractStub()
    server = TestServer(contract.app, host="127.0.0.1")
    await server.start_server()
    yield contract, str(server.make_url("")).rstrip("/")
    await contract.drop_streams()
    await server.close()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for something the background follower does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _login(hass: HomeAssistant, sub: str, sid: str) -> Any:
    user, credential = await make_openid_user(hass, ISS, sub, sid)
    return await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )


async def test_startup_resync_removes_what_was_revoked_while_ha_was_down_then_follows(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    entry, runtime = await setup_integration(hass, url)
    early = await _login(hass, "amy", "s-amy")
    later = await _login(hass, "ben", "s-ben")
    await runtime.async_idle()
    assert {r["sid"] for r in contract.registrations} == {"s-amy", "s-ben"}
    await hass.config_entries.async_unload(entry.entry_id)

    # While the integration is down, the provider logs amy's session out,
    # plus unrelated facts to make the live set span pages.
    await contract.push({"kind": "session_revoked", "iss": ISS, "sid": "s-amy"})
    await contract.push({"kind": "token_revoked", "jti": "someone-else"})
    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "zed"})

    streams_before = len(contract.last_event_ids_seen)
    assert await hass.config_entries.async_setup(entry.entry_id)
    runtime = hass.data["revokd"][entry.entry_id]
    await until(lambda: hass.auth.async_get_refresh_token(early.id) is None)
    assert hass.auth.async_get_refresh_token(later.id) is not None
    # The restarted follower's own stream (the first run's came before).
    await until(
        lambda: (
            runtime.status.mode == "stream" and len(contract.last_event_ids_seen) > streams_before
        )
    )
    # Resumed from the live set's as_of, not from scratch.
    assert contract.last_event_ids_seen[-1] == "3"

    await contract.push({"kind": "token_revoked", "jti": later.id})
    await until(lambda: hass.auth.async_get_refresh_token(later.id) is None)
    assert runtime.status.events_applied == 1
    assert runtime.registry.last_event_id == "4"
    assert hass.states.get("sensor.revokd_events_applied").state == "1"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconnect_resumes_with_last_event_id(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    entry, runtime = await setup_integration(hass, url)
    first = await _login(hass, "cat", "s-cat")
    second = await _login(hass, "dan", "s-dan")
    await runtime.async_idle()
    await until(lambda: runtime.status.mode == "stream")
    await contract.push({"kind": "session_revoked", "iss": ISS, "sid": "s-cat"})
    await until(lambda: hass.auth.async_get_refresh_token(first.id) is None)

    await contract.drop_streams()
    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "dan"})
    await until(lambda: hass.auth.async_get_refresh_token(second.id) is None)
    assert "1" in contract.last_event_ids_seen[1:]
    assert runtime.status.events_applied == 2
    await hass.config_entries.async_unload(entry.entry_id)


async def test_resync_event_rereads_the_live_set(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "eve"})
    entry, runtime = await setup_integration(hass, url)
    await until(lambda: runtime.status.mode == "stream")
    assert (ISS, "eve") in runtime.registry.state.disabled

    assert contract.live_set_reads == 1
    # eve is enabled again while our position falls behind retention: the
    # enabling event is gone from the log, only a resync can tell us.
    contract.live.clear()
    contract.retention_floor = 10
    await contract.drop_streams()
    await until(lambda: (ISS, "eve") not in runtime.registry.state.disabled)
    assert contract.live_set_reads == 2
    # Without the resync, the backstop would still refuse eve's new logins.
    token = await _login(hass, "eve", "s-eve")
    await runtime.async_idle()
    assert not runtime.is_revoked(token)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_disable_deactivates_the_user_and_enable_activates_it_again(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    entry, runtime = await setup_integration(hass, url, {"subject_disable": "deactivate_user"})
    token = await _login(hass, "gus", "s-gus")
    user = token.user
    await runtime.async_idle()
    await until(lambda: runtime.status.mode == "stream")

    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "gus"})
    await until(lambda: not user.is_active)
    assert hass.auth.async_get_refresh_token(token.id) is None

    await contract.push({"kind": "subject_enabled", "iss": ISS, "sub": "gus"})
    await until(lambda: user.is_active)
    assert user.id not in runtime.registry.deactivated_users
    await hass.config_entries.async_unload(entry.entry_id)


async def test_resync_gives_back_a_user_whose_subject_was_enabled_meanwhile(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    entry, runtime = await setup_integration(hass, url, {"subject_disable": "deactivate_user"})
    token = await _login(hass, "hal", "s-hal")
    user = token.user
    await runtime.async_idle()
    await until(lambda: runtime.status.mode == "stream")
    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "hal"})
    await until(lambda: not user.is_active)

    # hal is enabled again, but the enabling event is past our position's
    # retention: the only sign of it is his absence from the live set.
    contract.live.clear()
    contract.retention_floor = 10
    await contract.drop_streams()
    await until(lambda: user.is_active)
    assert user.id not in runtime.registry.deactivated_users
    assert contract.live_set_reads == 2
    await hass.config_entries.async_unload(entry.entry_id)


async def test_without_a_stream_the_poll_follows_the_live_set_disables_included(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    contract.stream = False
    entry, runtime = await setup_integration(
        hass, url, {"subject_disable": "deactivate_user", "poll_interval": 3600}
    )
    token = await _login(hass, "ida", "s-ida")
    user = token.user
    await runtime.async_idle()
    await until(lambda: runtime.status.mode == "poll")

    await contract.push({"kind": "subject_disabled", "iss": ISS, "sub": "ida"})
    await runtime.async_poll_once()
    await runtime.async_idle()
    assert hass.auth.async_get_refresh_token(token.id) is None
    assert not user.is_active
    # Recorded as a subject fact, for the backstop, until an enable.
    assert (ISS, "ida") in runtime.registry.state.disabled
    assert runtime.status.events_applied == 1
    await runtime.async_poll_once()
    assert runtime.status.events_applied == 1  # nothing new, nothing counted

    contract.live.clear()  # enabled again
    await runtime.async_poll_once()
    await runtime.async_idle()
    assert user.is_active
    assert (ISS, "ida") not in runtime.registry.state.disabled
    await hass.config_entries.async_unload(entry.entry_id)


async def test_resync_reads_people_facts_and_checks_only_our_own_token_ids(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    entry, runtime = await setup_integration(hass, url)
    ours = await _login(hass, "jay", "s-jay")
    await runtime.async_idle()
    await hass.config_entries.async_unload(entry.entry_id)

    # While Home Assistant is down: our token is revoked by id, among many
    # token revocations of other apps, and a session of someone else ends.
    await contract.push({"kind": "token_revoked", "jti": ours.id})
    for i in range(20):
        await contract.push({"kind": "token_revoked", "jti": f"other-app-{i}"})
    await contract.push({"kind": "session_revoked", "iss": ISS, "sid": "s-elsewhere"})

    assert await hass.config_entries.async_setup(entry.entry_id)
    runtime = hass.data["revokd"][entry.entry_id]
    await until(lambda: hass.auth.async_get_refresh_token(ours.id) is None)
    await until(lambda: runtime.status.mode == "stream")
    assert contract.kinds_asked[-1] == "session_revoked,subject_disabled,subject_revoked_before"
    assert ours.id in contract.checks
    state = runtime.registry.state
    assert set(state.tokens) == {ours.id}
    assert state.sessions == {(ISS, "s-elsewhere")}

    # On the stream too, another app's token revocation is not ours to keep.
    await contract.push({"kind": "token_revoked", "jti": "other-app-live"})
    await contract.push({"kind": "session_revoked", "iss": ISS, "sid": "s-later"})
    await until(lambda: (ISS, "s-later") in runtime.registry.state.sessions)
    assert "other-app-live" not in runtime.registry.state.tokens
    assert runtime.status.events_applied == 1
    await hass.config_entries.async_unload(entry.entry_id)


async def test_resync_with_a_revokd_without_the_kinds_filter_keeps_only_our_tokens(
    hass: HomeAssistant, stub: tuple[ContractStub, str]
) -> None:
    contract, url = stub
    contract.kinds_supported = False
    ours = await _login(hass, "kim", "s-kim")
    await contract.push({"kind": "token_revoked", "jti": ours.id})
    await contract.push({"kind": "token_revoked", "jti": "other-app"})
    entry, runtime = await setup_integration(hass, url)
    await until(lambda: hass.auth.async_get_refresh_token(ours.id) is None)
    await until(lambda: runtime.status.mode == "stream")
    assert set(runtime.registry.state.tokens) == {ours.id}
    await hass.config_entries.async_unload(entry.entry_id)

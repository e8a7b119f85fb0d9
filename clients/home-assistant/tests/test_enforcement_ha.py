"""Revocations in revokd take effect in a real Home Assistant."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp

from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.core import HomeAssistant

from .conftest import Admin, setup_integration
from .helpers import local_login, make_local_user, make_openid_user, refresh

ISS = "https://idp.test/application/o/ha/"


async def test_admin_token_revocation_rejects_access_refresh_and_closes_websocket(
    hass: HomeAssistant,
    integration: Any,
    admin: Admin,
    local_auth: Any,
    hass_client_no_auth: Any,
    hass_client: Any,
    hass_ws_client: Any,
) -> None:
    _, runtime = integration
    await make_local_user(hass, local_auth, "carol", "pw-carol-123")
    tokens = await local_login(await hass_client_no_auth(), "carol", "pw-carol-123")
    await runtime.async_idle()
    access = tokens["access_token"]
    rt = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert rt is not None

    api = await hass_client(access)
    assert (await api.get("/api/")).status == 200
    ws = await hass_ws_client(hass, access)

    await admin.post("/v1/admin/tokens/revoke", {"jti": rt.id, "reason": "lost phone"})
    await runtime.async_poll_once()
    await hass.async_block_till_done()

    assert hass.auth.async_get_refresh_token(rt.id) is None
    assert (await api.get("/api/")).status == 401
    assert await refresh(await hass_client_no_auth(), tokens["refresh_token"]) == 400
    msg = await ws.receive(timeout=5)
    assert msg.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    )
    assert runtime.status.events_applied == 1


async def test_subject_disable_removes_every_token_of_the_user_and_can_deactivate(
    hass: HomeAssistant, revokd: Any, admin: Admin, local_auth: Any
) -> None:
    entry, runtime = await setup_integration(
        hass, revokd.url, {"subject_disable": "deactivate_user"}
    )
    user, credential = await make_openid_user(hass, ISS, "dave", "sid-d")
    other, other_cred = await make_openid_user(hass, ISS, "erin", "sid-e")
    login = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    llat = await hass.auth.async_create_refresh_token(
        user,
        client_name="script",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=365),
    )
    bystander = await hass.auth.async_create_refresh_token(
        other, "https://example.com/app", credential=other_cred
    )
    await runtime.async_idle()

    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "dave"})
    await runtime.async_poll_once()
    await runtime.async_idle()
    await hass.async_block_till_done()

    assert hass.auth.async_get_refresh_token(login.id) is None
    assert hass.auth.async_get_refresh_token(llat.id) is None
    assert hass.auth.async_get_refresh_token(bystander.id) is not None
    assert not (await hass.auth.async_get_user(user.id)).is_active
    assert (await hass.auth.async_get_user(other.id)).is_active
    await hass.config_entries.async_unload(entry.entry_id)


async def test_registration_refused_for_a_disabled_subject_removes_the_new_token(
    hass: HomeAssistant, integration: Any, admin: Admin
) -> None:
    _, runtime = integration
    user, credential = await make_openid_user(hass, ISS, "frank", "sid-f")
    # The provider disabled frank before he signed in to Home Assistant.
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "frank"})

    rt = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    await runtime.async_idle()
    await hass.async_block_till_done()

    assert hass.auth.async_get_refresh_token(rt.id) is None
    assert runtime.registry.entries.get(rt.id) is None
    # revokd recorded the refused id as revoked, and so does the backstop.
    assert (await admin.check(rt.id))["active"] is False
    assert rt.id in runtime.registry.state.tokens


async def test_backstop_refuses_a_known_revoked_token_without_asking_revokd(
    hass: HomeAssistant,
    integration: Any,
    local_auth: Any,
    hass_client_no_auth: Any,
    hass_client: Any,
    revokd: Any,
) -> None:
    _, runtime = integration
    await make_local_user(hass, local_auth, "gina", "pw-gina-1234")
    tokens = await local_login(await hass_client_no_auth(), "gina", "pw-gina-1234")
    await runtime.async_idle()
    rt = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert rt is not None
    # revokd goes away; what the stream had told us is still enforced.
    await hass.async_add_executor_job(revokd.stop)
    runtime.registry.state.apply({"kind": "token_revoked", "jti": rt.id})

    api = await hass_client(tokens["access_token"])
    assert (await api.get("/api/")).status == 401
    assert await refresh(await hass_client_no_auth(), tokens["refresh_token"]) == 400
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(rt.id) is None


async def test_local_logout_forgets_the_session_at_revokd(
    hass: HomeAssistant, integration: Any, admin: Admin
) -> None:
    _, runtime = integration
    user, credential = await make_openid_user(hass, ISS, "hank", "sid-h")
    rt = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    await runtime.async_idle()
    assert runtime.registry.entries[rt.id].registered

    hass.auth.async_remove_refresh_token(rt)  # the user signs out in HA
    await runtime.async_idle()

    assert rt.id not in runtime.registry.entries
    # revokd no longer binds the id to the session: revoking the session
    # does not name this (already gone) token any more.
    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "sid-h"})
    assert (await admin.check(rt.id))["active"] is True


async def test_sign_out_everywhere_removes_existing_tokens_and_allows_a_new_login(
    hass: HomeAssistant, integration: Any, admin: Admin
) -> None:
    _, runtime = integration
    user, credential = await make_openid_user(hass, ISS, "lisa", "sid-l1")
    before = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    await runtime.async_idle()

    await admin.post("/v1/admin/subjects/revoke-tokens", {"iss": ISS, "sub": "lisa"})
    assert (await admin.check(before.id))["reason"] == "subject_revoked_before"
    await runtime.async_poll_once()
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(before.id) is None

    # "Revoked before T" is not a disable: signing in again works (a second
    # later: revokd's rule is "issued at or before T", in whole seconds).
    await asyncio.sleep(1.1)
    after = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    await runtime.async_idle()
    await runtime.async_poll_once()
    await hass.async_block_till_done()
    assert runtime.registry.entries[after.id].registered
    assert hass.auth.async_get_refresh_token(after.id) is not None

"""End to end: a logout at a real OpenID Provider ends the Home Assistant session.

Nothing between the provider and Home Assistant is simulated: the
repository's test provider (panva's certified ``oidc-provider``) signs
people in with the authorization code flow, so the ID token and its
``sid`` are the provider's own. Home Assistant's own login flow and
``/auth/token`` turn that into a refresh token, through an ``openid`` auth
provider that keeps the ID token in the credential as hass-openid does
(``openid_login.py``). The sign-out is RP-Initiated Logout at the
provider, which POSTs its own signed logout token to the real revokd
binary; revokd validates it and publishes the revocation on its event
stream, and the integration removes the Home Assistant refresh token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from homeassistant.core import HomeAssistant

from .conftest import Admin, setup_http, setup_integration
from .helpers import refresh, settle
from .oidc_provider import CLIENT_ID, Login, OidcProvider
from .openid_login import install_openid_provider, openid_login
from .revokd_server import RevokdProcess, free_port, start_revokd

PROVIDER = "test-idp"


@dataclass
class Stack:
    """The provider, the revokd it sends logout tokens to, and its admin."""

    idp: OidcProvider
    revokd: RevokdProcess
    admin: Admin


@dataclass
class SignedIn:
    """One person signed in at the provider and then into Home Assistant."""

    login: Login
    tokens: dict[str, Any]
    token_id: str


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def stack(
    hass: HomeAssistant, revokd_bin: Path, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[Stack]:
    # The provider must know revokd's URL and revokd the provider's issuer:
    # pick revokd's port first. Both start (and stop) off the event loop.
    loop = asyncio.get_running_loop()
    port = free_port()
    idp = await loop.run_in_executor(
        None, OidcProvider, f"http://127.0.0.1:{port}/backchannel-logout", tmp_path / "idp.log"
    )
    config = {
        "REVOKD_PROVIDERS": (
            f'[{{name="{PROVIDER}", issuer="{idp.issuer}", client_ids=["{CLIENT_ID}"]}}]'
        ),
    }
    try:
        revokd = await loop.run_in_executor(None, start_revokd, revokd_bin, tmp_path, port, config)
    except BaseException:
        await loop.run_in_executor(None, idp.stop)
        raise
    admin = Admin(revokd.url)

    async def keys_loaded() -> bool:
        _, ready = await admin.call("GET", "/readyz")
        return ready["checks"][f"provider:{PROVIDER}"]["status"] == "up"

    try:
        await until(keys_loaded, "revokd to load the provider's keys")
        assert await setup_http(hass)
        install_openid_provider(hass)
        yield Stack(idp, revokd, admin)
    finally:
        await idp.close_sessions()
        await loop.run_in_executor(None, revokd.stop)
        await loop.run_in_executor(None, idp.stop)


async def sign_in(hass: HomeAssistant, stack: Stack, client: Any, account: str) -> SignedIn:
    """``account`` signs in at the provider, then into Home Assistant with it."""
    login = await stack.idp.login(account)
    tokens = await openid_login(client, login.id_token)
    refresh_token = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert refresh_token is not None
    assert refresh_token.credential.data["openid_id_token"] == login.id_token
    return SignedIn(login, tokens, refresh_token.id)


async def test_logout_at_the_provider_ends_that_home_assistant_session_and_no_other(
    hass: HomeAssistant,
    stack: Stack,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_ws_client: Any,
) -> None:
    entry, runtime = await setup_integration(hass, stack.revokd.url)
    browser = await hass_client_no_auth()
    alice = await sign_in(hass, stack, browser, "alice")
    bob = await sign_in(hass, stack, browser, "bob")
    await runtime.async_idle()
    # Each Home Assistant login is registered under its provider session.
    registered = runtime.registry.entries[alice.token_id]
    assert registered.registered
    assert (registered.iss, registered.sub, registered.sid) == (
        stack.idp.issuer,
        "alice",
        alice.login.sid,
    )
    assert alice.login.sid != bob.login.sid

    alice_api = await hass_client(alice.tokens["access_token"])
    bob_api = await hass_client(bob.tokens["access_token"])
    assert (await alice_api.get("/api/")).status == 200
    ws = await hass_ws_client(hass, alice.tokens["access_token"])

    await stack.idp.logout(alice.login)

    # The provider delivered its logout token and revokd took it.
    assert any(
        "backchannel.success" in line and "sub=alice" in line
        for line in stack.idp.backchannel_results()
    ), stack.idp.backchannel_results()
    assert await stack.admin.check(alice.token_id) == {
        "active": False,
        "reason": "session_revoked",
    }
    await settle(hass, runtime, stack.admin)
    await hass.async_block_till_done()

    assert hass.auth.async_get_refresh_token(alice.token_id) is None
    assert (await alice_api.get("/api/")).status == 401
    assert await refresh(browser, alice.tokens["refresh_token"]) == 400
    msg = await ws.receive(timeout=5)
    assert msg.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    )
    # Bob's provider session is another sid: his Home Assistant session lives.
    assert hass.auth.async_get_refresh_token(bob.token_id) is not None
    assert (await bob_api.get("/api/")).status == 200
    assert await refresh(browser, bob.tokens["refresh_token"]) == 200
    assert (await stack.admin.check(bob.token_id))["active"] is True
    assert runtime.status.events_applied == 1
    await hass.config_entries.async_unload(entry.entry_id)


async def test_logout_while_home_assistant_was_stopped_applies_at_the_next_start(
    hass: HomeAssistant, stack: Stack, hass_client_no_auth: Any
) -> None:
    entry, runtime = await setup_integration(hass, stack.revokd.url)
    browser = await hass_client_no_auth()
    carol = await sign_in(hass, stack, browser, "carol")
    await runtime.async_idle()
    await settle(hass, runtime, stack.admin)
    assert runtime.registry.entries[carol.token_id].registered
    # Home Assistant stops (the integration with it, hooks and all).
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    await stack.idp.logout(carol.login)
    assert await stack.admin.check(carol.token_id) == {
        "active": False,
        "reason": "session_revoked",
    }
    # Nothing in Home Assistant listened: the token still works.
    assert await refresh(browser, carol.tokens["refresh_token"]) == 200

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = hass.data["revokd"][entry.entry_id]
    await settle(hass, runtime, stack.admin)
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(carol.token_id) is None
    assert await refresh(browser, carol.tokens["refresh_token"]) == 400
    await hass.config_entries.async_unload(entry.entry_id)

"""Sign-in helpers: real Home Assistant login flows and credentials."""

from __future__ import annotations

import base64
import json
from typing import Any

from pytest_homeassistant_custom_component.common import CLIENT_ID, CLIENT_REDIRECT_URI

from homeassistant.auth.models import Credentials, User
from homeassistant.core import HomeAssistant


async def make_local_user(
    hass: HomeAssistant, local_auth: Any, username: str, password: str
) -> User:
    """A Home Assistant user with a local username and password."""
    user = await hass.auth.async_create_user(username.title(), group_ids=["system-admin"])
    await local_auth.async_initialize()
    await hass.async_add_executor_job(local_auth.data.add_auth, username, password)
    await local_auth.data.async_save()
    credential = await local_auth.async_get_or_create_credentials({"username": username})
    await hass.auth.async_link_user(user, credential)
    return user


async def local_login(
    client: Any, username: str, password: str, *, token_status: int = 200
) -> dict[str, Any]:
    """The browser's sign-in: login flow, then the code for tokens
    (``token_status``: what ``/auth/token`` is expected to answer)."""
    resp = await client.post(
        "/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": CLIENT_REDIRECT_URI,
        },
    )
    assert resp.status == 200, await resp.text()
    flow = await resp.json()
    resp = await client.post(
        f"/auth/login_flow/{flow['flow_id']}",
        json={"client_id": CLIENT_ID, "username": username, "password": password},
    )
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["type"] == "create_entry", result
    resp = await client.post(
        "/auth/token",
        data={
            "client_id": CLIENT_ID,
            "grant_type": "authorization_code",
            "code": result["result"],
        },
    )
    assert resp.status == token_status, await resp.text()
    return await resp.json()


async def refresh(client: Any, refresh_token: str) -> int:
    """Use a refresh token; the HTTP status."""
    resp = await client.post(
        "/auth/token",
        data={
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )
    return resp.status


def fake_id_token(claims: dict[str, Any]) -> str:
    """An ID token as hass-openid stores it (it verified it at login)."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


async def make_openid_user(
    hass: HomeAssistant, iss: str, sub: str, sid: str
) -> tuple[User, Credentials]:
    """A user signed in through hass-openid: its credential holds the ID token."""
    user = await hass.auth.async_create_user("Oidc " + sub, group_ids=["system-users"])
    credential = Credentials(
        auth_provider_type="openid",
        auth_provider_id=None,
        data={
            "username": sub,
            "subject": sub,
            "openid_id_token": fake_id_token(
                {"iss": iss, "sub": sub, "sid": sid, "aud": "ha", "exp": 2**31}
            ),
        },
        is_new=False,
    )
    await hass.auth.async_link_user(user, credential)
    return user, credential


async def settle(hass: HomeAssistant, runtime: Any, admin: Any) -> None:
    """Let the integration act on what revokd recorded so far.

    Following the event stream: wait (bounded) until it has applied
    revokd's newest event. Without a stream (an older revokd): one poll
    round. Either way exactly one path applies each revocation, so counts
    stay exact.
    """
    import asyncio  # noqa: PLC0415

    for _ in range(100):
        if runtime.status.mode != "starting":
            break
        await asyncio.sleep(0.05)
    if runtime.status.mode != "stream":
        await runtime.async_poll_once()
        await hass.async_block_till_done()
        return
    status, body = await admin.call("GET", "/v1/admin/events", params={"limit": "1"})
    assert status == 200, body
    if not body["events"]:
        await runtime.async_idle()
        await hass.async_block_till_done()
        return
    newest = body["events"][0]["id"]
    for _ in range(200):
        await runtime.async_idle()
        await hass.async_block_till_done()
        if runtime.registry.last_event_id == newest:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the stream did not reach event {newest}")

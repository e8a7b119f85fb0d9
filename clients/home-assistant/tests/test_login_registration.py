"""A sign-in registers its refresh token with a real revokd."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.core import HomeAssistant

from .conftest import Admin
from .helpers import local_login, make_local_user, make_openid_user

ISS = "https://idp.test/application/o/ha/"


async def test_local_sign_in_registers_token_as_local_subject(
    hass: HomeAssistant, integration: Any, admin: Admin, local_auth: Any, hass_client_no_auth: Any
) -> None:
    _, runtime = integration
    user = await make_local_user(hass, local_auth, "alice", "correct horse")
    client = await hass_client_no_auth()

    tokens = await local_login(client, "alice", "correct horse")
    await runtime.async_idle()

    rt = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert rt is not None
    entry = runtime.registry.entries[rt.id]
    assert entry.registered
    assert (entry.iss, entry.sub, entry.sid) == (runtime.local_issuer, user.id, None)
    # revokd knows the token through the registration: disabling the local
    # subject makes a check of the bare token id answer subject_disabled.
    assert (await admin.check(rt.id))["active"] is True
    await admin.post("/v1/admin/subjects/disable", {"iss": runtime.local_issuer, "sub": user.id})
    assert await admin.check(rt.id) == {"active": False, "reason": "subject_disabled"}


async def test_openid_sign_in_registers_session_and_long_lived_token_without_sid(
    hass: HomeAssistant, integration: Any, admin: Admin
) -> None:
    _, runtime = integration
    user, credential = await make_openid_user(hass, ISS, "bob", "sid-1")

    login = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    llat = await hass.auth.async_create_refresh_token(
        user,
        client_name="node-red",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650),
    )
    await runtime.async_idle()

    assert runtime.registry.entries[login.id].sid == "sid-1"
    assert runtime.registry.entries[llat.id].sid is None
    assert runtime.registry.entries[llat.id].sub == "bob"
    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "sid-1"})
    assert await admin.check(login.id) == {"active": False, "reason": "session_revoked"}
    # The long-lived token belongs to no provider session.
    assert (await admin.check(llat.id))["active"] is True

    # Home Assistant follows: the login's token goes, the offline one stays.
    await runtime.async_poll_once()
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(login.id) is None
    assert hass.auth.async_get_refresh_token(llat.id) is not None


async def test_long_lived_tokens_die_with_the_session_when_not_offline(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    from .conftest import setup_integration  # noqa: PLC0415

    entry, runtime = await setup_integration(hass, revokd.url, {"long_lived_tokens_offline": False})
    user, _ = await make_openid_user(hass, ISS, "olga", "sid-o")
    llat = await hass.auth.async_create_refresh_token(
        user,
        client_name="dashboard",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=30),
    )
    await runtime.async_idle()
    assert runtime.registry.entries[llat.id].sid == "sid-o"

    await admin.post("/v1/admin/sessions/revoke", {"iss": ISS, "sid": "sid-o"})
    assert await admin.check(llat.id) == {"active": False, "reason": "session_revoked"}
    await runtime.async_poll_once()
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(llat.id) is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_tokens_older_than_the_integration_are_registered_without_a_session(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    from .conftest import setup_integration  # noqa: PLC0415

    user, credential = await make_openid_user(hass, ISS, "pia", "sid-latest")
    old = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=credential
    )
    entry, runtime = await setup_integration(hass, revokd.url)
    await runtime.async_register_pending()

    adopted = runtime.registry.entries[old.id]
    # The credential holds the latest login's ID token, maybe not this one's.
    assert (adopted.iss, adopted.sub, adopted.sid, adopted.registered) == (ISS, "pia", None, True)
    await admin.post("/v1/admin/subjects/disable", {"iss": ISS, "sub": "pia"})
    assert await admin.check(old.id) == {"active": False, "reason": "subject_disabled"}
    await hass.config_entries.async_unload(entry.entry_id)

"""Signing in to Home Assistant through an OIDC login integration.

hass-openid (the integration users have) registers an auth provider of
type ``openid`` in ``hass.auth`` and, once the provider's callback has
verified the ID token, finishes Home Assistant's own login flow with a
credential that keeps that ID token (``openid_id_token``) and ``subject``.
Home Assistant then issues its refresh token through ``/auth/token`` as for
any login. This stand-in does the same with the ID token a test obtained
from the real test provider (``oidc_provider.py``), so everything after
the provider's redirect runs Home Assistant's real code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_homeassistant_custom_component.common import CLIENT_ID, CLIENT_REDIRECT_URI
import voluptuous as vol

from homeassistant.auth.models import Credentials, UserMeta
from homeassistant.auth.providers import AuthProvider, LoginFlow
from homeassistant.core import HomeAssistant

from .oidc_provider import jwt_claims

PROVIDER_TYPE = "openid"


class OpenIdLoginFlow(LoginFlow):
    """The step hass-openid reaches after the provider's callback."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> Any:
        if user_input is None:
            return self.async_show_form(
                step_id="init", data_schema=vol.Schema({vol.Required("id_token"): str})
            )
        id_token = user_input["id_token"]
        sub = jwt_claims(id_token)["sub"]
        return await self.async_finish(
            {"username": sub, "subject": sub, "openid_id_token": id_token}
        )


class OpenIdStandIn(AuthProvider):
    """Auth provider type ``openid``, as hass-openid registers it."""

    DEFAULT_TITLE = "OpenID Connect (test stand-in)"

    async def async_login_flow(self, context: dict[str, Any] | None) -> LoginFlow:
        return OpenIdLoginFlow(self)

    async def async_get_or_create_credentials(self, flow_result: Mapping[str, str]) -> Credentials:
        for credential in await self.async_credentials():
            if credential.data.get("subject") == flow_result["subject"]:
                return credential
        return self.async_create_credentials(dict(flow_result))

    async def async_user_meta_for_credentials(self, credentials: Credentials) -> UserMeta:
        return UserMeta(name=credentials.data["subject"], is_active=True)


def install_openid_provider(hass: HomeAssistant) -> None:
    """Register the stand-in the way custom auth integrations do."""
    provider = OpenIdStandIn(hass, hass.auth._store, {"type": PROVIDER_TYPE})  # noqa: SLF001
    hass.auth._providers[(provider.type, provider.id)] = provider  # noqa: SLF001


async def openid_login(client: Any, id_token: str) -> dict[str, Any]:
    """Home Assistant's login flow with the ``openid`` provider, then tokens."""
    resp = await client.post(
        "/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": [PROVIDER_TYPE, None],
            "redirect_uri": CLIENT_REDIRECT_URI,
        },
    )
    assert resp.status == 200, await resp.text()
    flow = await resp.json()
    resp = await client.post(
        f"/auth/login_flow/{flow['flow_id']}",
        json={"client_id": CLIENT_ID, "id_token": id_token},
    )
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["type"] == "create_entry", result
    resp = await client.post(
        "/auth/token",
        data={"client_id": CLIENT_ID, "grant_type": "authorization_code", "code": result["result"]},
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()

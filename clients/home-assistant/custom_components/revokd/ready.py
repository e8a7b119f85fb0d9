"""``GET /api/revokd/ready``: whether the integration enforces yet.

Home Assistant serves HTTP before custom integrations are set up (see the
README's restart window). A proxy in front of it can hold back what this
integration guards and revokd's forward-auth cannot see (the websocket, the
token endpoint) until this answers 200. Before the integration is set up
Home Assistant answers 404 here, because the route does not exist yet; after
an unload, 503. Unauthenticated by necessity (the proxy has no token), so it
says nothing but "ready" and whether the start-up catch-up reached revokd.
"""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant

from .const import DOMAIN

READY_URL = "/api/revokd/ready"
_REGISTERED = f"{DOMAIN}_ready_view"


class RevokdReadyView(HomeAssistantView):
    """200 once a config entry's setup has returned (its hooks are in and
    what it knows is enforced), else 503."""

    url = READY_URL
    name = "api:revokd:ready"
    requires_auth = False

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass

    async def get(self, request: web.Request) -> web.Response:
        """Answer the proxy's sub-request."""
        runtimes = self._hass.data.get(DOMAIN, {}).values()
        if not runtimes:
            return self.json({"ready": False}, HTTPStatus.SERVICE_UNAVAILABLE)
        return self.json({"ready": True, "caught_up": all(r.caught_up_at_start for r in runtimes)})


def async_register_ready_view(hass: HomeAssistant) -> None:
    """Once per Home Assistant run: routes cannot be removed again."""
    if hass.data.get(_REGISTERED):
        return
    hass.http.register_view(RevokdReadyView(hass))
    hass.data[_REGISTERED] = True

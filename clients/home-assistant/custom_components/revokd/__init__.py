"""revokd for Home Assistant: remove what revokd revoked.

Home Assistant keeps its own refresh tokens and authenticates websockets
inside the connection, so a reverse proxy cannot enforce an OIDC logout.
This integration registers each login with revokd's session registry and
follows revokd's revocations, removing the refresh tokens they hit.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import instance_id
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import RevokdClient
from .const import (
    CONF_CLIENT_KEY,
    CONF_URL,
    DEFAULT_LLAT_OFFLINE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SUBJECT_DISABLE,
    DOMAIN,
    LOCAL_ISSUER_PREFIX,
    OPT_LLAT_OFFLINE,
    OPT_MAPPINGS,
    OPT_POLL_INTERVAL,
    OPT_SUBJECT_DISABLE,
    SUBJECT_DISABLE_DEACTIVATE,
)
from .identity import parse_mappings
from .ready import async_register_ready_view
from .registry import LocalRegistry
from .runtime import Options, RevokdRuntime

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]


def options_from_entry(entry: ConfigEntry) -> Options:
    """Typed options with their defaults."""
    opts = entry.options
    try:
        mappings = parse_mappings(opts.get(OPT_MAPPINGS, ""))
    except ValueError:
        mappings = {}  # the options flow refuses bad text; stay safe anyway
    return Options(
        deactivate_users=opts.get(OPT_SUBJECT_DISABLE, DEFAULT_SUBJECT_DISABLE)
        == SUBJECT_DISABLE_DEACTIVATE,
        llat_offline=bool(opts.get(OPT_LLAT_OFFLINE, DEFAULT_LLAT_OFFLINE)),
        mappings=mappings,
        poll_interval=float(opts.get(OPT_POLL_INTERVAL, DEFAULT_POLL_INTERVAL)),
    )


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Start enforcing for this revokd."""
    client = RevokdClient(
        async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_CLIENT_KEY]
    )
    registry = LocalRegistry(hass)
    await registry.async_load()
    local_issuer = LOCAL_ISSUER_PREFIX + await instance_id.async_get(hass)
    runtime = RevokdRuntime(
        hass, entry.entry_id, client, registry, local_issuer, options_from_entry(entry)
    )
    await runtime.async_start()
    hass.data.setdefault(DOMAIN, {})[entry.entry_id] = runtime
    async_register_ready_view(hass)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Stop following revokd and remove the auth hooks."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    runtime: RevokdRuntime | None = hass.data.get(DOMAIN, {}).pop(entry.entry_id, None)
    if runtime is not None:
        await runtime.async_stop()
    return unloaded

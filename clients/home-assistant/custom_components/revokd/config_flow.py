"""Config flow: where revokd is and the client key; options: what to enforce.

The key is validated against revokd itself (``/readyz``, then an
authenticated ``/v1/check``), so a typo shows in the form instead of as a
silent integration that enforces nothing.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.core import callback
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import RevokdAuthError, RevokdClient, RevokdError, RevokdUnreachable
from .const import (
    CONF_CLIENT_KEY,
    CONF_URL,
    DEFAULT_LLAT_OFFLINE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SUBJECT_DISABLE,
    DEFAULT_URL,
    DOMAIN,
    OPT_LLAT_OFFLINE,
    OPT_MAPPINGS,
    OPT_POLL_INTERVAL,
    OPT_SUBJECT_DISABLE,
    SUBJECT_DISABLE_DEACTIVATE,
    SUBJECT_DISABLE_TOKENS,
)
from .identity import parse_mappings

# A token id nobody issued: the check answers "active" and proves the key.
PROBE_JTI = "revokd-home-assistant-config-check"


async def validate_connection(client: RevokdClient) -> str | None:
    """None when revokd is ready and takes the key, else an error code."""
    try:
        if not await client.async_ready():
            return "not_ready"
        await client.async_check(PROBE_JTI)
    except RevokdAuthError:
        return "invalid_auth"
    except RevokdUnreachable:
        return "cannot_connect"
    except RevokdError:
        return "cannot_connect"
    return None


class RevokdConfigFlow(ConfigFlow, domain=DOMAIN):
    """Ask for the URL and the client key."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """The only step."""
        errors: dict[str, str] = {}
        if user_input is not None:
            url = user_input[CONF_URL].rstrip("/")
            await self.async_set_unique_id(url)
            self._abort_if_unique_id_configured()
            client = RevokdClient(
                async_get_clientsession(self.hass), url, user_input[CONF_CLIENT_KEY]
            )
            error = await validate_connection(client)
            if error is None:
                return self.async_create_entry(
                    title=url,
                    data={CONF_URL: url, CONF_CLIENT_KEY: user_input[CONF_CLIENT_KEY]},
                )
            errors["base"] = error
        schema = vol.Schema(
            {
                vol.Required(CONF_URL, default=DEFAULT_URL): str,
                vol.Required(CONF_CLIENT_KEY): str,
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Options live in their own flow."""
        return RevokdOptionsFlow(config_entry)


class RevokdOptionsFlow(OptionsFlow):
    """What a subject disable does, offline tokens, manual mappings."""

    def __init__(self, config_entry: ConfigEntry) -> None:
        # Kept under our own name: newer HA sets `config_entry` itself and
        # warns when a flow assigns it.
        self._entry = config_entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """The only step."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                parse_mappings(user_input.get(OPT_MAPPINGS, ""))
            except ValueError:
                errors[OPT_MAPPINGS] = "invalid_mappings"
            else:
                return self.async_create_entry(title="", data=user_input)
        opts = self._entry.options
        schema = vol.Schema(
            {
                vol.Required(
                    OPT_SUBJECT_DISABLE,
                    default=opts.get(OPT_SUBJECT_DISABLE, DEFAULT_SUBJECT_DISABLE),
                ): vol.In([SUBJECT_DISABLE_TOKENS, SUBJECT_DISABLE_DEACTIVATE]),
                vol.Required(
                    OPT_LLAT_OFFLINE,
                    default=opts.get(OPT_LLAT_OFFLINE, DEFAULT_LLAT_OFFLINE),
                ): bool,
                vol.Optional(OPT_MAPPINGS, default=opts.get(OPT_MAPPINGS, "")): str,
                vol.Required(
                    OPT_POLL_INTERVAL,
                    default=opts.get(OPT_POLL_INTERVAL, DEFAULT_POLL_INTERVAL),
                ): vol.All(vol.Coerce(int), vol.Range(min=5, max=3600)),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)

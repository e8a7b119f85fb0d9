"""Base entity: one device per revokd, updated by the runtime's signal."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity

from .const import DOMAIN, SIGNAL_STATE
from .runtime import RevokdRuntime


class RevokdEntity(Entity):
    """Pushes state when the runtime says something changed; never polls."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, runtime: RevokdRuntime, key: str) -> None:
        self.runtime = runtime
        self._attr_translation_key = key
        self._attr_unique_id = f"{runtime.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, runtime.entry_id)},
            name="revokd",
            entry_type=DeviceEntryType.SERVICE,
            configuration_url=runtime.client.url,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the runtime's state signal."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                SIGNAL_STATE.format(self.runtime.entry_id),
                self.async_write_ha_state,
            )
        )

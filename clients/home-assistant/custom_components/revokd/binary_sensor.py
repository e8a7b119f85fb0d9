"""Whether revokd is reachable (stream followed or polling answered)."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DOMAIN
from .entity import RevokdEntity


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """One connectivity sensor per revokd."""
    async_add_entities([ConnectedSensor(hass.data[DOMAIN][entry.entry_id], "connected")])


class ConnectedSensor(RevokdEntity, BinarySensorEntity):
    """On while revokd answers."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    @property
    def is_on(self) -> bool:
        """Connected to revokd."""
        return self.runtime.status.connected

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """How we follow revokd, and why not, if not."""
        return {"mode": self.runtime.status.mode, "last_error": self.runtime.status.last_error}

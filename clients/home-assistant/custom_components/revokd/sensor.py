"""How many revocations were applied, and when the last one was."""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
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
    """Two sensors per revokd."""
    runtime = hass.data[DOMAIN][entry.entry_id]
    async_add_entities(
        [EventsAppliedSensor(runtime, "events_applied"), LastEventSensor(runtime, "last_event")]
    )


class EventsAppliedSensor(RevokdEntity, SensorEntity):
    """Revocations received and applied since start."""

    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    @property
    def native_value(self) -> int:
        """Count since Home Assistant started."""
        return self.runtime.status.events_applied


class LastEventSensor(RevokdEntity, SensorEntity):
    """When the last revocation was applied; its kind as an attribute."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    @property
    def native_value(self) -> datetime | None:
        """Time of the last applied revocation."""
        return self.runtime.status.last_event_at

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """The last revocation's kind."""
        return {"kind": self.runtime.status.last_event_kind}

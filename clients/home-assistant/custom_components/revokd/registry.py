"""The local registry, persisted with Home Assistant's Store.

Why persist: after a restart we must still know which refresh token
belongs to which ``(iss, sub, sid)`` (HA does not keep ``sid``), which
tokens revokd has not yet acknowledged (to register them when it is back),
where in the event stream we were, and what was revoked — so that HA keeps
enforcing it even when it starts while revokd is unreachable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import STORAGE_KEY, STORAGE_VERSION
from .enforcement import RevocationState

SAVE_DELAY = 1.0


@dataclass
class RegistryEntry:
    """One HA refresh token and whom revokd knows it as."""

    user_id: str
    iss: str
    sub: str
    sid: str | None
    source: str
    long_lived: bool
    created_at: float
    expires_at: int
    registered: bool = False
    refused: str | None = None


class LocalRegistry:
    """Refresh-token id → identity, plus the revocation state and cursor."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)
        self.entries: dict[str, RegistryEntry] = {}
        self.state = RevocationState()
        self.last_event_id: str | None = None
        self.deactivated_users: set[str] = set()

    async def async_load(self) -> None:
        """Read what the last run left."""
        data = await self._store.async_load() or {}
        fields = set(RegistryEntry.__dataclass_fields__)
        self.entries = {
            token_id: RegistryEntry(**{k: v for k, v in raw.items() if k in fields})
            for token_id, raw in (data.get("entries") or {}).items()
        }
        self.state = RevocationState.from_dict(data.get("state"))
        self.last_event_id = data.get("last_event_id")
        self.deactivated_users = set(data.get("deactivated_users") or [])

    def _data(self) -> dict[str, Any]:
        self.state.purge_expired()
        return {
            "entries": {k: asdict(v) for k, v in self.entries.items()},
            "state": self.state.as_dict(),
            "last_event_id": self.last_event_id,
            "deactivated_users": sorted(self.deactivated_users),
        }

    def async_schedule_save(self) -> None:
        """Coalesce many changes (an event burst) into one write."""
        self._store.async_delay_save(self._data, SAVE_DELAY)

    async def async_save(self) -> None:
        """Write now (on unload)."""
        await self._store.async_save(self._data())

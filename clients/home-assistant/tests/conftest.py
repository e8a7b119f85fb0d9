"""Fixtures: a real revokd per test, the integration set up against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.revokd.const import CONF_CLIENT_KEY, CONF_URL, DOMAIN
from custom_components.revokd.runtime import RevokdRuntime
from homeassistant.core import HomeAssistant

from .revokd_server import (
    ADMIN_KEY,
    CLIENT_KEY,
    RevokdProcess,
    free_port,
    revokd_binary,
    start_revokd,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/revokd."""


@pytest.fixture(autouse=True)
def owner(hass_owner_user: Any) -> Any:
    """Someone else owns the instance: HA makes its first user the owner,
    and the owner is never deactivated, which would hide what tests check."""
    return hass_owner_user


@pytest.fixture(scope="session")
def revokd_bin() -> Path:
    """The binary under test, built once."""
    return revokd_binary()


@pytest.fixture
def revokd(revokd_bin: Path, tmp_path: Path, socket_enabled: None) -> Iterator[RevokdProcess]:
    """A fresh revokd with an empty embedded store."""
    process = start_revokd(revokd_bin, tmp_path)
    yield process
    process.stop()


class Admin:
    """The operator: revokd's admin and client API over real HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def call(
        self, method: str, path: str, *, key: str = ADMIN_KEY, **kwargs: Any
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.url + path,
                headers={"Authorization": f"Bearer {key}"},
                **kwargs,
            ) as resp,
        ):
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            return resp.status, body

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        status, answer = await self.call("POST", path, json=body)
        assert status == 200, (path, status, answer)
        return answer

    async def check(self, jti: str) -> dict[str, Any]:
        status, answer = await self.call("GET", "/v1/check", key=CLIENT_KEY, params={"jti": jti})
        assert status == 200, answer
        return answer


@pytest.fixture
def admin(revokd: RevokdProcess) -> Admin:
    """Admin calls against the test's revokd."""
    return Admin(revokd.url)


async def setup_integration(
    hass: HomeAssistant, url: str, options: dict[str, Any] | None = None
) -> tuple[MockConfigEntry, RevokdRuntime]:
    """Add and set up a config entry for ``url``."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_URL: url, CONF_CLIENT_KEY: CLIENT_KEY},
        options=options or {},
        unique_id=url,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry, hass.data[DOMAIN][entry.entry_id]


@pytest.fixture
async def integration(
    hass: HomeAssistant, revokd: RevokdProcess, local_auth: Any
) -> AsyncIterator[tuple[MockConfigEntry, RevokdRuntime]]:
    """The integration, set up against the test's revokd; unloaded after."""
    assert await setup_http(hass)
    entry, runtime = await setup_integration(hass, revokd.url)
    yield entry, runtime
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def dead_url(socket_enabled: None) -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


async def setup_http(hass: HomeAssistant) -> bool:
    """Home Assistant's auth, websocket and REST API components, as a real
    instance serves them."""
    from homeassistant.setup import async_setup_component  # noqa: PLC0415

    return (
        await async_setup_component(hass, "auth", {})
        and await async_setup_component(hass, "websocket_api", {})
        and await async_setup_component(hass, "api", {})
    )

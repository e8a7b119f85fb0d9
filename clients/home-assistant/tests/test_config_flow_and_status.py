"""Config flow against a real revokd; sensors, diagnostics, repair issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from custom_components.revokd.const import DOMAIN, ISSUE_UNREACHABLE
from custom_components.revokd.diagnostics import async_get_config_entry_diagnostics
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from .conftest import Admin, setup_integration
from .helpers import local_login, make_local_user, settle
from .revokd_server import ADMIN_KEY, CLIENT_KEY


async def test_config_flow_validates_url_and_key_against_revokd(
    hass: HomeAssistant, revokd: Any, dead_url: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] == FlowResultType.FORM
    # The URL offered is the revokd add-on's, as Home Assistant OS names a
    # locally installed add-on (README: "Install").
    url_field = next(key for key in result["data_schema"].schema if str(key) == "url")
    assert url_field.default() == "http://local-revokd:8080"
    flow_id = result["flow_id"]

    async def submit(url: str, key: str) -> dict[str, Any]:
        return await hass.config_entries.flow.async_configure(
            flow_id, {"url": url, "client_key": key}
        )

    assert (await submit(dead_url, CLIENT_KEY))["errors"] == {"base": "cannot_connect"}
    result = await submit(revokd.url, "not-the-key-0123456789")
    assert result["errors"] == {"base": "invalid_auth"}

    result = await submit(revokd.url + "/", CLIENT_KEY)
    assert result["type"] == FlowResultType.CREATE_ENTRY, result
    assert result["data"] == {"url": revokd.url, "client_key": CLIENT_KEY}
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_options_flow_refuses_bad_mappings_and_stores_good_ones(
    hass: HomeAssistant, revokd: Any
) -> None:
    entry, _ = await setup_integration(hass, revokd.url)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    options = {
        "subject_disable": "deactivate_user",
        "long_lived_tokens_offline": False,
        "mappings": "only-two fields",
        "poll_interval": 30,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["errors"] == {"mappings": "invalid_mappings"}
    options["mappings"] = "u1 https://kc.test/realms/home k-1"
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] == FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    runtime = hass.data[DOMAIN][entry.entry_id]  # reloaded with the new options
    assert runtime.options.mappings == {"u1": ("https://kc.test/realms/home", "k-1")}
    assert runtime.options.deactivate_users and not runtime.options.llat_offline
    await hass.config_entries.async_unload(entry.entry_id)


async def test_revokd_down_keeps_local_login_working_and_raises_a_repair_issue(
    hass: HomeAssistant, dead_url: str, local_auth: Any, hass_client_no_auth: Any
) -> None:
    from .conftest import setup_http  # noqa: PLC0415

    assert await setup_http(hass)
    entry, runtime = await setup_integration(hass, dead_url)
    await make_local_user(hass, local_auth, "ivan", "pw-ivan-1234")

    tokens = await local_login(await hass_client_no_auth(), "ivan", "pw-ivan-1234")
    await runtime.async_idle()

    assert "access_token" in tokens
    rt = hass.auth.async_get_refresh_token_by_token(tokens["refresh_token"])
    assert rt is not None and not runtime.registry.entries[rt.id].registered
    issue_id = f"{ISSUE_UNREACHABLE}_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert hass.states.get("binary_sensor.revokd_connected").state == "off"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_sensors_and_diagnostics_show_applied_events_and_mask_the_key(
    hass: HomeAssistant, integration: Any, admin: Admin
) -> None:
    entry, runtime = integration
    from .helpers import make_openid_user  # noqa: PLC0415

    user, cred = await make_openid_user(hass, "https://idp.test/", "jo", "s-jo")
    rt = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=cred
    )
    await runtime.async_idle()
    await admin.post("/v1/admin/tokens/revoke", {"jti": rt.id})
    await settle(hass, runtime, admin)
    await hass.async_block_till_done()

    assert hass.states.get("binary_sensor.revokd_connected").state == "on"
    assert hass.states.get("sensor.revokd_events_applied").state == "1"
    assert hass.states.get("sensor.revokd_last_event").attributes["kind"] == "token_revoked"
    diag = await async_get_config_entry_diagnostics(hass, entry)
    assert diag["entry"]["data"]["client_key"] == "**REDACTED**"
    assert CLIENT_KEY not in repr(diag) and ADMIN_KEY not in repr(diag)
    assert diag["runtime"]["status"]["events_applied"] == 1
    assert diag["runtime"]["registry"]["registered"] >= 0
    assert rt.id not in repr(diag)


async def test_revokd_coming_back_clears_the_issue_and_registers_pending_tokens(
    hass: HomeAssistant, revokd: Any, admin: Admin
) -> None:
    entry, runtime = await setup_integration(hass, revokd.url)
    await hass.async_add_executor_job(revokd.stop)
    from .helpers import make_openid_user  # noqa: PLC0415

    user, cred = await make_openid_user(hass, "https://idp.test/", "kim", "s-kim")
    rt = await hass.auth.async_create_refresh_token(
        user, "https://example.com/app", credential=cred
    )
    await runtime.async_idle()
    assert not runtime.registry.entries[rt.id].registered
    issue_id = f"{ISSUE_UNREACHABLE}_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    from .revokd_server import start_revokd  # noqa: PLC0415

    port = int(revokd.url.rsplit(":", 1)[1])
    revived = await hass.async_add_executor_job(
        start_revokd, revokd.process.args[0], revokd.log.parent, port
    )
    try:
        await runtime.async_poll_once()
        assert runtime.registry.entries[rt.id].registered
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        await Admin(revived.url).post(
            "/v1/admin/sessions/revoke", {"iss": "https://idp.test/", "sid": "s-kim"}
        )
        assert (await Admin(revived.url).check(rt.id))["active"] is False
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_add_executor_job(revived.stop)


def test_manifest_names_documentation_and_issue_tracker() -> None:
    """hassfest wants both for a custom integration, as https URLs, and the
    keys sorted after domain and name."""
    manifest = json.loads(
        (Path(__file__).parents[1] / "custom_components/revokd/manifest.json").read_text()
    )
    for key in ("documentation", "issue_tracker"):
        assert manifest[key].startswith("https://"), key
    assert list(manifest)[:2] == ["domain", "name"]
    assert list(manifest)[2:] == sorted(list(manifest)[2:])

"""The restart window on a real ``hass`` process, measured.

A real Home Assistant (this venv's, ``python -m homeassistant --skip-pip``)
with its default integrations, the frontend among them, and this
integration as a config entry, against the real revokd binary. A local user
signs in; Home Assistant stops; revokd revokes the user's refresh token;
Home Assistant starts again. From the moment HTTP answers, the test uses the
old access token on ``/api/`` and asks ``/api/revokd/ready`` over and over,
and asserts that nothing worked once the integration said it was ready. It
prints how long the revoked token worked after HTTP came up: that is Home
Assistant's start order (HTTP from the frontend stage on, custom
integrations last) plus the integration's setup.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import pytest

from custom_components.revokd.ready import READY_URL

from .revokd_server import ADMIN_KEY, CLIENT_KEY, RevokdProcess, free_port, start_revokd

COMPONENT = Path(__file__).resolve().parents[1] / "custom_components" / "revokd"
START_TIMEOUT = 180.0
ENTRY_ID = "01revokdrealhassentry0000"


class RealHass:
    """One Home Assistant configuration directory and its process."""

    def __init__(self, workdir: Path, revokd_url: str) -> None:
        self.cfg = workdir / "config"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "hass.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config(revokd_url)

    def _write_config(self, revokd_url: str) -> None:
        shutil.copytree(
            COMPONENT,
            self.cfg / "custom_components" / "revokd",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (self.cfg / "configuration.yaml").write_text(
            "homeassistant:\n  name: test\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n  currency: EUR\n  country: DE\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
        )
        storage = self.cfg / ".storage"
        storage.mkdir()
        onboarded = ["user", "core_config", "analytics", "integration"]
        (storage / "onboarding").write_text(
            json.dumps(
                {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": onboarded}}
            )
        )
        entry = {
            "entry_id": ENTRY_ID,
            "version": 1,
            "minor_version": 1,
            "domain": "revokd",
            "title": "revokd",
            "data": {"url": revokd_url, "client_key": CLIENT_KEY},
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "unique_id": revokd_url,
            "disabled_by": None,
        }
        (storage / "core.config_entries").write_text(
            json.dumps(
                {
                    "version": 1,
                    "minor_version": 1,
                    "key": "core.config_entries",
                    "data": {"entries": [entry]},
                }
            )
        )
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "homeassistant", "--script", "auth", "-c", str(self.cfg)]
            + ["add", "alice", "pw-alice-123"],
            check=True,
            capture_output=True,
            env=_env(),
        )

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "homeassistant", "-c", str(self.cfg), "--skip-pip"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """Status and JSON body (None when not JSON); raises OSError when
        nothing answers."""
        return _request(method, self.url + path, form=form, **kwargs)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                if self.request("GET", READY_URL)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"Home Assistant did not get ready: {self.log.read_text()[-3000:]}")

    def login(self) -> dict[str, Any]:
        """A local sign-in through the login flow and the token endpoint."""
        client_id = self.url + "/"
        _, flow = self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": client_id,
            },
        )
        _, result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json_body={"client_id": client_id, "username": "alice", "password": "pw-alice-123"},
        )
        status, tokens = self.request(
            "POST",
            "/auth/token",
            form={
                "client_id": client_id,
                "grant_type": "authorization_code",
                "code": result["result"],
            },
        )
        assert status == 200, tokens
        return tokens


def _env() -> dict[str, str]:
    # revokd refuses unknown REVOKD_* variables; Home Assistant ignores them.
    return {k: v for k, v in os.environ.items() if not k.startswith("REVOKD_")}


def _request(
    method: str,
    url: str,
    *,
    form: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
    bearer: str | None = None,
    timeout: float = 5,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


@pytest.fixture
def real_revokd(revokd_bin: Path, tmp_path: Path, socket_enabled: None) -> Iterator[RevokdProcess]:
    (tmp_path / "revokd").mkdir()
    process = start_revokd(revokd_bin, tmp_path / "revokd")
    yield process
    process.stop()


@pytest.fixture
def real_hass(tmp_path: Path, real_revokd: RevokdProcess) -> Iterator[RealHass]:
    if not _has_frontend():
        pytest.skip("home-assistant-frontend is not installed (requirements_test*.txt have it)")
    hass = RealHass(tmp_path, real_revokd.url)
    yield hass
    hass.stop()


def _has_frontend() -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec("hass_frontend") is not None


def test_a_token_revoked_while_down_is_refused_once_the_integration_is_ready(
    real_hass: RealHass, real_revokd: RevokdProcess
) -> None:
    real_hass.start()
    real_hass.wait_ready()
    tokens = real_hass.login()
    access = tokens["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(access.split(".")[1] + "=="))
    refresh_token_id = claims["iss"]  # how to find a refresh-token id
    assert real_hass.request("GET", "/api/", bearer=access)[0] == 200
    # Registered with revokd (the integration's diagnostics count it).
    deadline = time.monotonic() + 30
    while True:
        _, diagnostics = real_hass.request(
            "GET", f"/api/diagnostics/config_entry/{ENTRY_ID}", bearer=access
        )
        if diagnostics["data"]["runtime"]["registry"]["registered"] >= 1:
            break
        assert time.monotonic() < deadline, diagnostics
        time.sleep(0.1)
    real_hass.stop()
    registry = json.loads((real_hass.cfg / ".storage" / "revokd.registry").read_text())
    assert registry["data"]["entries"][refresh_token_id]["registered"]

    status, _ = _request(
        "POST",
        real_revokd.url + "/v1/admin/tokens/revoke",
        json_body={"jti": refresh_token_id, "reason": "lost phone"},
        bearer=ADMIN_KEY,
    )
    assert status == 200

    real_hass.start()
    http_up = ready_at = last_ok = None
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + START_TIMEOUT
    while ready_at is None or time.monotonic() < ready_at + 0.5:
        assert time.monotonic() < deadline, real_hass.log.read_text()[-3000:]
        sent = time.monotonic()
        try:
            status = real_hass.request("GET", "/api/", bearer=access, timeout=2)[0]
            ready = real_hass.request("GET", READY_URL, timeout=2)[0] == 200
        except OSError:
            time.sleep(0.002)
            continue
        http_up = http_up if http_up is not None else sent
        seen.append((sent, status))
        if status == 200:
            last_ok = sent
        if ready and ready_at is None:
            ready_at = time.monotonic()
        time.sleep(0.002)

    assert http_up is not None and ready_at is not None
    # Once the integration is set up, the revoked token never worked again,
    # and the refresh grant is refused too.
    assert all(status == 401 for sent, status in seen if sent >= ready_at), seen
    status, _ = real_hass.request(
        "POST",
        "/auth/token",
        form={
            "client_id": real_hass.url + "/",
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert status == 400
    worked = "never" if last_ok is None else f"{1000 * (last_ok - http_up):.0f} ms"
    print(  # noqa: T201 (the measurement, shown with pytest -s)
        f"\nreal hass: the revoked token worked until {worked} after HTTP came up;"
        f" the integration was ready {1000 * (ready_at - http_up):.0f} ms after it"
    )

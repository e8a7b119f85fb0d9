"""Start a real revokd binary for a test.

The binary is ``$REVOKD_BIN`` when set (e.g. a build that already has the
event stream), else the repository's own debug build, built once per test
session with cargo. Each test gets its own process on a free loopback port
with the embedded store in a temporary directory, so tests never share
revocations.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import socket
import subprocess
import time
import urllib.error
import urllib.request

REPO_ROOT = Path(__file__).resolve().parents[3]
CLIENT_KEY = "test-client-key-0123456789"
ADMIN_KEY = "test-admin-key-0123456789"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def revokd_binary() -> Path:
    """``$REVOKD_BIN``, or build the worktree's binary."""
    if env := os.environ.get("REVOKD_BIN"):
        return Path(env)
    subprocess.run(
        ["cargo", "build", "--quiet", "--locked", "--bin", "revokd"],
        cwd=REPO_ROOT,
        check=True,
    )
    return REPO_ROOT / "target" / "debug" / "revokd"


@dataclass
class RevokdProcess:
    """A running revokd and how to reach it."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Terminate (and reap) the process."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_revokd(
    binary: Path,
    workdir: Path,
    port: int | None = None,
    config: dict[str, str] | None = None,
) -> RevokdProcess:
    """Start revokd and wait for ``/readyz``.

    ``port``: a chosen port (a restart on the same one, or one a provider
    was told about); ``config``: more ``REVOKD_*`` settings.
    """
    port = port or free_port()
    # revokd reads every REVOKD_* variable as configuration and refuses
    # unknown ones, REVOKD_BIN included: pass only ours.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REVOKD_")},
        "REVOKD_LISTEN": f"127.0.0.1:{port}",
        "REVOKD_STORE": "embedded",
        "REVOKD_EMBEDDED__PATH": str(workdir / "data"),
        "REVOKD_LOG__FILTER": "warn",
        "REVOKD_KEYS": (
            f'[{{name="admin", role="admin", key="{ADMIN_KEY}"}}, '
            f'{{name="ha", role="client", key="{CLIENT_KEY}"}}]'
        ),
        **(config or {}),
    }
    log = workdir / "revokd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [str(binary)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"revokd exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return RevokdProcess(url, process, log)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"revokd did not become ready: {log.read_text()}")

"""Providers that send no back-channel logout reach Home Assistant too.

A Shared Signals transmitter pushes a RISC ``account-disabled`` Security
Event Token (RFC 8935) and Okta's Universal Logout calls Global Token
Revocation, both to the real revokd binary, signed with the provider's key
(its JWKS served over HTTP by ``python3 -m http.server``); revokd verifies
them and the integration removes that person's existing Home Assistant
tokens, and nobody else's. Likewise an identity provider's SCIM
provisioning (RFC 7644) deactivating a user the way Entra ID does.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
import subprocess
import sys
import time
from typing import Any
import urllib.request
import uuid

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import jwt
import pytest

from homeassistant.core import HomeAssistant

from .conftest import Admin, setup_http, setup_integration
from .helpers import make_openid_user, settle
from .openid_login import install_openid_provider
from .revokd_server import RevokdProcess, free_port, start_revokd

PUSH_TOKEN = "ssf-push-token-of-the-test-transmitter"
SET_AUD = "https://revokd.test/ssf/push/okta"
GTR_AUD = "https://revokd.test/global-token-revocation/okta"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
SCIM_TOKEN = "scim-token-of-the-test-provisioning-client"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Provider:
    """The provider's issuer (where its JWKS is served) and signing key."""

    issuer: str
    key: bytes
    server: subprocess.Popen[bytes]

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1", "typ": typ})

    def account_disabled(self, sub: str) -> str:
        """A RISC account-disabled SET for ``sub`` (RFC 8417, SSF 1.0)."""
        return self.sign(
            {
                "iss": self.issuer,
                "aud": SET_AUD,
                "iat": int(time.time()),
                "jti": str(uuid.uuid4()),
                "sub_id": {"format": "iss_sub", "iss": self.issuer, "sub": sub},
                "events": {ACCOUNT_DISABLED: {}},
            },
            "secevent+jwt",
        )

    def universal_logout_caller(self) -> str:
        """The provider's bearer token for a Global Token Revocation call."""
        now = int(time.time())
        return self.sign(
            {
                "iss": self.issuer,
                "aud": GTR_AUD,
                "iat": now,
                "exp": now + 120,
                "jti": str(uuid.uuid4()),
            },
            "JWT",
        )


def start_provider(workdir: Path) -> Provider:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    site = workdir / "provider"
    site.mkdir()
    (site / "jwks").write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "kid": "k1",
                        "use": "sig",
                        "alg": "RS256",
                        "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                        "e": b64(numbers.e.to_bytes(3, "big")),
                    }
                ]
            }
        )
    )
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(issuer + "/jwks", timeout=1):  # noqa: S310
                break
        except OSError:
            assert time.monotonic() < deadline, "the provider's JWKS is not served"
            time.sleep(0.05)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Provider(issuer, pem, server)


@dataclass
class Stack:
    provider: Provider
    revokd: RevokdProcess
    admin: Admin


@pytest.fixture
async def stack(
    hass: HomeAssistant, revokd_bin: Path, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[Stack]:
    loop = asyncio.get_running_loop()
    provider = await loop.run_in_executor(None, start_provider, tmp_path)
    issuer = provider.issuer
    digest = hashlib.sha256(PUSH_TOKEN.encode()).hexdigest()
    config = {
        "REVOKD_PROVIDERS": (
            f'[{{name="okta", issuer="{issuer}", client_ids=["home-assistant"], '
            f'jwks_uri="{issuer}/jwks"}}]'
        ),
        "REVOKD_STREAMS": (
            f'[{{name="okta", provider="okta", audience=["{SET_AUD}"], '
            f'push_token_sha256="{digest}"}}]'
        ),
        "REVOKD_GLOBAL_TOKEN_REVOCATION": f'[{{provider="okta", audience=["{GTR_AUD}"]}}]',
        "REVOKD_SCIM": (
            f'[{{name="entra", issuer="{issuer}", token="{SCIM_TOKEN}", '
            f'subject_attribute="externalId"}}]'
        ),
    }
    try:
        revokd = await loop.run_in_executor(None, start_revokd, revokd_bin, tmp_path, None, config)
    except BaseException:
        provider.server.terminate()
        provider.server.wait()
        raise
    admin = Admin(revokd.url)
    try:
        for _ in range(200):
            _, ready = await admin.call("GET", "/readyz")
            if ready["checks"]["provider:okta"]["status"] == "up":
                break
            await asyncio.sleep(0.05)
        assert await setup_http(hass)
        install_openid_provider(hass)
        yield Stack(provider, revokd, admin)
    finally:
        await loop.run_in_executor(None, revokd.stop)
        provider.server.terminate()
        await loop.run_in_executor(None, provider.server.wait)


async def post(url: str, headers: dict[str, str], data: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, headers=headers, data=data) as resp,
    ):
        return resp.status


async def scim(revokd_url: str, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A request of the SCIM client ``entra`` to revokd."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{revokd_url}/scim/v2{path}",
            headers={
                "Authorization": f"Bearer {SCIM_TOKEN}",
                "Content-Type": "application/scim+json",
            },
            data=json.dumps(body),
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_a_risc_disable_and_a_universal_logout_remove_that_persons_tokens(
    hass: HomeAssistant, stack: Stack, hass_client: Any
) -> None:
    entry, runtime = await setup_integration(hass, stack.revokd.url)
    issuer = stack.provider.issuer
    tokens = {}
    for name in ("gina", "hank", "ivy"):
        user, credential = await make_openid_user(hass, issuer, name, f"sid-{name}")
        tokens[name] = await hass.auth.async_create_refresh_token(
            user, "https://example.com/app", credential=credential
        )
    await runtime.async_idle()
    for token in tokens.values():
        assert runtime.registry.entries[token.id].registered
    gina_api = await hass_client(hass.auth.async_create_access_token(tokens["gina"]))
    assert (await gina_api.get("/api/")).status == 200

    # The transmitter pushes account-disabled for gina.
    status = await post(
        f"{stack.revokd.url}/ssf/push/okta",
        {"Authorization": f"Bearer {PUSH_TOKEN}", "Content-Type": "application/secevent+jwt"},
        stack.provider.account_disabled("gina"),
    )
    assert status == 202
    assert (await stack.admin.check(tokens["gina"].id))["reason"] == "subject_disabled"
    await settle(hass, runtime, stack.admin)
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(tokens["gina"].id) is None
    assert (await gina_api.get("/api/")).status == 401

    # Universal Logout for hank.
    status = await post(
        f"{stack.revokd.url}/global-token-revocation/okta",
        {
            "Authorization": f"Bearer {stack.provider.universal_logout_caller()}",
            "Content-Type": "application/json",
        },
        json.dumps({"sub_id": {"format": "iss_sub", "iss": issuer, "sub": "hank"}}),
    )
    assert status == 204
    assert (await stack.admin.check(tokens["hank"].id))["reason"] == "subject_revoked_before"
    await settle(hass, runtime, stack.admin)
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(tokens["hank"].id) is None

    # ivy heard of neither.
    assert hass.auth.async_get_refresh_token(tokens["ivy"].id) is not None
    assert (await stack.admin.check(tokens["ivy"].id))["active"] is True
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_scim_deactivation_removes_that_persons_tokens(
    hass: HomeAssistant, stack: Stack, hass_client: Any
) -> None:
    entry, runtime = await setup_integration(hass, stack.revokd.url)
    issuer = stack.provider.issuer
    tokens = {}
    for name in ("jack", "kate"):
        user, credential = await make_openid_user(hass, issuer, name, f"sid-{name}")
        tokens[name] = await hass.auth.async_create_refresh_token(
            user, "https://example.com/app", credential=credential
        )
    await runtime.async_idle()
    for token in tokens.values():
        assert runtime.registry.entries[token.id].registered
    jack_api = await hass_client(hass.auth.async_create_access_token(tokens["jack"]))
    assert (await jack_api.get("/api/")).status == 200

    # The provider provisions both (externalId is the sub), active.
    ids = {}
    for name in ("jack", "kate"):
        status, body = await scim(
            stack.revokd.url,
            "POST",
            "/Users",
            {
                "schemas": [SCIM_USER],
                "userName": f"{name}@example.com",
                "externalId": name,
                "active": True,
            },
        )
        assert status == 201, body
        ids[name] = body["id"]
    assert (await stack.admin.check(tokens["jack"].id))["active"] is True

    # Entra ID deactivates jack: a PATCH with the string "False".
    status, body = await scim(
        stack.revokd.url,
        "PATCH",
        f"/Users/{ids['jack']}",
        {
            "schemas": [SCIM_PATCH],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert status == 200, body
    assert body["active"] is False
    assert (await stack.admin.check(tokens["jack"].id))["reason"] == "subject_disabled"
    await settle(hass, runtime, stack.admin)
    await hass.async_block_till_done()
    assert hass.auth.async_get_refresh_token(tokens["jack"].id) is None
    assert (await jack_api.get("/api/")).status == 401

    # kate, provisioned beside him, keeps hers.
    assert hass.auth.async_get_refresh_token(tokens["kate"].id) is not None
    assert (await stack.admin.check(tokens["kate"].id))["active"] is True
    await hass.config_entries.async_unload(entry.entry_id)

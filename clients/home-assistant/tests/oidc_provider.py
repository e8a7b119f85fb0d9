"""The repository's test OpenID Provider, driven from Python.

``tests/idp/server.mjs`` (at the repository root) runs panva's certified
``oidc-provider`` with Back-Channel Logout and RP-Initiated Logout, and a
test-only interaction route that signs a known account in without a
browser. The Rust tests drive it from ``tests/common/certified_idp.rs``;
this is the same protocol for the Home Assistant tests: a real
authorization-code login (PKCE, state, nonce) that yields a real ID token
with the provider's ``sid``, and a real logout that makes the provider
POST its own signed logout token to revokd.

Needs Node.js and ``npm ci --prefix tests/idp`` (the README's test command
runs it first).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
import re
import secrets
import subprocess
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp

from .revokd_server import REPO_ROOT

IDP_DIR = REPO_ROOT / "tests" / "idp"
CLIENT_ID = "home-assistant"
CLIENT_SECRET = "test-client-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1/auth/openid/callback"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1/logged-out"
MAX_REDIRECTS = 10


def jwt_claims(jwt: str) -> dict[str, Any]:
    """The payload of a compact JWS, decoded and **not** verified."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Login:
    """One signed-in provider session, with its own cookies."""

    account: str
    id_token: str
    claims: dict[str, Any]
    session: aiohttp.ClientSession

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def sid(self) -> str:
        return str(self.claims["sid"])


class OidcProvider:
    """A running ``tests/idp/server.mjs``; stop it with :meth:`stop`."""

    def __init__(self, backchannel_logout_uri: str, log: Path) -> None:
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                f"{IDP_DIR}/node_modules is missing: run `npm ci --prefix tests/idp` "
                "at the repository root first"
            )
        self.log = log
        with log.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603
                [  # noqa: S607
                    "node",
                    str(IDP_DIR / "server.mjs"),
                    "--client-id",
                    CLIENT_ID,
                    "--client-secret",
                    CLIENT_SECRET,
                    "--redirect-uri",
                    REDIRECT_URI,
                    "--post-logout-redirect-uri",
                    POST_LOGOUT_REDIRECT_URI,
                    "--backchannel-logout-uri",
                    backchannel_logout_uri,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert self.process.stdout is not None
        # One line, then nothing: {"ready":true,"issuer":...,"port":...}.
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the test IdP did not start: {log.read_text()}")
        ready = json.loads(line)
        assert ready.get("ready") is True, ready
        self.issuer: str = ready["issuer"]
        self._sessions: list[aiohttp.ClientSession] = []

    async def close_sessions(self) -> None:
        """Close the HTTP sessions (cookie jars) of every :meth:`login`."""
        for session in self._sessions:
            await session.close()
        self._sessions.clear()

    def stop(self) -> None:
        """End the provider (it also exits when its stdin closes)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def backchannel_results(self) -> list[str]:
        """The provider's own report of each logout token it delivered."""
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if "backchannel." in line
        ]

    async def login(self, account: str) -> Login:
        """Sign ``account`` in: authorization code flow with PKCE.

        Each call has its own cookie jar, so its own provider session and
        ``sid``; :meth:`close_sessions` closes them all.
        """
        # unsafe=True: keep cookies set by an IP-address host (127.0.0.1).
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self._sessions.append(session)
        verifier = secrets.token_urlsafe(32)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        url = f"{self.issuer}/auth?" + urlencode(
            {
                "client_id": CLIENT_ID,
                "response_type": "code",
                "scope": "openid email profile",
                "redirect_uri": REDIRECT_URI,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        callback = None
        for _ in range(MAX_REDIRECTS):
            target = await _redirect(session, "GET", url)
            if target.split("?")[0] == REDIRECT_URI:
                callback = target
                break
            path = urlsplit(target).path
            if re.fullmatch(r"/interaction/[^/]+", path):
                target = f"{self.issuer}{path}/login?" + urlencode({"account": account})
            url = target
        assert callback is not None, f"no redirect to {REDIRECT_URI}"
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        assert "error" not in params, params
        assert params["state"] == state, params
        assert params["iss"] == self.issuer, params

        async with session.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=aiohttp.BasicAuth(CLIENT_ID, CLIENT_SECRET),
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        id_token = body["id_token"]
        claims = jwt_claims(id_token)
        assert claims["iss"] == self.issuer, claims
        assert claims["aud"] == CLIENT_ID, claims
        assert claims["nonce"] == nonce, claims
        assert claims.get("sid"), f"the provider's ID token has no sid: {claims}"
        return Login(account, id_token, claims, session)

    async def logout(self, login: Login) -> None:
        """RP-Initiated Logout of ``login``'s session, confirmed.

        The provider POSTs its logout token to the back-channel URI before
        it answers the confirmation; whether revokd took it is for the
        caller to check, not this method.
        """
        state = secrets.token_urlsafe(16)
        url = f"{self.issuer}/session/end?" + urlencode(
            {
                "id_token_hint": login.id_token,
                "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
                "state": state,
            }
        )
        async with login.session.get(url) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        match = re.search(r'name="xsrf" value="([^"]+)"', page)
        assert match, f"no logout confirmation form (session already over?): {page}"
        target = await _redirect(
            login.session,
            "POST",
            f"{self.issuer}/session/end/confirm",
            data={"xsrf": match.group(1), "logout": "yes"},
        )
        assert target.split("?")[0] == POST_LOGOUT_REDIRECT_URI, target
        assert parse_qs(urlsplit(target).query)["state"] == [state], target


async def _redirect(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> str:
    """The absolute ``Location`` of a response that must be a redirect."""
    async with session.request(method, url, allow_redirects=False, **kwargs) as resp:
        location = resp.headers.get("Location")
        if resp.status not in (302, 303) or not location:
            body = await resp.text()
            raise AssertionError(f"{method} {url}: expected a redirect, got {resp.status}: {body}")
        return urljoin(url, location)

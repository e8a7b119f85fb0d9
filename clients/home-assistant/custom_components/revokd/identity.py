"""Who a Home Assistant refresh token belongs to, in revokd's terms.

revokd names a person ``(iss, sub)`` and a login ``(iss, sid)``. Home
Assistant only knows users and credentials, so this module reads the
credential data that the OIDC login integrations keep (read from their
sources, not guessed):

* cavefire/hass-openid (provider type ``openid``) stores the raw ID token
  under ``openid_id_token`` (plus ``subject`` = the userinfo ``sub``). The
  token was verified at login; its claims give ``iss``, ``sub`` and ``sid``.
* christiaangoossens/hass-oidc-auth (provider type ``auth_oidc``) stores
  only ``sub`` = ``sha256(f"{issuer}.{sub}")`` (hex). Neither the raw
  ``sub`` nor ``sid`` is kept, so such a user cannot be registered under
  the provider's subject: we register it as a local subject and match
  revokd's subject events by recomputing the same hash.
* Everyone else (local users, other providers) is a subject of the local
  issuer ``homeassistant-local:<instance id>`` with ``sub`` = the HA user
  id, unless the options map the user to an ``(iss, sub)`` by hand.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
import hashlib
import json
from typing import Any

from .const import PROVIDER_AUTH_OIDC, PROVIDER_HASS_OPENID

OPENID_ID_TOKEN = "openid_id_token"
OPENID_SUBJECT = "subject"


@dataclass(frozen=True)
class Identity:
    """A token's owner in revokd's vocabulary; ``sid`` only for a login."""

    iss: str
    sub: str
    sid: str | None
    source: str  # "manual" | "openid" | "local"


def oidc_auth_subject_hash(iss: str, sub: str) -> str:
    """The ``sub`` hass-oidc-auth stores for provider subject ``(iss, sub)``."""
    return hashlib.sha256(f"{iss}.{sub}".encode()).hexdigest()


@lru_cache(maxsize=512)
def _identity_claims(jwt: str) -> tuple[str | None, str | None, str | None]:
    """(iss, sub, sid) of a stored ID token, cached: the backstop asks on
    every request and the same few tokens come back again and again."""
    claims = unverified_claims(jwt)
    values = (claims.get("iss"), claims.get("sub"), claims.get("sid"))
    iss, sub, sid = (v if isinstance(v, str) and v else None for v in values)
    return iss, sub, sid


def unverified_claims(jwt: str) -> dict[str, Any]:
    """Claims of a JWT that was verified when it was stored; {} if unreadable."""
    parts = jwt.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def openid_identity(data: Mapping[str, Any], *, with_sid: bool) -> Identity | None:
    """Identity from a hass-openid credential's data, if it holds an ID token."""
    token = data.get(OPENID_ID_TOKEN)
    if not isinstance(token, str):
        return None
    iss, sub, sid = _identity_claims(token)
    if iss is None or sub is None:
        return None
    return Identity(iss, sub, sid if with_sid else None, "openid")


def resolve_identity(
    *,
    user_id: str,
    credential: Any | None,
    user_credentials: Iterable[Any],
    local_issuer: str,
    mappings: Mapping[str, tuple[str, str]],
    session_for_credentialless: bool = False,
) -> Identity:
    """Pick the identity to register a new refresh token under.

    A manual mapping wins (the operator said so). Then the credential the
    login used. A token made without one (a long-lived access token, made
    from a signed-in session) gets the user's OIDC subject, and the ``sid``
    of that credential's latest login only when
    ``session_for_credentialless`` (long-lived tokens not "offline").
    """
    if user_id in mappings:
        iss, sub = mappings[user_id]
        return Identity(iss, sub, None, "manual")
    if credential is not None and credential.auth_provider_type == PROVIDER_HASS_OPENID:
        found = openid_identity(credential.data, with_sid=True)
        if found is not None:
            return found
    if credential is None:
        for cred in user_credentials:
            if cred.auth_provider_type == PROVIDER_HASS_OPENID:
                found = openid_identity(cred.data, with_sid=session_for_credentialless)
                if found is not None:
                    return found
    return Identity(local_issuer, user_id, None, "local")


def oidc_auth_hashes(user_credentials: Iterable[Any]) -> set[str]:
    """hass-oidc-auth subject hashes this user signs in with."""
    return {
        str(cred.data["sub"])
        for cred in user_credentials
        if cred.auth_provider_type == PROVIDER_AUTH_OIDC and cred.data.get("sub")
    }


def openid_subjects(user_credentials: Iterable[Any]) -> set[tuple[str, str]]:
    """``(iss, sub)`` pairs of this user's hass-openid credentials."""
    subjects: set[tuple[str, str]] = set()
    for cred in user_credentials:
        if cred.auth_provider_type == PROVIDER_HASS_OPENID:
            found = openid_identity(cred.data, with_sid=False)
            if found is not None:
                subjects.add((found.iss, found.sub))
    return subjects


def parse_mappings(text: str) -> dict[str, tuple[str, str]]:
    """Parse the options' mapping lines: ``<HA user id> <iss> <sub>``.

    Raises ValueError naming the first bad line.
    """
    mappings: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"line {number}: expected '<user id> <iss> <sub>'")
        mappings[parts[0]] = (parts[1], parts[2])
    return mappings

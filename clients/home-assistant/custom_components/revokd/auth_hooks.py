"""Hooks into Home Assistant's AuthManager.

Home Assistant has no event for "a refresh token was created" and no
extension point in token validation, so the integration wraps four
methods on the ``hass.auth`` instance (the HTTP view, the websocket API
and the token endpoint all look them up on that instance at call time):

* ``async_create_refresh_token`` — to register each new login with revokd;
* ``async_remove_refresh_token`` — to tell revokd about a local logout;
* ``async_validate_access_token`` / ``async_validate_refresh_token`` — the
  backstop: refuse anything the in-memory revocation state says is dead,
  without a network call.

Other integrations (hass-openid) wrap ``async_remove_refresh_token`` too,
so each wrapper calls whatever was there before it, and on unload a
wrapper that is no longer on top is switched off instead of unwound.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any, Protocol

from homeassistant.auth import InvalidAuthError
from homeassistant.auth.models import RefreshToken
from homeassistant.core import HomeAssistant

_LOGGER = logging.getLogger(__name__)


class AuthListener(Protocol):
    """What the hooks report to (the runtime)."""

    def on_refresh_token_created(self, refresh_token: RefreshToken) -> None:
        """A refresh token was just created."""

    def on_refresh_token_removed(self, refresh_token: RefreshToken) -> None:
        """A refresh token was just removed (by anyone)."""

    def is_revoked(self, refresh_token: RefreshToken) -> bool:
        """Backstop: whether known revocations kill this token."""


class AuthHooks:
    """Install and remove the wrappers."""

    def __init__(self, hass: HomeAssistant, listener: AuthListener) -> None:
        self._hass = hass
        self._listener = listener
        self._active = False
        self._originals: dict[str, Callable[..., Any]] = {}
        self._wrappers: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        """Wrap the AuthManager instance's methods."""
        auth = self._hass.auth
        hooks = self
        listener = self._listener
        orig_create = auth.async_create_refresh_token
        orig_remove = auth.async_remove_refresh_token
        orig_access = auth.async_validate_access_token
        orig_refresh = auth.async_validate_refresh_token

        async def async_create_refresh_token(*args: Any, **kwargs: Any) -> RefreshToken:
            refresh_token = await orig_create(*args, **kwargs)
            if hooks._active:
                listener.on_refresh_token_created(refresh_token)
            return refresh_token

        def async_remove_refresh_token(refresh_token: RefreshToken) -> None:
            orig_remove(refresh_token)
            if hooks._active:
                listener.on_refresh_token_removed(refresh_token)

        def async_validate_access_token(token: str) -> RefreshToken | None:
            refresh_token = orig_access(token)
            if refresh_token is not None and hooks._active and listener.is_revoked(refresh_token):
                return None
            return refresh_token

        def async_validate_refresh_token(
            refresh_token: RefreshToken, remote_ip: str | None = None
        ) -> None:
            orig_refresh(refresh_token, remote_ip)
            if hooks._active and listener.is_revoked(refresh_token):
                raise InvalidAuthError("Refresh token revoked by revokd")

        self._originals = {
            "async_create_refresh_token": orig_create,
            "async_remove_refresh_token": orig_remove,
            "async_validate_access_token": orig_access,
            "async_validate_refresh_token": orig_refresh,
        }
        self._wrappers = {
            "async_create_refresh_token": async_create_refresh_token,
            "async_remove_refresh_token": async_remove_refresh_token,
            "async_validate_access_token": async_validate_access_token,
            "async_validate_refresh_token": async_validate_refresh_token,
        }
        for name, wrapper in self._wrappers.items():
            setattr(auth, name, wrapper)
        self._active = True

    def uninstall(self) -> None:
        """Stop enforcing; restore the originals where we are still on top."""
        self._active = False
        auth = self._hass.auth
        for name, wrapper in self._wrappers.items():
            if getattr(auth, name) is wrapper:
                setattr(auth, name, self._originals[name])
            else:
                _LOGGER.debug("%s was wrapped again after us; leaving it inert", name)
        self._wrappers = {}
        self._originals = {}

"""The integration's running part: register logins, follow revokd, enforce.

Life cycle: :meth:`RevokdRuntime.async_start` runs with the local registry
loaded and, in this order: installs the auth hooks (from then on every
known revocation is enforced, revokd reachable or not), removes the tokens
that what it knows already kills, catches up with revokd's live set (bounded
by ``STARTUP_CATCH_UP_TIMEOUT``), and only then returns from the config
entry's setup. Home Assistant serves HTTP before custom integrations are
set up, so tokens revoked while it was down, and logins made before this
point, work until then: everything before "returns" shrinks that window.
Then one background task registers tokens revokd does not know yet and
follows the event stream, reconnecting with backoff. If this revokd has no
event stream (404: an older version, or a proxy that hides it) the task
falls back to reading the live set every ``poll_interval`` seconds (or,
without that either, to checking each registered token id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
import logging
import random
import time
from typing import Any

from homeassistant.auth.models import (
    TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
    TOKEN_TYPE_SYSTEM,
    RefreshToken,
    User,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .api import (
    RegistrationRefused,
    RevokdAuthError,
    RevokdBadRequest,
    RevokdClient,
    RevokdError,
    RevokdNotSupported,
    RevokdUnreachable,
)
from .auth_hooks import AuthHooks
from .const import DOMAIN, ISSUE_UNREACHABLE, SIGNAL_STATE
from .enforcement import (
    PEOPLE_KINDS,
    SESSION_REVOKED,
    SUBJECT_DISABLED,
    TOKEN_REVOKED,
    TOKENS_REVOKED,
    Plan,
    RevocationState,
    TokenView,
    UserView,
    plan_for,
    token_ids_of,
)
from .identity import (
    oidc_auth_hashes,
    openid_subjects,
    resolve_identity,
)
from .registry import LocalRegistry, RegistryEntry

_LOGGER = logging.getLogger(__name__)

# revokd refuses an `expires_at` beyond lifetimes.max_token_exp (400 days by
# default); HA refresh tokens slide 90 days ahead on use and long-lived ones
# never expire, so registrations are capped and renewed by maintenance.
MAX_REGISTRATION = 390 * 86400
RENEW_WITHIN = 30 * 86400
MAINTENANCE_INTERVAL = 3600
BACKOFF_MAX = 60.0
STREAM_RETRY_POLLS = 10
# How long the config entry's setup waits for the first catch-up with
# revokd. Home Assistant's start waits for it too, so it is short; a revokd
# that refuses connections fails at once, one that does not answer costs
# this long, and the background follower then keeps trying.
STARTUP_CATCH_UP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Options:
    """The entry's options, typed."""

    deactivate_users: bool
    llat_offline: bool
    mappings: dict[str, tuple[str, str]]
    poll_interval: float


@dataclass
class Status:
    """What the sensors and diagnostics show."""

    connected: bool = False
    mode: str = "starting"  # "stream" | "poll" | "disconnected"
    events_applied: int = 0
    last_event_at: datetime | None = None
    last_event_kind: str | None = None
    last_error: str | None = None
    tokens_removed: int = 0


class RevokdRuntime:
    """Everything one config entry runs."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        client: RevokdClient,
        registry: LocalRegistry,
        local_issuer: str,
        options: Options,
    ) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.client = client
        self.registry = registry
        self.local_issuer = local_issuer
        self.options = options
        self.status = Status()
        self._hooks = AuthHooks(hass, self)
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._need_resync = True
        self._wake = asyncio.Event()
        # Ids being removed because revokd said so: their removal is not a
        # local logout, so revokd's session registration is left alone.
        self._removing: set[str] = set()
        self._unsub_maintenance: Callable[[], None] | None = None
        # Whether the catch-up in the setup read revokd's live set.
        self.caught_up_at_start = False

    # ---- life cycle -------------------------------------------------

    async def async_start(self) -> None:
        """Enforce what we know, catch up with revokd, then follow it.

        Home Assistant already serves HTTP (logins, the refresh grant,
        websockets) while this runs: each step comes as early as it can.
        """
        self._hooks.install()
        self._enforce_known()
        self._adopt_existing_tokens()
        await self._async_catch_up()
        self._unsub_maintenance = async_track_time_interval(
            self.hass, self._async_maintain, timedelta(seconds=MAINTENANCE_INTERVAL)
        )
        self._task = self.hass.async_create_background_task(
            self._async_follow(), f"{DOMAIN} follow {self.client.url}"
        )

    async def async_stop(self) -> None:
        """Stop the follower, remove the hooks, write the registry."""
        self._hooks.uninstall()
        if self._unsub_maintenance is not None:
            self._unsub_maintenance()
            self._unsub_maintenance = None
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._pending.clear()
        await self.registry.async_save()

    def _enforce_known(self) -> None:
        """Remove every token the persisted revocations already kill.

        Such tokens were made, or refreshed, in the restart window: Home
        Assistant served HTTP before this setup, with no hooks to refuse a
        subject known to be disabled. Removing them (rather than waiting
        for the backstop to refuse their next validation) also closes the
        websockets they authenticated meanwhile. No I/O: works with revokd
        unreachable.
        """
        state = self.registry.state
        if not len(state):
            return
        for rt in self._refresh_tokens():
            if state.revokes(
                self._token_view(rt),
                self._user_view(rt.user),
                llat_offline=self.options.llat_offline,
            ):
                self._remove_if_present(rt.id)

    async def _async_catch_up(self) -> None:
        """Read revokd's live set before the setup returns, bounded.

        What was revoked while Home Assistant was down (a token, a session,
        a subject disabled) is removed before setup completes instead of
        whenever the background follower gets there. On failure or timeout
        the follower resyncs later (``_need_resync`` stays set); the repair
        issue says revokd is unreachable.
        """
        try:
            async with asyncio.timeout(STARTUP_CATCH_UP_TIMEOUT):
                await self.async_resync()
            self._set_connected("stream")  # as the follower does after a resync
            self.caught_up_at_start = True
        except TimeoutError:
            self._set_disconnected(f"no answer within {STARTUP_CATCH_UP_TIMEOUT:g} s at start")
        except RevokdUnreachable as err:
            self._set_disconnected(str(err))
        except RevokdError as err:
            # No live set here (an older revokd, a key refused): the
            # follower knows each of these cases and handles it.
            _LOGGER.debug("No catch-up at start: %s", type(err).__name__)
        except Exception:  # noqa: BLE001
            # A bug here must not fail the setup with the hooks installed
            # and no follower: log it, the follower starts over (resync).
            _LOGGER.exception("Catching up with revokd at start failed")
            self._need_resync = True

    def _spawn(self, coro: Any, name: str) -> None:
        task = self.hass.async_create_background_task(coro, name)
        # Newer HA starts tasks eagerly: this one may be finished already.
        if not task.done():
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def async_idle(self) -> None:
        """Wait until registrations and other one-off work have finished."""
        while pending := [t for t in self._pending if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self._pending.clear()

    @callback
    def _notify(self) -> None:
        async_dispatcher_send(self.hass, SIGNAL_STATE.format(self.entry_id))

    # ---- views ------------------------------------------------------

    def _users(self) -> list[User]:
        # The public accessor is a coroutine; token validation is
        # synchronous, so read the (loaded) auth store's user map directly.
        users = getattr(self.hass.auth._store, "_users", None) or {}  # noqa: SLF001
        return [u for u in users.values() if not u.system_generated]

    def _refresh_tokens(self) -> list[RefreshToken]:
        return [
            rt
            for user in self._users()
            for rt in user.refresh_tokens.values()
            if rt.token_type != TOKEN_TYPE_SYSTEM
        ]

    def _user_view(self, user: User) -> UserView:
        subjects = openid_subjects(user.credentials)
        if user.id in self.options.mappings:
            subjects.add(self.options.mappings[user.id])
        subjects.add((self.local_issuer, user.id))
        view = UserView(
            id=user.id,
            subjects=subjects,
            oidc_auth_hashes=oidc_auth_hashes(user.credentials),
        )
        view.tokens = [
            self._token_view(rt)
            for rt in user.refresh_tokens.values()
            if rt.token_type != TOKEN_TYPE_SYSTEM
        ]
        return view

    def _token_view(self, rt: RefreshToken) -> TokenView:
        entry = self.registry.entries.get(rt.id)
        return TokenView(
            id=rt.id,
            user_id=rt.user.id,
            created_at=rt.created_at.timestamp(),
            long_lived=rt.token_type == TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
            iss=entry.iss if entry else None,
            sub=entry.sub if entry else None,
            sid=entry.sid if entry else None,
        )

    # ---- auth hooks (AuthListener) ----------------------------------

    def is_revoked(self, refresh_token: RefreshToken) -> bool:
        """Backstop on every validation: set look-ups only, no I/O."""
        state = self.registry.state
        if not len(state):
            return False
        revoked = state.revokes(
            self._token_view(refresh_token),
            self._user_view(refresh_token.user),
            llat_offline=self.options.llat_offline,
        )
        if revoked:
            # Validation is synchronous; remove the token right after it.
            self.hass.loop.call_soon(self._remove_if_present, refresh_token.id)
        return revoked

    def on_refresh_token_created(self, refresh_token: RefreshToken) -> None:
        """Record the new token and register it with revokd."""
        if refresh_token.token_type == TOKEN_TYPE_SYSTEM:
            return
        entry = self._new_entry(refresh_token)
        self.registry.entries[refresh_token.id] = entry
        self.registry.async_schedule_save()
        self._spawn(self._async_register(refresh_token.id), f"{DOMAIN} register token")

    def on_refresh_token_removed(self, refresh_token: RefreshToken) -> None:
        """A token is gone: drop it; a local logout ends its revokd session."""
        entry = self.registry.entries.pop(refresh_token.id, None)
        if entry is None or refresh_token.id in self._removing:
            if entry is not None:
                self.registry.async_schedule_save()
            return
        self.registry.async_schedule_save()
        if (
            entry.registered
            and entry.sid
            and not any(
                e.iss == entry.iss and e.sid == entry.sid for e in self.registry.entries.values()
            )
        ):
            self._spawn(self._async_forget(entry.iss, entry.sid), f"{DOMAIN} forget session")

    # ---- registration -----------------------------------------------

    def _new_entry(self, rt: RefreshToken, *, adopted: bool = False) -> RegistryEntry:
        """``adopted``: the token predates us, so the credential's current
        ID token may be a later login's: its ``sid`` is not this token's."""
        identity = resolve_identity(
            user_id=rt.user.id,
            credential=rt.credential,
            user_credentials=rt.user.credentials,
            local_issuer=self.local_issuer,
            mappings=self.options.mappings,
            session_for_credentialless=not self.options.llat_offline,
        )
        long_lived = rt.token_type == TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
        return RegistryEntry(
            user_id=rt.user.id,
            iss=identity.iss,
            sub=identity.sub,
            # An "offline" long-lived token belongs to no login session.
            sid=None if adopted or (long_lived and self.options.llat_offline) else identity.sid,
            source=identity.source,
            long_lived=long_lived,
            created_at=rt.created_at.timestamp(),
            expires_at=self._expiry_for(rt),
        )

    @staticmethod
    def _expiry_for(rt: RefreshToken) -> int:
        cap = int(time.time()) + MAX_REGISTRATION
        if rt.expire_at is None:
            return cap
        return min(int(rt.expire_at) + 60, cap)

    def _adopt_existing_tokens(self) -> None:
        """Tokens made before the integration (or while it was off)."""
        live = {rt.id: rt for rt in self._refresh_tokens()}
        for token_id in list(self.registry.entries):
            if token_id not in live:
                del self.registry.entries[token_id]
        for token_id, rt in live.items():
            if token_id not in self.registry.entries:
                self.registry.entries[token_id] = self._new_entry(rt, adopted=True)
        self.registry.async_schedule_save()

    async def _async_register(self, token_id: str) -> bool:
        """Register one token; False when revokd could not be reached."""
        entry = self.registry.entries.get(token_id)
        if entry is None:
            return True
        try:
            await self.client.async_register_session(
                iss=entry.iss,
                sub=entry.sub,
                sid=entry.sid,
                token_ids=[token_id],
                expires_at=entry.expires_at,
            )
        except RegistrationRefused as refused:
            _LOGGER.info(
                "revokd refused the registration of a new token of user %s (%s): removing it",
                entry.user_id,
                refused.reason,
            )
            entry.refused = refused.reason
            self._apply({"kind": TOKEN_REVOKED, "jti": token_id}, counted=False)
            if refused.reason == SUBJECT_DISABLED and self.options.deactivate_users:
                await self._async_deactivate({entry.user_id})
            return True
        except RevokdUnreachable as err:
            self._set_disconnected(str(err))
            return False
        except RevokdBadRequest as err:
            # Not retried: the same body would be refused again.
            _LOGGER.warning("revokd refused a registration as invalid: %s", err)
            entry.refused = "invalid_request"
            self.registry.async_schedule_save()
            return True
        except RevokdError as err:
            _LOGGER.warning("revokd did not register a token: %s", type(err).__name__)
            return True
        entry.registered = True
        self.registry.async_schedule_save()
        return True

    async def _async_forget(self, iss: str, sid: str) -> None:
        try:
            await self.client.async_forget_session(iss=iss, sid=sid)
        except RevokdError as err:
            _LOGGER.debug("revokd did not forget a session: %s", type(err).__name__)

    async def _async_maintain(self, _now: datetime) -> None:
        """Hourly: HA slides refresh-token expiry on use; keep revokd's
        registration ahead of it, and retry what could not be registered."""
        await self.async_register_pending()
        self.registry.state.purge_expired()
        self.registry.state.keep_tokens({rt.id for rt in self._refresh_tokens()})

    async def async_register_pending(self) -> None:
        """Register what is unregistered, renew what expires soon."""
        now = time.time()
        live = {rt.id: rt for rt in self._refresh_tokens()}
        for token_id, entry in list(self.registry.entries.items()):
            rt = live.get(token_id)
            if rt is None or entry.refused:
                continue
            if entry.registered and entry.expires_at - now > RENEW_WITHIN:
                continue
            if entry.registered:
                entry.expires_at = self._expiry_for(rt)
            if not await self._async_register(token_id):
                return

    # ---- applying revocations ---------------------------------------

    def apply_revocation(self, rev: dict[str, Any]) -> Plan:
        """Record a revocation from revokd and remove what it hits."""
        if not self._concerns_us(rev):
            return Plan()
        return self._apply(rev, counted=True)

    def _apply(self, rev: dict[str, Any], *, counted: bool, record: bool = True) -> Plan:
        if record:
            self.registry.state.apply(rev)
        plan = plan_for(
            rev,
            [self._user_view(u) for u in self._users()],
            llat_offline=self.options.llat_offline,
            deactivate_users=self.options.deactivate_users,
        )
        for token_id in plan.remove:
            self._remove_if_present(token_id)
        if plan.deactivate:
            self._spawn(self._async_deactivate(plan.deactivate), f"{DOMAIN} deactivate")
        reactivate = plan.reactivate & self.registry.deactivated_users
        if reactivate:
            self._spawn(self._async_reactivate(reactivate), f"{DOMAIN} reactivate")
        if counted:
            self.status.events_applied += 1
            self.status.last_event_at = dt_util.utcnow()
            self.status.last_event_kind = str(rev.get("kind"))
        self.registry.async_schedule_save()
        self._notify()
        return plan

    def _remove_if_present(self, token_id: str) -> None:
        rt = self.hass.auth.async_get_refresh_token(token_id)
        if rt is None:
            return
        # Through hass.auth so that every wrapper (and the websocket's
        # revoke callbacks) runs: open connections of the token close.
        self._removing.add(token_id)
        try:
            self.hass.auth.async_remove_refresh_token(rt)
        finally:
            self._removing.discard(token_id)
        self.status.tokens_removed += 1
        _LOGGER.info("Removed a refresh token of user %s revoked by revokd", rt.user.id)

    async def _async_deactivate(self, user_ids: set[str]) -> None:
        for user_id in user_ids:
            user = await self.hass.auth.async_get_user(user_id)
            if user is None or not user.is_active:
                continue
            if user.is_owner:
                # Home Assistant refuses to deactivate the owner (its auth
                # manager raises). This is not a way back in: while the
                # subject is disabled the owner's tokens are removed and
                # every new login of theirs is refused, local ones too (the
                # backstop knows the user by all of their subjects). Enabling
                # the subject at revokd lets them sign in again.
                _LOGGER.warning(
                    "revokd disabled the owner's subject: their tokens are removed and their"
                    " logins refused until the subject is enabled; Home Assistant does not"
                    " let the owner be deactivated"
                )
                continue
            await self.hass.auth.async_deactivate_user(user)
            self.registry.deactivated_users.add(user_id)
        self.registry.async_schedule_save()

    async def _async_reactivate(self, user_ids: set[str]) -> None:
        for user_id in user_ids:
            user = await self.hass.auth.async_get_user(user_id)
            if user is not None and not user.is_active:
                await self.hass.auth.async_activate_user(user)
            self.registry.deactivated_users.discard(user_id)
        self.registry.async_schedule_save()

    # ---- following revokd -------------------------------------------

    def _set_connected(self, mode: str) -> None:
        changed = not self.status.connected or self.status.mode != mode
        self.status.connected = True
        self.status.mode = mode
        self.status.last_error = None
        ir.async_delete_issue(self.hass, DOMAIN, f"{ISSUE_UNREACHABLE}_{self.entry_id}")
        if changed:
            self._notify()

    def _set_disconnected(self, error: str) -> None:
        self.status.connected = False
        self.status.mode = "disconnected"
        self.status.last_error = error
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_UNREACHABLE}_{self.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="unreachable",
            translation_placeholders={"url": self.client.url},
        )
        self._notify()

    async def async_resync(self, *, count_new: bool = False) -> None:
        """Replace the known state with revokd's live set, enforce it all.

        ``count_new``: count the revocations we did not know as applied
        events (the poll fallback, where the live set is the only news).
        """
        live, as_of = await self._async_read_live()
        before, fresh = self.registry.state, RevocationState()
        fresh.replace(live)
        self.registry.state = fresh
        for rev in live:
            self._apply(rev, counted=count_new and not before.records(rev), record=False)
        # A subject enabled again while we were not listening has simply
        # left the live set: give its users back what the disable took.
        users = {user.id: user for user in self._users()}
        enabled = {
            user_id
            for user_id in self.registry.deactivated_users
            if user_id not in users or not fresh.disables(self._user_view(users[user_id]))
        }
        if enabled:
            self._spawn(self._async_reactivate(enabled), f"{DOMAIN} reactivate")
        self.registry.last_event_id = as_of
        self._need_resync = False
        self.registry.async_schedule_save()

    async def _async_read_live(self) -> tuple[list[dict[str, Any]], str | None]:
        """revokd's live set, as far as this Home Assistant is concerned.

        The facts about people (sessions, disables, revoked-before marks)
        come from the live set. Token revocations may be millions, for
        other apps: each of our own token ids is checked instead. Checks
        made after the listing can only add what the stream would replay.
        """
        try:
            live, as_of = await self.client.async_live_set(kinds=PEOPLE_KINDS)
        except RevokdBadRequest:
            # A revokd without the kinds filter: read it all, keep ours.
            live, as_of = await self.client.async_live_set()
            return [rev for rev in live if self._concerns_us(rev)], as_of
        ours = {rt.id for rt in self._refresh_tokens()}
        for token_id in list(self.registry.entries):
            if token_id in ours and not (await self.client.async_check(token_id)).active:
                live.append({"kind": TOKEN_REVOKED, "jti": token_id})
        return live, as_of

    def _concerns_us(self, rev: dict[str, Any]) -> bool:
        """False for a token revocation of an id this Home Assistant does
        not have (another app's token): nothing to remove or remember."""
        if rev.get("kind") not in (TOKEN_REVOKED, TOKENS_REVOKED):
            return True
        return any(
            jti in self.registry.entries or self.hass.auth.async_get_refresh_token(jti) is not None
            for jti in token_ids_of(rev)
        )

    def handle_event(self, event_type: str, data: str, event_id: str | None) -> bool:
        """Apply one stream event; False when the stream must be left."""
        if event_type == "hello":
            try:
                hello = json.loads(data)
            except ValueError:
                return True
            if self.registry.last_event_id is None and isinstance(hello, dict):
                self.registry.last_event_id = hello.get("last_event_id")
            return True
        if event_type == "resync":
            self._need_resync = True
            return False
        if event_type == "revocation":
            try:
                rev = json.loads(data)
            except ValueError:
                _LOGGER.warning("revokd sent an unreadable revocation event")
                return True
            if isinstance(rev, dict):
                self.apply_revocation(rev)
            if event_id is not None:
                self.registry.last_event_id = event_id
        return True

    async def _async_follow(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self.async_register_pending()
                if self._need_resync:
                    await self.async_resync()
                    self._set_connected("stream")
                async for event in self.client.async_events(
                    self.registry.last_event_id, on_open=lambda: self._set_connected("stream")
                ):
                    backoff = 1.0
                    if not self.handle_event(event.event, event.data, event.id):
                        break
                # Server closed (or asked for a resync): reconnect soon.
                await asyncio.sleep(random.uniform(0.1, 1.0))
            except RevokdNotSupported:
                await self._async_poll_mode()
            except RevokdAuthError as err:
                self._set_disconnected(f"client key refused ({err})")
                await asyncio.sleep(BACKOFF_MAX)
            except RevokdUnreachable as err:
                self._set_disconnected(str(err))
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:  # noqa: BLE001
                # A bug here must not end enforcement for good: log it and
                # start over (resync), as after a lost connection.
                _LOGGER.exception("Following revokd failed; starting over")
                self._need_resync = True
                self._set_disconnected("internal error")
                await asyncio.sleep(BACKOFF_MAX)

    async def _async_poll_mode(self) -> None:
        """No event stream here: check registered ids, retry the stream now and then."""
        for _ in range(STREAM_RETRY_POLLS):
            await self.async_poll_once()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.poll_interval)

    async def async_poll_once(self) -> None:
        """One catch-up round without the stream.

        The live set where revokd serves it: it carries every kind of
        revocation, and a subject enabled again shows as one that left it.
        Else (an older revokd) ``/v1/check`` on every registered token still
        alive, which can only say "this token is dead".
        """
        await self.async_register_pending()
        try:
            await self.async_resync(count_new=True)
        except RevokdNotSupported:
            await self._async_check_registered()
        self._set_connected("poll")

    async def _async_check_registered(self) -> None:
        live = {rt.id for rt in self._refresh_tokens()}
        for token_id, entry in list(self.registry.entries.items()):
            if token_id not in live or not entry.registered:
                continue
            result = await self.client.async_check(token_id)
            self._set_connected("poll")
            if result.active:
                continue
            # Only the token id is recorded: a check never sees an
            # "enabled again", so subject facts must not outlive it here.
            self.registry.state.apply({"kind": TOKEN_REVOKED, "jti": token_id})
            if result.reason == SUBJECT_DISABLED:
                rev = {"kind": SUBJECT_DISABLED, "iss": entry.iss, "sub": entry.sub}
            elif result.reason == SESSION_REVOKED and entry.sid:
                rev = {"kind": SESSION_REVOKED, "iss": entry.iss, "sid": entry.sid}
            else:
                rev = {"kind": TOKEN_REVOKED, "jti": token_id}
            self._apply(rev, counted=True, record=False)

    def wake(self) -> None:
        """Cut the poll wait short (tests, options change)."""
        self._wake.set()

    def diagnostics(self) -> dict[str, Any]:
        """Counts and status; no token ids, no key."""
        entries = list(self.registry.entries.values())
        state = self.registry.state
        return {
            "status": {
                "connected": self.status.connected,
                "mode": self.status.mode,
                "events_applied": self.status.events_applied,
                "tokens_removed": self.status.tokens_removed,
                "last_event_at": self.status.last_event_at.isoformat()
                if self.status.last_event_at
                else None,
                "last_event_kind": self.status.last_event_kind,
                "last_error": self.status.last_error,
                "last_event_id": self.registry.last_event_id,
            },
            "registry": {
                "tokens": len(entries),
                "registered": sum(e.registered for e in entries),
                "refused": sum(bool(e.refused) for e in entries),
                "by_source": {
                    s: sum(e.source == s for e in entries)
                    for s in sorted({e.source for e in entries})
                },
            },
            "known_revocations": {
                "tokens": len(state.tokens),
                "sessions": len(state.sessions),
                "disabled_subjects": len(state.disabled),
                "revoked_before": len(state.before),
            },
            "local_issuer": self.local_issuer,
        }

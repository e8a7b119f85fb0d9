"""What revokd has revoked, and which Home Assistant tokens that hits.

Pure logic, no Home Assistant imports: the runtime builds plain views of
HA's users and tokens, and this module answers "remove these token ids,
deactivate these users". The same :class:`RevocationState` is the
backstop consulted on every token validation, so it is a handful of set
look-ups and never does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import math
import time
from typing import Any

from .identity import oidc_auth_subject_hash

TOKEN_REVOKED = "token_revoked"
# One event for several token ids (`jtis`): what revokd records for a
# refused session registration.
TOKENS_REVOKED = "tokens_revoked"
SESSION_REVOKED = "session_revoked"
SUBJECT_DISABLED = "subject_disabled"
SUBJECT_ENABLED = "subject_enabled"
SUBJECT_REVOKED_BEFORE = "subject_revoked_before"
KINDS = {
    TOKEN_REVOKED,
    TOKENS_REVOKED,
    SESSION_REVOKED,
    SUBJECT_DISABLED,
    SUBJECT_ENABLED,
    SUBJECT_REVOKED_BEFORE,
}
# The live-set kinds about people. Token revocations are not among them:
# revokd may hold millions for other apps, and the integration asks about
# its own token ids one by one instead.
PEOPLE_KINDS = f"{SESSION_REVOKED},{SUBJECT_DISABLED},{SUBJECT_REVOKED_BEFORE}"


@dataclass
class TokenView:
    """One HA refresh token, as far as revocation cares."""

    id: str
    user_id: str
    created_at: float
    long_lived: bool
    iss: str | None = None  # registered identity, if any
    sub: str | None = None
    sid: str | None = None


@dataclass
class UserView:
    """One HA user: every subject it is known under, and its tokens."""

    id: str
    subjects: set[tuple[str, str]] = field(default_factory=set)
    oidc_auth_hashes: set[str] = field(default_factory=set)
    tokens: list[TokenView] = field(default_factory=list)

    def is_subject(self, iss: str, sub: str) -> bool:
        """Whether ``(iss, sub)`` names this user."""
        if (iss, sub) in self.subjects:
            return True
        if any(t.iss == iss and t.sub == sub for t in self.tokens):
            return True
        return bool(self.oidc_auth_hashes) and (
            oidc_auth_subject_hash(iss, sub) in self.oidc_auth_hashes
        )


@dataclass
class Plan:
    """What to do in Home Assistant for one revocation."""

    remove: set[str] = field(default_factory=set)
    deactivate: set[str] = field(default_factory=set)
    reactivate: set[str] = field(default_factory=set)


def _str(rev: dict[str, Any], key: str) -> str | None:
    value = rev.get(key)
    return value if isinstance(value, str) and value else None


def token_ids_of(rev: dict[str, Any]) -> set[str]:
    """The token ids a ``token_revoked`` or ``tokens_revoked`` event names."""
    if rev.get("kind") == TOKEN_REVOKED:
        jti = _str(rev, "jti")
        return {jti} if jti else set()
    if rev.get("kind") == TOKENS_REVOKED:
        jtis = rev.get("jtis")
        if isinstance(jtis, list):
            return {j for j in jtis if isinstance(j, str) and j}
    return set()


def plan_for(
    rev: dict[str, Any],
    users: Iterable[UserView],
    *,
    llat_offline: bool,
    deactivate_users: bool,
) -> Plan:
    """Which tokens/users one revocation hits."""
    plan = Plan()
    kind = rev.get("kind")
    iss, sub, sid = _str(rev, "iss"), _str(rev, "sub"), _str(rev, "sid")
    for user in users:
        if kind in (TOKEN_REVOKED, TOKENS_REVOKED):
            jtis = token_ids_of(rev)
            plan.remove |= {t.id for t in user.tokens if t.id in jtis}
        elif kind == SESSION_REVOKED and iss and sid:
            plan.remove |= {
                t.id
                for t in user.tokens
                if t.iss == iss and t.sid == sid and not (t.long_lived and llat_offline)
            }
        elif kind == SUBJECT_DISABLED and iss and sub and user.is_subject(iss, sub):
            plan.remove |= {t.id for t in user.tokens}
            if deactivate_users:
                plan.deactivate.add(user.id)
        elif kind == SUBJECT_ENABLED and iss and sub and user.is_subject(iss, sub):
            plan.reactivate.add(user.id)
        elif kind == SUBJECT_REVOKED_BEFORE and iss and sub and user.is_subject(iss, sub):
            before = rev.get("before")
            if isinstance(before, (int, float)):
                # revokd's rule: a token issued at or before T is dead, in
                # whole seconds (it registered the token at floor(created)).
                plan.remove |= {t.id for t in user.tokens if math.floor(t.created_at) <= before}
    return plan


class RevocationState:
    """The live revocations this instance knows, kept by the event stream."""

    def __init__(self) -> None:
        self.tokens: dict[str, float | None] = {}
        self.sessions: set[tuple[str, str]] = set()
        self.disabled: set[tuple[str, str]] = set()
        self.before: dict[tuple[str, str], float] = {}

    def __len__(self) -> int:
        return len(self.tokens) + len(self.sessions) + len(self.disabled) + len(self.before)

    def apply(self, rev: dict[str, Any]) -> None:
        """Record one revocation (or, for ``subject_enabled``, undo one)."""
        kind = rev.get("kind")
        iss, sub, sid = _str(rev, "iss"), _str(rev, "sub"), _str(rev, "sid")
        if kind in (TOKEN_REVOKED, TOKENS_REVOKED):
            exp = rev.get("expires_at")
            for jti in token_ids_of(rev):
                self.tokens[jti] = float(exp) if isinstance(exp, (int, float)) else None
        elif kind == SESSION_REVOKED and iss and sid:
            self.sessions.add((iss, sid))
        elif kind == SUBJECT_DISABLED and iss and sub:
            self.disabled.add((iss, sub))
        elif kind == SUBJECT_ENABLED and iss and sub:
            self.disabled.discard((iss, sub))
        elif kind == SUBJECT_REVOKED_BEFORE and iss and sub:
            before = rev.get("before")
            if isinstance(before, (int, float)):
                self.before[(iss, sub)] = max(float(before), self.before.get((iss, sub), 0))

    def records(self, rev: dict[str, Any]) -> bool:
        """Whether this revocation is recorded already (nothing new in it)."""
        kind = rev.get("kind")
        iss, sub, sid = _str(rev, "iss"), _str(rev, "sub"), _str(rev, "sid")
        if kind in (TOKEN_REVOKED, TOKENS_REVOKED):
            jtis = token_ids_of(rev)
            return bool(jtis) and jtis <= self.tokens.keys()
        if kind == SESSION_REVOKED:
            return (iss, sid) in self.sessions
        if kind == SUBJECT_DISABLED:
            return (iss, sub) in self.disabled
        if kind == SUBJECT_REVOKED_BEFORE:
            before = rev.get("before")
            known = self.before.get((iss, sub)) if iss and sub else None
            return isinstance(before, (int, float)) and known is not None and known >= before
        return False

    def disables(self, user: UserView) -> bool:
        """Whether a recorded subject disable names this user."""
        return any(user.is_subject(iss, sub) for iss, sub in self.disabled)

    def replace(self, live: Iterable[dict[str, Any]]) -> None:
        """Start over from revokd's live set (a resync)."""
        self.__init__()  # type: ignore[misc]
        for rev in live:
            self.apply(rev)

    def keep_tokens(self, token_ids: set[str]) -> None:
        """Forget token revocations of ids this Home Assistant no longer has."""
        self.tokens = {k: v for k, v in self.tokens.items() if k in token_ids}

    def purge_expired(self, now: float | None = None) -> None:
        """Forget token revocations whose token has expired anyway."""
        now = time.time() if now is None else now
        self.tokens = {k: v for k, v in self.tokens.items() if v is None or v > now}

    def revokes(self, token: TokenView, user: UserView | None, *, llat_offline: bool) -> bool:
        """The backstop: is this token dead by what we know?"""
        if token.id in self.tokens:
            return True
        if (
            token.iss
            and token.sid
            and (token.iss, token.sid) in self.sessions
            and not (token.long_lived and llat_offline)
        ):
            return True
        subjects: set[tuple[str, str]] = set()
        if token.iss and token.sub:
            subjects.add((token.iss, token.sub))
        if user is not None:
            subjects |= user.subjects
        for subject in subjects:
            if subject in self.disabled:
                return True
            if subject in self.before and math.floor(token.created_at) <= self.before[subject]:
                return True
        if user is not None and user.oidc_auth_hashes:
            for iss, sub in self.disabled:
                if oidc_auth_subject_hash(iss, sub) in user.oidc_auth_hashes:
                    return True
        return False

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the Store."""
        return {
            "tokens": self.tokens,
            "sessions": sorted(list(s) for s in self.sessions),
            "disabled": sorted(list(s) for s in self.disabled),
            "before": [[i, s, t] for (i, s), t in self.before.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RevocationState:
        """Inverse of :meth:`as_dict`; tolerant of a missing or old shape."""
        state = cls()
        if not data:
            return state
        state.tokens = dict(data.get("tokens") or {})
        state.sessions = {(i, s) for i, s in data.get("sessions") or []}
        state.disabled = {(i, s) for i, s in data.get("disabled") or []}
        state.before = {(i, s): float(t) for i, s, t in data.get("before") or []}
        return state

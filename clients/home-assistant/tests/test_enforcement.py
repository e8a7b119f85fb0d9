"""Which tokens a revocation hits, and the backstop's answers (pure logic)."""

from __future__ import annotations

import pytest

from custom_components.revokd.enforcement import (
    RevocationState,
    TokenView,
    UserView,
    plan_for,
)
from custom_components.revokd.identity import (
    oidc_auth_subject_hash,
    parse_mappings,
    resolve_identity,
)
from homeassistant.auth.models import Credentials

from .helpers import fake_id_token

ISS = "https://idp.test/"


def alice() -> UserView:
    return UserView(
        id="u-alice",
        subjects={(ISS, "alice")},
        tokens=[
            TokenView("t-login", "u-alice", 100.0, False, ISS, "alice", "s1"),
            TokenView("t-other", "u-alice", 200.0, False, ISS, "alice", "s2"),
            TokenView("t-llat", "u-alice", 150.0, True, ISS, "alice", None),
        ],
    )


def bob_oidc_auth() -> UserView:
    """A hass-oidc-auth user: only the hashed subject is known."""
    return UserView(
        id="u-bob",
        oidc_auth_hashes={oidc_auth_subject_hash(ISS, "bob")},
        tokens=[TokenView("t-bob", "u-bob", 100.0, False, "local", "u-bob", None)],
    )


def test_session_revoked_hits_that_session_and_spares_offline_tokens() -> None:
    rev = {"kind": "session_revoked", "iss": ISS, "sid": "s1"}
    plan = plan_for(rev, [alice()], llat_offline=True, deactivate_users=True)
    assert plan.remove == {"t-login"}
    assert plan.deactivate == set()


def test_session_revoked_hits_long_lived_tokens_when_they_are_not_offline() -> None:
    users = [alice()]
    users[0].tokens[2].sid = "s1"
    rev = {"kind": "session_revoked", "iss": ISS, "sid": "s1"}
    plan = plan_for(rev, users, llat_offline=False, deactivate_users=False)
    assert plan.remove == {"t-login", "t-llat"}


def test_subject_disabled_hits_every_token_and_deactivates_when_configured() -> None:
    rev = {"kind": "subject_disabled", "iss": ISS, "sub": "alice"}
    plan = plan_for(rev, [alice(), bob_oidc_auth()], llat_offline=True, deactivate_users=True)
    assert plan.remove == {"t-login", "t-other", "t-llat"}
    assert plan.deactivate == {"u-alice"}
    plan = plan_for(rev, [alice()], llat_offline=True, deactivate_users=False)
    assert plan.deactivate == set()


def test_subject_of_another_issuer_with_the_same_sub_is_not_hit() -> None:
    rev = {"kind": "subject_disabled", "iss": "https://other.test/", "sub": "alice"}
    assert plan_for(rev, [alice()], llat_offline=True, deactivate_users=True).remove == set()


def test_hass_oidc_auth_user_is_matched_by_its_subject_hash() -> None:
    rev = {"kind": "subject_disabled", "iss": ISS, "sub": "bob"}
    plan = plan_for(rev, [alice(), bob_oidc_auth()], llat_offline=True, deactivate_users=False)
    assert plan.remove == {"t-bob"}


def test_revoked_before_hits_only_older_tokens() -> None:
    rev = {"kind": "subject_revoked_before", "iss": ISS, "sub": "alice", "before": 150}
    plan = plan_for(rev, [alice()], llat_offline=True, deactivate_users=False)
    assert plan.remove == {"t-login", "t-llat"}


def test_token_revoked_hits_only_that_id() -> None:
    rev = {"kind": "token_revoked", "jti": "t-other"}
    assert plan_for(rev, [alice()], llat_offline=True, deactivate_users=False).remove == {"t-other"}


def test_tokens_revoked_hits_each_listed_id() -> None:
    # One event for a refused registration's ids (revokd issue 17).
    rev = {"kind": "tokens_revoked", "jtis": ["t-other", "t-gone", 7], "expires_at": 10}
    assert plan_for(rev, [alice()], llat_offline=True, deactivate_users=False).remove == {"t-other"}
    state = RevocationState()
    assert not state.records(rev)
    state.apply(rev)
    assert state.tokens == {"t-other": 10.0, "t-gone": 10.0}
    assert state.records(rev)


def test_backstop_state_and_enable_again() -> None:
    state = RevocationState()
    user = alice()
    login, other, llat = user.tokens
    state.apply({"kind": "session_revoked", "iss": ISS, "sid": "s1"})
    assert state.revokes(login, user, llat_offline=True)
    assert not state.revokes(other, user, llat_offline=True)
    state.apply({"kind": "subject_disabled", "iss": ISS, "sub": "alice"})
    assert state.revokes(other, user, llat_offline=True)
    state.apply({"kind": "subject_enabled", "iss": ISS, "sub": "alice"})
    assert not state.revokes(other, user, llat_offline=True)
    state.apply({"kind": "subject_disabled", "iss": ISS, "sub": "bob"})
    bob = bob_oidc_auth()
    assert state.revokes(bob.tokens[0], bob, llat_offline=True)


def test_state_survives_a_round_trip_and_replace_starts_over() -> None:
    state = RevocationState()
    state.apply({"kind": "token_revoked", "jti": "x", "expires_at": 4_000_000_000})
    state.apply({"kind": "subject_revoked_before", "iss": ISS, "sub": "a", "before": 5})
    copy = RevocationState.from_dict(state.as_dict())
    assert copy.tokens == {"x": 4_000_000_000.0}
    assert copy.before == {(ISS, "a"): 5.0}
    copy.replace([{"kind": "session_revoked", "iss": ISS, "sid": "s"}])
    assert (copy.tokens, copy.sessions) == ({}, {(ISS, "s")})


@pytest.mark.parametrize(
    ("known", "rev", "recorded"),
    [
        ({"kind": "token_revoked", "jti": "x"}, {"kind": "token_revoked", "jti": "x"}, True),
        ({"kind": "token_revoked", "jti": "x"}, {"kind": "token_revoked", "jti": "y"}, False),
        (
            {"kind": "session_revoked", "iss": ISS, "sid": "s"},
            {"kind": "session_revoked", "iss": "https://other.test/", "sid": "s"},
            False,
        ),
        (
            {"kind": "subject_disabled", "iss": ISS, "sub": "a"},
            {"kind": "subject_disabled", "iss": ISS, "sub": "a"},
            True,
        ),
        (
            {"kind": "subject_revoked_before", "iss": ISS, "sub": "a", "before": 5},
            {"kind": "subject_revoked_before", "iss": ISS, "sub": "a", "before": 5},
            True,
        ),
        (
            {"kind": "subject_revoked_before", "iss": ISS, "sub": "a", "before": 5},
            {"kind": "subject_revoked_before", "iss": ISS, "sub": "a", "before": 6},
            False,
        ),
        ({"kind": "token_revoked", "jti": "x"}, {"kind": "mystery", "jti": "x"}, False),
    ],
)
def test_records_tells_news_from_known_facts(known: dict, rev: dict, recorded: bool) -> None:
    state = RevocationState()
    state.apply(known)
    assert state.records(rev) is recorded


def test_disables_finds_users_by_any_of_their_subjects() -> None:
    state = RevocationState()
    assert not state.disables(alice())
    state.apply({"kind": "subject_disabled", "iss": ISS, "sub": "bob"})
    assert state.disables(bob_oidc_auth())  # by its hass-oidc-auth hash
    assert not state.disables(alice())
    state.apply({"kind": "subject_disabled", "iss": ISS, "sub": "alice"})
    assert state.disables(alice())


def test_expired_token_revocations_are_purged() -> None:
    state = RevocationState()
    state.apply({"kind": "token_revoked", "jti": "old", "expires_at": 10})
    state.apply({"kind": "token_revoked", "jti": "new", "expires_at": 30})
    state.purge_expired(now=20)
    assert set(state.tokens) == {"new"}


def _cred(provider: str, data: dict) -> Credentials:
    return Credentials(auth_provider_type=provider, auth_provider_id=None, data=data, is_new=False)


def test_identity_from_hass_openid_id_token_and_fallbacks() -> None:
    openid = _cred(
        "openid", {"openid_id_token": fake_id_token({"iss": ISS, "sub": "a", "sid": "s"})}
    )
    found = resolve_identity(
        user_id="u", credential=openid, user_credentials=[openid], local_issuer="L", mappings={}
    )
    assert (found.iss, found.sub, found.sid, found.source) == (ISS, "a", "s", "openid")
    # A long-lived token (no credential) gets the subject, never the sid.
    found = resolve_identity(
        user_id="u", credential=None, user_credentials=[openid], local_issuer="L", mappings={}
    )
    assert (found.iss, found.sub, found.sid) == (ISS, "a", None)
    # hass-oidc-auth keeps only a hash: the user is a local subject.
    hashed = _cred("auth_oidc", {"sub": oidc_auth_subject_hash(ISS, "a")})
    found = resolve_identity(
        user_id="u", credential=hashed, user_credentials=[hashed], local_issuer="L", mappings={}
    )
    assert (found.iss, found.sub, found.source) == ("L", "u", "local")
    # A manual mapping wins.
    found = resolve_identity(
        user_id="u",
        credential=hashed,
        user_credentials=[hashed],
        local_issuer="L",
        mappings={"u": ("https://kc.test/", "k-1")},
    )
    assert (found.iss, found.sub, found.source) == ("https://kc.test/", "k-1", "manual")


def test_mapping_text_is_parsed_and_bad_lines_are_named() -> None:
    text = "# user iss sub\nu1 https://a.test/ s1\n\nu2 https://b.test/ s2\n"
    assert parse_mappings(text) == {
        "u1": ("https://a.test/", "s1"),
        "u2": ("https://b.test/", "s2"),
    }
    with pytest.raises(ValueError, match="line 2"):
        parse_mappings("u1 a b\nu2 only-two\n")

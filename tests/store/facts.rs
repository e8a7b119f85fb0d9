//! Facts: each kind of revocation is visible, expires, and keeps the later
//! expiry; issuers never collide.

use crate::fixtures::*;

// ---------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------

pub(crate) async fn ping_succeeds(store: &impl RevocationStore) {
    store.ping().await.expect("ping");
}

pub(crate) async fn an_empty_lookup_finds_nothing(store: &impl RevocationStore) {
    let t = now();
    revoke_token(store, jti("t1"), at(t, 3600), t).await;

    assert_eq!(facts(store, Lookup::default(), t).await, Facts::default());
}

/// A token id and a session follow the same rules (visible while live,
/// the later expiry wins); the twin cases run once for each, from this table.
#[derive(Debug, Clone, Copy)]
enum Revoked {
    Token,
    Session,
}

const BOTH: [Revoked; 2] = [Revoked::Token, Revoked::Session];

impl Revoked {
    /// Revokes the `n`-th token or session until `expires_at`.
    async fn revoke(
        self,
        store: &impl RevocationStore,
        n: &str,
        expires_at: UnixTime,
        t: UnixTime,
    ) {
        match self {
            Self::Token => {
                revoke_token(store, jti(n), expires_at, t).await;
            }
            Self::Session => {
                revoke_session(store, session(IDP_A, n), expires_at, t).await;
            }
        }
    }

    /// Whether the `n`-th token or session reads as revoked at `now`; any
    /// other fact set is a failure.
    async fn is_revoked(self, store: &impl RevocationStore, n: &str, now: UnixTime) -> bool {
        let (jti, ses) = (jti(n), session(IDP_A, n));
        let (lookup, revoked) = match self {
            Self::Token => (
                token_lookup(&jti),
                Facts {
                    token_revoked: true,
                    ..Facts::default()
                },
            ),
            Self::Session => (
                session_lookup(&ses),
                Facts {
                    session_revoked: true,
                    ..Facts::default()
                },
            ),
        };
        let found = facts(store, lookup, now).await;
        assert!(
            found == revoked || found == Facts::default(),
            "{self:?} {n}: unexpected facts {found:?}"
        );
        found == revoked
    }
}

pub(crate) async fn a_revoked_token_or_session_is_visible(store: &impl RevocationStore) {
    let t = now();
    for kind in BOTH {
        kind.revoke(store, "r1", at(t, 3600), t).await;

        assert!(kind.is_revoked(store, "r1", t).await, "{kind:?}");
        assert!(
            !kind.is_revoked(store, "r2", t).await,
            "{kind:?}: another one"
        );
    }
}

pub(crate) async fn a_disabled_subject_is_visible(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    disable_subject(store, alice.clone(), Some(at(t, 3600)), t).await;

    let found = facts(store, subject_lookup(&alice), t).await;
    assert!(found.subject_disabled, "{found:?}");
    assert_eq!(
        facts(store, subject_lookup(&subject(IDP_A, "bob")), t).await,
        Facts::default()
    );
}

pub(crate) async fn a_revoked_before_mark_is_visible(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    revoke_before(store, alice.clone(), at(t, -5), at(t, 3600), t).await;

    assert_eq!(
        facts(store, subject_lookup(&alice), t).await,
        Facts {
            subject_revoked_before: Some(at(t, -5)),
            ..Facts::default()
        }
    );
}

pub(crate) async fn facts_expired_for_the_given_now_are_not_returned(store: &impl RevocationStore) {
    // Arrange: one fact of each kind, all expiring at t + 100.
    let t = now();
    let end = at(t, 100);
    let (token, ses, alice, bob) = (
        jti("t1"),
        session(IDP_A, "s1"),
        subject(IDP_A, "alice"),
        subject(IDP_A, "bob"),
    );
    revoke_token(store, token.clone(), end, t).await;
    revoke_session(store, ses.clone(), end, t).await;
    disable_subject(store, alice.clone(), Some(end), t).await;
    revoke_before(store, bob.clone(), t, end, t).await;
    let all = Lookup {
        jti: Some(&token),
        session: Some(&ses),
        subject: Some(&alice),
    };

    // Assert: live one second before, gone at `expires_at` itself.
    let before_end = facts(store, all, at(end, -1)).await;
    assert_eq!(
        before_end,
        Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: true,
            // Bob holds the mark; a disable writes none (see
            // `a_disable_leaves_the_revoked_before_mark_alone`).
            subject_revoked_before: None,
            bound: None,
            session_bound: None,
        }
    );
    assert_eq!(
        facts(store, subject_lookup(&bob), at(end, -1))
            .await
            .subject_revoked_before,
        Some(t)
    );
    assert_eq!(facts(store, all, end).await, Facts::default());
    assert_eq!(
        facts(store, subject_lookup(&bob), end).await,
        Facts::default()
    );
}

pub(crate) async fn a_token_or_session_revocation_keeps_the_later_expiry(
    store: &impl RevocationStore,
) {
    let t = now();
    for kind in BOTH {
        // A shorter revocation does not cut a longer one short...
        kind.revoke(store, "e1", at(t, 200), t).await;
        kind.revoke(store, "e1", at(t, 100), t).await;
        assert!(
            kind.is_revoked(store, "e1", at(t, 150)).await,
            "{kind:?}: shortened by an earlier expiry"
        );

        // ...and a longer one extends it.
        kind.revoke(store, "e1", at(t, 300), t).await;
        assert!(
            kind.is_revoked(store, "e1", at(t, 250)).await,
            "{kind:?}: not extended by a later expiry"
        );
        assert!(!kind.is_revoked(store, "e1", at(t, 300)).await, "{kind:?}");
    }
}

pub(crate) async fn a_revoked_before_mark_never_moves_back(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    apply(store, mark(at(t, -10), at(t, 3600)), t).await;
    apply(store, mark(at(t, -50), at(t, 3600)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), t)
            .await
            .subject_revoked_before,
        Some(at(t, -10))
    );

    apply(store, mark(at(t, -5), at(t, 3600)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), t)
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );
}

pub(crate) async fn a_revoked_before_mark_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    // A later `before` with an earlier expiry: the mark moves forward and
    // keeps living until the later expiry.
    apply(store, mark(at(t, -10), at(t, 300)), t).await;
    apply(store, mark(at(t, -5), at(t, 100)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 200))
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );

    // An earlier `before` with a later expiry: the mark stays put and lives
    // longer.
    apply(store, mark(at(t, -50), at(t, 500)), t).await;
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 400))
            .await
            .subject_revoked_before,
        Some(at(t, -5))
    );
    assert_eq!(
        facts(store, subject_lookup(&alice), at(t, 500))
            .await
            .subject_revoked_before,
        None
    );
}

pub(crate) async fn an_expired_mark_is_not_revived_by_a_later_one(store: &impl RevocationStore) {
    // A mark that expired for `now` is gone: a new, earlier mark applied
    // after that does not inherit its `before`.
    let t = now();
    let alice = subject(IDP_A, "alice");
    let mark = |before, expires_at| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at,
    };

    apply(store, mark(at(t, -10), at(t, 5)), t).await;
    let later = at(t, 10);
    apply(store, mark(at(t, -50), at(t, 300)), later).await;

    assert_eq!(
        facts(store, subject_lookup(&alice), later)
            .await
            .subject_revoked_before,
        Some(at(t, -50))
    );
}

/// A disable touches only the disable: the revoked-before mark that the
/// service writes beside it is a change of its own.
pub(crate) async fn a_disable_leaves_the_revoked_before_mark_alone(store: &impl RevocationStore) {
    let t = now();
    let (alice, bob) = (subject(IDP_A, "alice"), subject(IDP_A, "bob"));
    revoke_before(store, bob.clone(), at(t, -100), at(t, 3600), t).await;

    for who in [&alice, &bob] {
        disable_subject(store, who.clone(), Some(at(t, 7200)), t).await;
    }

    let alice_facts = facts(store, subject_lookup(&alice), t).await;
    assert!(alice_facts.subject_disabled);
    assert_eq!(
        alice_facts.subject_revoked_before, None,
        "no mark is created"
    );
    let bob_facts = facts(store, subject_lookup(&bob), t).await;
    assert!(bob_facts.subject_disabled);
    assert_eq!(
        bob_facts.subject_revoked_before,
        Some(at(t, -100)),
        "the existing mark is not moved"
    );
    assert_eq!(
        facts(store, subject_lookup(&bob), at(t, 3600))
            .await
            .subject_revoked_before,
        None,
        "nor does it live longer"
    );
}

/// Not spelled out in the trait docs: a second disable with an earlier
/// expiry does not shorten the first, like every other fact (fail closed;
/// enable first to shorten). Both stores must agree either way.
pub(crate) async fn a_disable_keeps_the_later_expiry(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    disable_subject(store, alice.clone(), None, t).await;
    disable_subject(store, alice.clone(), Some(at(t, 100)), t).await;
    assert!(
        facts(store, subject_lookup(&alice), at(t, 200))
            .await
            .subject_disabled,
        "indefinite disable shortened"
    );

    let bob = subject(IDP_A, "bob");
    disable_subject(store, bob.clone(), Some(at(t, 300)), t).await;
    disable_subject(store, bob.clone(), Some(at(t, 100)), t).await;
    assert!(
        facts(store, subject_lookup(&bob), at(t, 200))
            .await
            .subject_disabled,
        "disable shortened"
    );
}

pub(crate) async fn a_disable_without_expiry_stays(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");

    disable_subject(store, alice.clone(), None, t).await;

    let ten_years = at(t, 10 * 365 * 24 * 3600);
    assert_eq!(
        facts(store, subject_lookup(&alice), ten_years).await,
        Facts {
            subject_disabled: true,
            ..Facts::default()
        }
    );
}

pub(crate) async fn enabling_lifts_only_the_disable(store: &impl RevocationStore) {
    // Arrange: every kind of fact about one person.
    let t = now();
    let alice = subject(IDP_A, "alice");
    let (token, ses) = (jti("t1"), session(IDP_A, "s1"));
    revoke_token(store, token.clone(), at(t, 3600), t).await;
    revoke_session(store, ses.clone(), at(t, 3600), t).await;
    revoke_before(store, alice.clone(), t, at(t, 3600), t).await;
    disable_subject(store, alice.clone(), None, t).await;

    // Act
    let later = at(t, 10);
    enable_subject(store, alice.clone(), later).await;

    // Assert: the revoked-before mark stays, so tokens issued before it
    // stay dead.
    let all = Lookup {
        jti: Some(&token),
        session: Some(&ses),
        subject: Some(&alice),
    };
    assert_eq!(
        facts(store, all, later).await,
        Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: false,
            subject_revoked_before: Some(t),
            bound: None,
            session_bound: None,
        }
    );
}

pub(crate) async fn issuers_sharing_a_sub_or_sid_do_not_collide(store: &impl RevocationStore) {
    let t = now();
    let (alice_a, alice_b) = (subject(IDP_A, "alice"), subject(IDP_B, "alice"));
    let (carol_a, carol_b) = (subject(IDP_A, "carol"), subject(IDP_B, "carol"));
    let (s_a, s_b) = (session(IDP_A, "s1"), session(IDP_B, "s1"));

    disable_subject(store, alice_a.clone(), None, t).await;
    revoke_session(store, s_a.clone(), at(t, 3600), t).await;
    revoke_before(store, carol_a.clone(), t, at(t, 3600), t).await;

    assert!(
        facts(store, subject_lookup(&alice_a), t)
            .await
            .subject_disabled
    );
    assert!(facts(store, session_lookup(&s_a), t).await.session_revoked);
    assert_eq!(
        facts(store, subject_lookup(&carol_a), t)
            .await
            .subject_revoked_before,
        Some(t)
    );
    let at_b = Lookup {
        session: Some(&s_b),
        subject: Some(&alice_b),
        ..Lookup::default()
    };
    assert_eq!(facts(store, at_b, t).await, Facts::default());
    assert_eq!(
        facts(store, subject_lookup(&carol_b), t).await,
        Facts::default()
    );
}

//! The session registry: refused registrations (born-revoked tokens),
//! unregistering, expiry, first bindings and issuer separation.

use crate::fixtures::*;

/// Checks a refusal: the reason, one `TokensRevoked` event listing every id
/// until the registration's expiry with the caller as actor (one event per
/// refusal, however many ids: issue 17 item 5), and every id revoked.
pub(crate) async fn assert_refused_with_born_revoked_tokens(
    store: &impl RevocationStore,
    outcome: Registration,
    expected: Reason,
    ids: &[&str],
    expires_at: UnixTime,
    now: UnixTime,
) {
    let Registration::Refused { reason, event } = outcome else {
        panic!("registered, expected a refusal for {expected:?}");
    };
    assert_eq!(reason, expected);
    let event = event.expect("one event");
    assert_eq!(
        event.change,
        Change::TokensRevoked {
            jtis: ids.iter().map(|id| jti(id)).collect(),
            expires_at,
        }
    );
    assert!(event.actor == "client:app" && event.at == now, "{event:?}");
    assert_eq!(
        all_events(store).await.first(),
        Some(&event),
        "the event is recorded as the newest"
    );
    for id in ids {
        assert_eq!(
            verdict_by_jti(store, id, None, now).await,
            Verdict::Inactive(Reason::TokenRevoked),
            "{id}"
        );
        assert_eq!(bound(store, id, now).await, None, "{id} was bound");
        assert!(
            facts(store, token_lookup(&jti(id)), at(expires_at, -1))
                .await
                .token_revoked,
            "{id} is revoked until the registration's expiry"
        );
        assert!(
            !facts(store, token_lookup(&jti(id)), expires_at)
                .await
                .token_revoked,
            "{id} is revoked beyond the registration's expiry"
        );
    }
}

pub(crate) async fn a_registration_for_a_revoked_session_is_refused_and_its_tokens_are_born_revoked(
    store: &impl RevocationStore,
) {
    // Arrange: the logout arrives before the application registers the login.
    let t = now();
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;
    let expires_at = at(t, 600);

    // Act
    let later = at(t, 5);
    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], expires_at),
        later,
    )
    .await;

    // Assert
    assert_refused_with_born_revoked_tokens(
        store,
        outcome,
        Reason::SessionRevoked,
        &["t1", "t2"],
        expires_at,
        later,
    )
    .await;
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, later)
            .await
            .expect("unregister")
            .is_none(),
        "a refused registration stores no session record"
    );
}

pub(crate) async fn a_registration_for_a_disabled_subject_is_refused_and_its_tokens_are_born_revoked(
    store: &impl RevocationStore,
) {
    let t = now();
    disable_subject(store, subject(IDP_A, "alice"), Some(at(t, 3600)), t).await;
    let expires_at = at(t, 600);

    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], expires_at),
        t,
    )
    .await;
    let bob = register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t9"], expires_at),
        t,
    )
    .await;

    assert_refused_with_born_revoked_tokens(
        store,
        outcome,
        Reason::SubjectDisabled,
        &["t1"],
        expires_at,
        t,
    )
    .await;
    assert_eq!(bob, Registration::Registered, "another subject");
}

pub(crate) async fn a_revoked_session_is_the_reason_when_the_subject_is_disabled_too(
    store: &impl RevocationStore,
) {
    let t = now();
    disable_subject(store, subject(IDP_A, "alice"), None, t).await;
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;

    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 600)),
        t,
    )
    .await;

    assert!(
        matches!(
            outcome,
            Registration::Refused {
                reason: Reason::SessionRevoked,
                ..
            }
        ),
        "{outcome:?}"
    );
}

pub(crate) async fn a_registration_without_sid_binds_to_the_subject_only(
    store: &impl RevocationStore,
) {
    let t = now();
    // A revoked session of the same subject does not refuse a registration
    // that names no session.
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;

    let outcome = register(
        store,
        &registration(IDP_A, None, "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;

    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", t).await, clean_binding(t));
    disable_subject(store, subject(IDP_A, "alice"), None, at(t, 5)).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 5)).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
}

pub(crate) async fn unregister_removes_the_session_and_its_bindings(store: &impl RevocationStore) {
    // Arrange: two sessions.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t3"], at(t, 3600)),
        t,
    )
    .await;
    let iss = Issuer::parse(IDP_A).expect("iss");
    let s1 = SessionId::parse("s1").expect("sid");

    // Act
    let removed = store
        .unregister_session(&app(), &iss, &s1, at(t, 5))
        .await
        .expect("unregister");
    let removed_again = store
        .unregister_session(&app(), &iss, &s1, at(t, 6))
        .await
        .expect("unregister");

    // Assert
    let mut unbound: Vec<String> = removed
        .expect("a live record was removed")
        .iter()
        .map(|id| id.as_ref().to_owned())
        .collect();
    unbound.sort();
    assert_eq!(unbound, ["t1", "t2"], "the ids a mirror must forget");
    assert_eq!(removed_again, None, "nothing left to remove");
    assert_eq!(bound(store, "t1", at(t, 6)).await, None);
    assert_eq!(bound(store, "t2", at(t, 6)).await, None);
    assert_eq!(bound(store, "t3", at(t, 6)).await, clean_binding(t));
    // A later logout of the session no longer reaches the unbound tokens.
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), at(t, 7)).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 8)).await,
        Verdict::Active
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &SessionId::parse("never").expect("sid"), t)
            .await
            .expect("unregister")
            .is_none(),
        "an unknown session"
    );
    assert!(
        all_events(store).await.len() == 1,
        "unregister is not audited"
    );
}

pub(crate) async fn registrations_expire(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let end = at(t, 100);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], end),
        t,
    )
    .await;
    revoke_session(store, session(IDP_A, "s2"), at(t, 3600), t).await;

    // Assert: live one second before, gone at `expires_at` itself.
    assert_eq!(bound(store, "t1", at(end, -1)).await, clean_binding(t));
    assert_eq!(bound(store, "t1", end).await, None);
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, end)
            .await
            .expect("unregister")
            .is_none(),
        "an expired registration counts as absent"
    );
    // A registration after expiry starts afresh: the dead binding lends
    // it neither its registered_at nor its session.
    let again = at(end, 10);
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t2"], at(t, 3600)),
        again,
    )
    .await;
    let outcome = register(
        store,
        &registration(IDP_A, Some("s3"), "alice", &["t1"], at(t, 3600)),
        again,
    )
    .await;
    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", again).await, clean_binding(again));
}

/// The documented choice of the trait: a token id already bound to another
/// session keeps that binding, so a registration cannot detach a token from
/// a session that may be revoked later.
pub(crate) async fn a_token_id_bound_elsewhere_keeps_its_first_binding(
    store: &impl RevocationStore,
) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;

    let outcome = register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t1", "t2"], at(t, 3600)),
        at(t, 5),
    )
    .await;

    assert_eq!(outcome, Registration::Registered);
    let iss = Issuer::parse(IDP_A).expect("iss");
    assert!(
        store
            .unregister_session(
                &app(),
                &iss,
                &SessionId::parse("s2").expect("sid"),
                at(t, 6)
            )
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(
        bound(store, "t1", at(t, 6)).await,
        clean_binding(t),
        "t1 still belongs to s1"
    );
    assert_eq!(bound(store, "t2", at(t, 6)).await, None);
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), at(t, 7)).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, at(t, 8)).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
}

pub(crate) async fn two_issuers_with_the_same_sid_and_sub_do_not_collide_in_the_registry(
    store: &impl RevocationStore,
) {
    // Arrange: the same sid and sub at two providers.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["ta"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_B, Some("s1"), "alice", &["tb"], at(t, 3600)),
        t,
    )
    .await;

    // Act: provider A logs its session out, provider B disables its alice.
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;
    disable_subject(store, subject(IDP_B, "alice"), None, t).await;

    // Assert
    let ta = bound(store, "ta", t).await.expect("ta is bound");
    let tb = bound(store, "tb", t).await.expect("tb is bound");
    assert_eq!((ta.session_revoked, ta.subject_disabled), (true, false));
    assert_eq!((tb.session_revoked, tb.subject_disabled), (false, true));
    // The tombstone of A's session does not refuse B's.
    let outcome = register(
        store,
        &registration(IDP_B, Some("s1"), "carol", &["tc"], at(t, 3600)),
        t,
    )
    .await;
    assert_eq!(outcome, Registration::Registered);
    // Unregistering A's session leaves B's bindings alone.
    let s1 = SessionId::parse("s1").expect("sid");
    assert!(
        store
            .unregister_session(&app(), &Issuer::parse(IDP_A).expect("iss"), &s1, t)
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "ta", t).await, None);
    assert!(bound(store, "tb", t).await.is_some());
    assert!(bound(store, "tc", t).await.is_some());
}

pub(crate) async fn bound_facts_are_found_for_an_issuer_with_non_ascii_characters(
    store: &impl RevocationStore,
) {
    let t = now();
    register(
        store,
        &registration(IDP_U, Some("sïd"), "jürgen", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    revoke_session(store, session(IDP_U, "sïd"), at(t, 3600), t).await;
    disable_subject(store, subject(IDP_U, "jürgen"), None, t).await;
    revoke_before(store, subject(IDP_U, "jürgen"), t, at(t, 3600), t).await;

    assert_eq!(
        bound(store, "t1", t).await,
        Some(BoundFacts {
            session_revoked: true,
            subject_disabled: true,
            subject_revoked_before: Some(t),
            registered_at: t,
        })
    );
    assert!(
        store
            .unregister_session(
                &app(),
                &Issuer::parse(IDP_U).expect("iss"),
                &SessionId::parse("sïd").expect("sid"),
                t
            )
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "t1", t).await, None);
}

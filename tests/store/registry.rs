//! The session registry: bindings, and how revocations reach registered
//! token ids.

use crate::fixtures::*;

// ---------------------------------------------------------------------------
// Session registry
// ---------------------------------------------------------------------------

pub(crate) async fn a_registered_token_id_reports_its_binding(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let reg = registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600));

    // Act
    let outcome = register(store, &reg, t).await;

    // Assert
    assert_eq!(outcome, Registration::Registered);
    assert_eq!(bound(store, "t1", t).await, clean_binding(t));
    assert_eq!(bound(store, "t2", at(t, 10)).await, clean_binding(t));
    assert_eq!(bound(store, "t3", t).await, None, "never registered");
    assert_eq!(verdict_by_jti(store, "t1", None, t).await, Verdict::Active);
    assert!(
        all_events(store).await.is_empty(),
        "a registration is not an audit event"
    );
    // The binding is reported beside the facts of the keys asked for.
    let alice = subject(IDP_A, "alice");
    let token = jti("t1");
    let both = Lookup {
        jti: Some(&token),
        subject: Some(&alice),
        ..Lookup::default()
    };
    assert_eq!(facts(store, both, t).await.bound, clean_binding(t));
}

pub(crate) async fn revoking_the_bound_session_reaches_the_token(store: &impl RevocationStore) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "alice", &["t2"], at(t, 3600)),
        t,
    )
    .await;

    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), at(t, 5)).await;

    let later = at(t, 10);
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert!(t1.session_revoked, "{t1:?}");
    assert!(!t1.subject_disabled);
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(t));
    assert_eq!(
        verdict_by_jti(store, "t2", None, later).await,
        Verdict::Active,
        "another session of the same subject"
    );
}

pub(crate) async fn disabling_the_bound_subject_reaches_the_token(store: &impl RevocationStore) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s2"), "bob", &["t2"], at(t, 3600)),
        t,
    )
    .await;

    disable_subject(store, subject(IDP_A, "alice"), None, at(t, 5)).await;

    let later = at(t, 10);
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert!(t1.subject_disabled, "{t1:?}");
    assert!(!t1.session_revoked);
    assert_eq!(
        verdict_by_jti(store, "t1", Some(later), later).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(t));

    enable_subject(store, subject(IDP_A, "alice"), at(t, 20)).await;
    assert_eq!(
        bound(store, "t1", at(t, 20)).await,
        clean_binding(t),
        "enabling lifts it again"
    );
}

pub(crate) async fn a_revoked_before_mark_after_registration_kills_bound_tokens_one_before_does_not(
    store: &impl RevocationStore,
) {
    // Arrange: registered at t + 10.
    let t = now();
    let registered = at(t, 10);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        registered,
    )
    .await;
    let alice = subject(IDP_A, "alice");
    let mark = |before| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at: at(t, 3600),
    };
    let later = at(t, 30);

    // A mark before the registration leaves the token alone...
    apply(store, mark(at(t, 9)), later).await;
    let t1 = bound(store, "t1", later).await.expect("t1 is bound");
    assert_eq!(t1.subject_revoked_before, Some(at(t, 9)));
    assert_eq!(t1.registered_at, registered);
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Active
    );

    // ...one at or after it kills it, unless the check shows a later iat.
    apply(store, mark(registered), later).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    apply(store, mark(at(t, 20)), later).await;
    assert_eq!(
        verdict_by_jti(store, "t1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    assert_eq!(
        verdict_by_jti(store, "t1", Some(at(t, 21)), later).await,
        Verdict::Active,
        "a token issued after the mark"
    );
}

/// What a check that knows only `(iss, sid)` answers.
pub(crate) async fn verdict_by_sid(
    store: &impl RevocationStore,
    iss: &str,
    sid: &str,
    iat: Option<UnixTime>,
    now: UnixTime,
) -> Verdict {
    let request = CheckRequest::new(
        Some(Issuer::parse(iss).expect("iss")),
        None,
        Some(SessionId::parse(sid).expect("sid")),
        None,
        iat,
    )
    .expect("request");
    decide(&request, &facts(store, request.lookup(), now).await)
}

pub(crate) async fn a_sub_only_mark_reaches_a_registered_session_checked_by_sid(
    store: &impl RevocationStore,
) {
    // Arrange: s1 of alice registered at t + 10.
    let t = now();
    let registered = at(t, 10);
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        registered,
    )
    .await;
    let alice = subject(IDP_A, "alice");
    let mark = |before| Change::SubjectRevokedBefore {
        subject: alice.clone(),
        before,
        expires_at: at(t, 3600),
    };
    let later = at(t, 30);
    let found = facts(store, session_lookup(&session(IDP_A, "s1")), later)
        .await
        .session_bound;
    assert_eq!(found, clean_binding(registered), "the session's binding");

    // A mark before the registration leaves the session alone...
    apply(store, mark(at(t, 9)), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Active
    );

    // ...one at (fail closed) or after it kills it, unless the check shows
    // a later iat.
    apply(store, mark(registered), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    apply(store, mark(at(t, 20)), later).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", None, later).await,
        Verdict::Inactive(Reason::SubjectRevokedBefore)
    );
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", Some(at(t, 21)), later).await,
        Verdict::Active,
        "a token issued after the mark"
    );
    // Another issuer's session of the same sid, and an unregistered sid,
    // know nothing of alice.
    assert_eq!(
        verdict_by_sid(store, IDP_B, "s1", None, later).await,
        Verdict::Active
    );
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s2", None, later).await,
        Verdict::Active
    );
}

pub(crate) async fn a_disabled_subject_reaches_a_registered_session_checked_by_sid(
    store: &impl RevocationStore,
) {
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    disable_subject(store, subject(IDP_A, "alice"), None, t).await;
    assert_eq!(
        verdict_by_sid(store, IDP_A, "s1", Some(at(t, 5)), at(t, 10)).await,
        Verdict::Inactive(Reason::SubjectDisabled)
    );
}

pub(crate) async fn a_session_binding_keeps_its_first_subject_and_registration(
    store: &impl RevocationStore,
) {
    // Arrange: alice's s1 registered at t, then again at t + 50 (same
    // subject, longer life), then by another key naming bob.
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t2"], at(t, 300)),
        at(t, 50),
    )
    .await;
    register(
        store,
        &registration_by(
            &owner("other"),
            IDP_A,
            Some("s1"),
            "bob",
            &["t3"],
            at(t, 900),
        ),
        at(t, 60),
    )
    .await;

    // Assert: alice's, from t, until t + 300.
    let states = store
        .read_states(&[MirroredKey::SessionBinding(session(IDP_A, "s1"))])
        .await
        .expect("read_states");
    assert_eq!(
        states,
        [FactUpdate::SessionBound {
            session: session(IDP_A, "s1"),
            subject: subject(IDP_A, "alice"),
            registered_at: t,
            expires_at: at(t, 300),
        }]
    );
    let s1 = session(IDP_A, "s1");
    assert_eq!(
        facts(store, session_lookup(&s1), at(t, 299))
            .await
            .session_bound,
        clean_binding(t)
    );
    assert_eq!(
        facts(store, session_lookup(&s1), at(t, 300))
            .await
            .session_bound,
        None,
        "gone at its expiry"
    );
}

pub(crate) async fn re_registration_adds_ids_and_keeps_the_first_registered_at(
    store: &impl RevocationStore,
) {
    // Arrange
    let t = now();
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;

    // Act: a token refresh registers a new id (and the old one again) with
    // a later expiry.
    let refreshed = at(t, 50);
    let outcome = register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t2", "t1"], at(t, 300)),
        refreshed,
    )
    .await;

    // Assert
    assert_eq!(outcome, Registration::Registered);
    let later = at(t, 200);
    assert_eq!(
        bound(store, "t1", later).await,
        clean_binding(t),
        "t1 keeps its first registered_at and gains the later expiry"
    );
    assert_eq!(bound(store, "t2", later).await, clean_binding(refreshed));
    // A shorter registration does not cut the binding short.
    register(
        store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        later,
    )
    .await;
    assert_eq!(bound(store, "t1", at(t, 250)).await, clean_binding(t));
    // Both ids belong to the session: a local logout removes both.
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    assert!(
        store
            .unregister_session(&app(), &iss, &sid, at(t, 250))
            .await
            .expect("unregister")
            .is_some()
    );
    assert_eq!(bound(store, "t1", at(t, 250)).await, None);
    assert_eq!(bound(store, "t2", at(t, 250)).await, None);
}

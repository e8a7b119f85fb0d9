//! Bounds and ownership of registrations: session caps, per-key volumes,
//! one key cannot touch another's registrations (issue 17, items 3 and 4).

use crate::fixtures::*;

// ---------------------------------------------------------------------------
// Bounds and ownership of registrations (issue 17, items 3 and 4)
// ---------------------------------------------------------------------------

pub(crate) fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

pub(crate) fn limited(
    owner: &Owner,
    sid: &str,
    token_ids: &[String],
    per_session: usize,
) -> SessionRegistration {
    let limits = RegistrationLimits {
        per_registration: 100,
        per_session,
        per_key: usize::MAX,
    };
    SessionRegistration::new(
        owner.clone(),
        limits,
        Issuer::parse(IDP_A).expect("valid iss"),
        Some(SessionId::parse(sid).expect("valid sid")),
        SubjectId::parse("alice").expect("valid sub"),
        token_ids.iter().map(|id| jti(id)).collect(),
        at(now(), 3600),
    )
    .expect("valid registration")
}

pub(crate) async fn a_session_holds_token_ids_up_to_its_cap_and_not_one_more(
    store: &impl RevocationStore,
) {
    // Arrange: a cap of 5; 3 ids, then 2 more reach it exactly.
    let t = now();
    let first = ids("t", 5);
    let reg = |token_ids: &[String]| limited(&app(), "s1", token_ids, 5);
    assert_eq!(
        register(store, &reg(&first[..3]), t).await,
        Registration::Registered
    );
    assert_eq!(
        register(store, &reg(&first[3..]), t).await,
        Registration::Registered,
        "at the cap"
    );

    // Act: ids the session holds already are no new ones; one more is.
    let again = register(store, &reg(&first[..2]), t).await;
    let past = register(store, &reg(&["t0".into(), "t5".into()]), t).await;

    // Assert
    assert_eq!(
        again,
        Registration::Registered,
        "re-registering adds nothing"
    );
    assert_eq!(
        past,
        Registration::SessionFull {
            held: 5,
            adding: 1,
            max: 5
        },
        "one past the cap"
    );
    assert_eq!(
        bound(store, "t5", t).await,
        None,
        "a full session stores nothing"
    );
    assert_eq!(bound(store, "t4", t).await, clean_binding(t));
    // A session without a sid has no record, so no session cap.
}

/// A registration by `owner` under a volume of `per_key` live ids.
pub(crate) fn with_volume(
    owner: &Owner,
    sid: Option<&str>,
    token_ids: &[&str],
    per_key: usize,
    expires_at: UnixTime,
) -> SessionRegistration {
    SessionRegistration::new(
        owner.clone(),
        RegistrationLimits {
            per_registration: 100,
            per_session: 1000,
            per_key,
        },
        Issuer::parse(IDP_A).expect("valid iss"),
        sid.map(|sid| SessionId::parse(sid).expect("valid sid")),
        SubjectId::parse("alice").expect("valid sub"),
        token_ids.iter().map(|id| jti(id)).collect(),
        expires_at,
    )
    .expect("valid registration")
}

pub(crate) async fn held(store: &impl RevocationStore, owner: &Owner, now: UnixTime) -> usize {
    store
        .token_ids_held(owner, now)
        .await
        .expect("token_ids_held")
}

pub(crate) async fn a_key_holds_token_ids_up_to_its_volume_and_not_one_more(
    store: &impl RevocationStore,
) {
    // Arrange: a volume of 5, filled over two sessions and a registration
    // without a sid.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    let reg = |sid, token_ids: &[&str]| with_volume(&a, sid, token_ids, 5, at(t, 3600));
    for (sid, token_ids) in [
        (Some("s1"), &["v0", "v1"][..]),
        (Some("s2"), &["v2", "v3"][..]),
        (None, &["v4"][..]),
    ] {
        assert_eq!(
            register(store, &reg(sid, token_ids), t).await,
            Registration::Registered
        );
    }
    assert_eq!(held(store, &a, t).await, 5, "at the volume");

    // Act: refreshing held ids adds none; one new id is one too many.
    let refresh = register(
        store,
        &with_volume(&a, Some("s1"), &["v0", "v1"], 5, at(t, 7200)),
        t,
    )
    .await;
    let past = register(store, &reg(Some("s3"), &["v1", "v5"]), t).await;
    let other = register(
        store,
        &with_volume(
            &b,
            Some("s1"),
            &["w0", "w1", "w2", "w3", "w4"],
            5,
            at(t, 3600),
        ),
        t,
    )
    .await;

    // Assert
    assert_eq!(refresh, Registration::Registered, "a refresh is no new id");
    assert_eq!(
        past,
        Registration::KeyFull {
            held: 5,
            adding: 1,
            max: 5
        },
        "one past the volume (v1 is held already)"
    );
    assert_eq!(
        bound(store, "v5", t).await,
        None,
        "a full key stores nothing"
    );
    assert_eq!(held(store, &a, t).await, 5);
    assert_eq!(
        other,
        Registration::Registered,
        "each key has its own volume"
    );
    assert_eq!(held(store, &b, t).await, 5);
}

pub(crate) async fn expiry_frees_room_in_a_key_volume_exactly_at_the_expiry(
    store: &impl RevocationStore,
) {
    // Arrange: a volume of 3; two ids end at t+10, one at t+3600.
    let t = now();
    let a = owner("app-a");
    let short = with_volume(&a, Some("s1"), &["e0", "e1"], 3, at(t, 10));
    let long = with_volume(&a, Some("s2"), &["e2"], 3, at(t, 3600));
    assert_eq!(register(store, &short, t).await, Registration::Registered);
    assert_eq!(register(store, &long, t).await, Registration::Registered);
    let next = with_volume(&a, Some("s3"), &["x0", "x1"], 3, at(t, 3600));

    // Act + Assert: one second before the expiry the key is still full...
    assert_eq!(held(store, &a, at(t, 9)).await, 3);
    assert_eq!(
        register(store, &next, at(t, 9)).await,
        Registration::KeyFull {
            held: 3,
            adding: 2,
            max: 3
        }
    );
    // ...and at the expiry the two expired ids no longer count.
    assert_eq!(held(store, &a, at(t, 10)).await, 1);
    assert_eq!(
        register(store, &next, at(t, 10)).await,
        Registration::Registered
    );
    assert_eq!(held(store, &a, at(t, 10)).await, 3);
    // Re-registering an expired id counts it again, once.
    assert_eq!(
        register(
            store,
            &with_volume(&a, Some("s1"), &["e0"], 3, at(t, 3600)),
            at(t, 11)
        )
        .await,
        Registration::KeyFull {
            held: 3,
            adding: 1,
            max: 3
        }
    );
}

pub(crate) async fn unregistering_frees_room_in_a_key_volume(store: &impl RevocationStore) {
    let t = now();
    let a = owner("app-a");
    let first = with_volume(&a, Some("s1"), &["u0", "u1", "u2"], 3, at(t, 3600));
    assert_eq!(register(store, &first, t).await, Registration::Registered);
    let next = with_volume(&a, Some("s2"), &["u3"], 3, at(t, 3600));
    assert!(matches!(
        register(store, &next, t).await,
        Registration::KeyFull { held: 3, .. }
    ));

    // Act: a local logout of s1.
    let removed = store
        .unregister_session(
            &a,
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            t,
        )
        .await
        .expect("unregister");

    // Assert
    assert_eq!(removed.map(|ids| ids.len()), Some(3));
    assert_eq!(held(store, &a, t).await, 0);
    assert_eq!(register(store, &next, t).await, Registration::Registered);
    assert_eq!(held(store, &a, t).await, 1);
}

pub(crate) async fn the_session_cap_counts_each_owner_separately(store: &impl RevocationStore) {
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    assert_eq!(
        register(store, &limited(&a, "s1", &ids("a", 3), 3), t).await,
        Registration::Registered
    );
    assert_eq!(
        register(store, &limited(&b, "s1", &ids("b", 3), 3), t).await,
        Registration::Registered,
        "another key's registration of the same session has its own count"
    );
}

pub(crate) async fn another_key_cannot_unregister_a_registration(store: &impl RevocationStore) {
    // Arrange: app A registers t1 under s1.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t2"], at(t, 3600)),
        t,
    )
    .await;
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );

    // Act: app B forgets "the session".
    let removed = store
        .unregister_session(&b, &iss, &sid, t)
        .await
        .expect("unregister");
    revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;

    // Assert: only B's own registration went; A's token still dies with
    // the session.
    assert_eq!(removed, Some(vec![jti("t2")]));
    assert_eq!(
        verdict_by_jti(store, "t1", None, t).await,
        Verdict::Inactive(Reason::SessionRevoked)
    );
    assert_eq!(
        store
            .unregister_session(&a, &iss, &sid, t)
            .await
            .expect("unregister"),
        Some(vec![jti("t1")]),
        "the owner still can"
    );
}

pub(crate) async fn another_key_cannot_rebind_or_refresh_a_token_id(store: &impl RevocationStore) {
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 100)),
        t,
    )
    .await;

    // Act: B registers A's token id under the same session, later.
    register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        at(t, 5),
    )
    .await;
    let removed = store
        .unregister_session(
            &b,
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            at(t, 6),
        )
        .await
        .expect("unregister");

    // Assert: the binding is A's as it was (B's record held nothing).
    assert_eq!(removed, Some(vec![]), "B's registration held no token id");
    assert_eq!(bound(store, "t1", at(t, 6)).await, clean_binding(t));
    assert_eq!(
        bound(store, "t1", at(t, 100)).await,
        None,
        "B did not extend A's binding"
    );
}

pub(crate) async fn a_refused_registration_does_not_revoke_another_keys_token_ids(
    store: &impl RevocationStore,
) {
    // Arrange: A registered t1; the session is then logged out.
    let t = now();
    let (a, b) = (owner("app-a"), owner("app-b"));
    register(
        store,
        &registration_by(&a, IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600)),
        t,
    )
    .await;
    let revoked = revoke_session(store, session(IDP_A, "s1"), at(t, 3600), t).await;

    // Act: B registers A's t1 and its own t2 under the revoked session.
    let outcome = register(
        store,
        &registration_by(&b, IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 3600)),
        t,
    )
    .await;

    // Assert: refused; only B's own id is born revoked.
    let Registration::Refused { reason, event } = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    assert_eq!(reason, Reason::SessionRevoked);
    assert_eq!(
        event.map(|e| e.change),
        Some(Change::TokensRevoked {
            jtis: vec![jti("t2")],
            expires_at: at(t, 3600)
        })
    );
    assert!(
        !facts(store, token_lookup(&jti("t1")), t)
            .await
            .token_revoked
    );
    assert!(
        facts(store, token_lookup(&jti("t2")), t)
            .await
            .token_revoked
    );
    let events = all_events(store).await;
    assert_eq!(events.len(), 2, "the logout and t2's revocation");
    assert_eq!(events[1], revoked);
}

pub(crate) async fn a_refusal_of_a_hundred_ids_writes_one_event(store: &impl RevocationStore) {
    // Arrange: a disabled subject; ids with characters JSON must escape.
    let t = now();
    disable_subject(store, subject(IDP_A, "alice"), None, t).await;
    let mut token_ids = ids("t", 98);
    token_ids.push(r#"quote"d"#.into());
    token_ids.push(r"back\slash/".into());

    // Act
    let reg = limited(&app(), "s1", &token_ids, 1_000);
    let outcome = register(store, &reg, t).await;

    // Assert
    let Registration::Refused { event, .. } = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    let event = event.expect("one event");
    let events = all_events(store).await;
    assert_eq!(events.len(), 2, "the disable and one event for 100 ids");
    assert_eq!(events[0], event);
    assert_eq!(
        event.change,
        Change::TokensRevoked {
            jtis: token_ids.iter().map(|id| jti(id)).collect(),
            expires_at: reg.expires_at(),
        }
    );
    for id in &token_ids {
        assert!(
            facts(store, token_lookup(&jti(id)), t).await.token_revoked,
            "{id}"
        );
    }
}

pub(crate) async fn an_owner_unregisters_every_token_id_of_a_large_session(
    store: &impl RevocationStore,
) {
    // Arrange: a session of 1,000 ids (10 registrations of 100), more than
    // one batch of any store.
    let t = now();
    let all = ids("big-", 1_000);
    for chunk in all.chunks(100) {
        assert_eq!(
            register(store, &limited(&app(), "s1", chunk, 1_000), t).await,
            Registration::Registered
        );
    }

    // Act
    let removed = store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            t,
        )
        .await
        .expect("unregister")
        .expect("a live record");

    // Assert
    let mut removed: Vec<String> = removed.iter().map(|id| id.as_ref().to_owned()).collect();
    removed.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(removed, expected);
    for id in [&all[0], &all[499], &all[999]] {
        assert_eq!(bound(store, id, t).await, None, "{id}");
    }
    assert_eq!(
        register(store, &limited(&app(), "s1", &ids("again-", 100), 100), t).await,
        Registration::Registered,
        "the emptied session counts from zero"
    );
}

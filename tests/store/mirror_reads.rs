//! What a mirror reads: current states and snapshots.

use crate::fixtures::*;

// ---------------------------------------------------------------------------
// What a mirror reads: current states and snapshots
// ---------------------------------------------------------------------------

/// Writes one fact of every mirrored kind (and a seen marker and a session
/// record, which are not mirrored); returns the updates a mirror must hold.
pub(crate) async fn one_of_each(store: &impl RevocationStore, t: UnixTime) -> Vec<FactUpdate> {
    let alice = subject(IDP_U, "alice");
    revoke_token(store, jti("t1"), at(t, 100), t).await;
    revoke_token(store, jti("t1"), at(t, 50), t).await;
    revoke_session(store, session(IDP_A, "s1"), at(t, 200), t).await;
    disable_subject(store, alice.clone(), None, t).await;
    revoke_before(store, alice.clone(), at(t, -5), at(t, 300), t).await;
    store
        .apply_once(
            &seen(IDP_A, "logout-1", at(t, 60)),
            Change::TokenRevoked {
                jti: jti("t2"),
                expires_at: at(t, 400),
            },
            by("backchannel:test"),
            t,
        )
        .await
        .expect("apply_once");
    register(
        store,
        &registration(IDP_B, Some("s9"), "bob", &["r1"], at(t, 500)),
        t,
    )
    .await;
    register(
        store,
        &registration(IDP_B, None, "carol", &["r2"], at(t, 600)),
        t,
    )
    .await;
    vec![
        FactUpdate::Token {
            jti: jti("t1"),
            expires_at: at(t, 100),
        },
        FactUpdate::Session {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 200),
        },
        FactUpdate::SubjectDisabled {
            subject: alice.clone(),
            expires_at: None,
        },
        FactUpdate::SubjectRevokedBefore {
            subject: alice,
            before: at(t, -5),
            expires_at: at(t, 300),
        },
        FactUpdate::Token {
            jti: jti("t2"),
            expires_at: at(t, 400),
        },
        FactUpdate::Binding {
            jti: jti("r1"),
            session: Some(session(IDP_B, "s9")),
            subject: subject(IDP_B, "bob"),
            registered_at: t,
            expires_at: at(t, 500),
        },
        FactUpdate::SessionBound {
            session: session(IDP_B, "s9"),
            subject: subject(IDP_B, "bob"),
            registered_at: t,
            expires_at: at(t, 500),
        },
        FactUpdate::Binding {
            jti: jti("r2"),
            session: None,
            subject: subject(IDP_B, "carol"),
            registered_at: t,
            expires_at: at(t, 600),
        },
    ]
}

pub(crate) fn key_of(update: &FactUpdate) -> MirroredKey {
    match update {
        FactUpdate::Token { jti, .. } => MirroredKey::Token(jti.clone()),
        FactUpdate::Session { session, .. } => MirroredKey::Session(session.clone()),
        FactUpdate::SubjectDisabled { subject, .. } | FactUpdate::SubjectEnabled { subject } => {
            MirroredKey::SubjectDisabled(subject.clone())
        }
        FactUpdate::SubjectRevokedBefore { subject, .. } => {
            MirroredKey::SubjectRevokedBefore(subject.clone())
        }
        FactUpdate::Binding { jti, .. } | FactUpdate::Unbound { jti } => {
            MirroredKey::Binding(jti.clone())
        }
        FactUpdate::SessionBound { session, .. } | FactUpdate::SessionUnbound { session } => {
            MirroredKey::SessionBinding(session.clone())
        }
    }
}

pub(crate) fn sorted(mut updates: Vec<FactUpdate>) -> Vec<FactUpdate> {
    updates.sort_by_key(|u| format!("{u:?}"));
    updates
}

pub(crate) async fn read_states_reports_each_mirrored_fact_as_stored(store: &impl RevocationStore) {
    let t = now();
    let expected = one_of_each(store, t).await;
    let keys: Vec<MirroredKey> = expected.iter().map(key_of).collect();

    let states = store.read_states(&keys).await.expect("read_states");
    assert_eq!(states, expected);

    // Absent keys come back as the updates that remove them.
    let alice = subject(IDP_U, "alice");
    enable_subject(store, alice.clone(), t).await;
    store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_B).expect("iss"),
            &SessionId::parse("s9").expect("sid"),
            t,
        )
        .await
        .expect("unregister");
    let absent = [
        MirroredKey::SubjectDisabled(alice),
        MirroredKey::Binding(jti("r1")),
        MirroredKey::Token(jti("never-revoked")),
        MirroredKey::SubjectRevokedBefore(subject(IDP_A, "nobody")),
        MirroredKey::SessionBinding(session(IDP_A, "nobody")),
    ];
    let states = store.read_states(&absent).await.expect("read_states");
    let gone = UnixTime::from_secs(0);
    assert_eq!(
        states,
        [
            FactUpdate::SubjectEnabled {
                subject: subject(IDP_U, "alice")
            },
            FactUpdate::Unbound { jti: jti("r1") },
            FactUpdate::Token {
                jti: jti("never-revoked"),
                expires_at: gone
            },
            FactUpdate::SubjectRevokedBefore {
                subject: subject(IDP_A, "nobody"),
                before: gone,
                expires_at: gone,
            },
            FactUpdate::SessionUnbound {
                session: session(IDP_A, "nobody"),
            },
        ]
    );
    assert!(store.read_states(&[]).await.expect("empty read").is_empty());
}

pub(crate) async fn a_snapshot_holds_every_mirrored_fact_and_nothing_else(
    store: &impl RevocationStore,
) {
    let t = now();
    let expected = one_of_each(store, t).await;
    let mut seen_updates = Vec::new();
    store
        .snapshot(&mut |batch| seen_updates.extend(batch))
        .await
        .expect("snapshot");
    assert_eq!(sorted(seen_updates), sorted(expected));
}

//! A subject's session registry (`subject_registrations`, issue 16 part
//! 3): its live registered token ids with their sessions, owners and
//! times, the latest expiry first, bounded by a limit, kept in step with
//! registration, local logout and expiry.

use crate::fixtures::*;

/// `(jti, sid, owner, registered_at, expires_at)` of each listed id.
type Row = (String, Option<String>, Option<String>, i64, i64);

async fn listed(
    store: &impl RevocationStore,
    iss: &str,
    sub: &str,
    limit: usize,
    now: UnixTime,
) -> (Vec<Row>, bool) {
    let list = store
        .subject_registrations(&subject(iss, sub), limit, now)
        .await
        .expect("subject_registrations");
    let rows = list
        .tokens
        .into_iter()
        .map(|t| {
            (
                t.jti.as_ref().to_owned(),
                t.sid.map(|sid| sid.as_ref().to_owned()),
                t.owner.map(|owner| owner.as_ref().to_owned()),
                t.registered_at.as_secs(),
                t.expires_at.as_secs(),
            )
        })
        .collect();
    (rows, list.truncated)
}

fn row(
    jti: &str,
    sid: Option<&str>,
    owner: &str,
    registered_at: UnixTime,
    expires_at: UnixTime,
) -> Row {
    (
        jti.to_owned(),
        sid.map(str::to_owned),
        Some(owner.to_owned()),
        registered_at.as_secs(),
        expires_at.as_secs(),
    )
}

pub(crate) async fn a_subjects_registry_lists_its_live_token_ids_latest_expiry_first(
    store: &impl RevocationStore,
) {
    // Arrange: alice at IDP_A in two sessions and once without a sid (by
    // another key); bob at IDP_A and alice at IDP_B are other subjects.
    let t = now();
    let b = owner("app-b");
    for (owner, sid, sub, iss, ids, secs) in [
        (app(), Some("s1"), "alice", IDP_A, &["t1", "t2"][..], 3600),
        (app(), Some("s2"), "alice", IDP_A, &["t3"][..], 7200),
        (b.clone(), None, "alice", IDP_A, &["t4"][..], 1800),
        (app(), Some("s1"), "bob", IDP_A, &["t5"][..], 9000),
        (app(), Some("s9"), "alice", IDP_B, &["t6"][..], 9000),
    ] {
        let reg = registration_by(&owner, iss, sid, sub, ids, at(t, secs));
        assert_eq!(register(store, &reg, t).await, Registration::Registered);
    }

    // Act
    let (rows, truncated) = listed(store, IDP_A, "alice", 10, at(t, 1)).await;

    // Assert: latest expiry first (ties: the token id, descending).
    assert_eq!(
        rows,
        [
            row("t3", Some("s2"), "app", t, at(t, 7200)),
            row("t2", Some("s1"), "app", t, at(t, 3600)),
            row("t1", Some("s1"), "app", t, at(t, 3600)),
            row("t4", None, "app-b", t, at(t, 1800)),
        ]
    );
    assert!(!truncated, "every live id fits the limit");
    let (bob, _) = listed(store, IDP_A, "bob", 10, at(t, 1)).await;
    assert_eq!(bob, [row("t5", Some("s1"), "app", t, at(t, 9000))]);
    let (nobody, truncated) = listed(store, IDP_A, "carol", 10, at(t, 1)).await;
    assert!(
        nobody.is_empty() && !truncated,
        "a subject without registrations"
    );
}

pub(crate) async fn a_subjects_registry_is_bounded_by_the_limit(store: &impl RevocationStore) {
    // Arrange: five ids, each expiring a minute after the one before.
    let t = now();
    for i in 0..5i64 {
        let reg = registration(
            IDP_A,
            Some(&format!("s{i}")),
            "alice",
            &[&format!("t{i}")],
            at(t, 3600 + 60 * i),
        );
        assert_eq!(register(store, &reg, t).await, Registration::Registered);
    }

    // Act
    let (two, two_truncated) = listed(store, IDP_A, "alice", 2, t).await;
    let (five, five_truncated) = listed(store, IDP_A, "alice", 5, t).await;

    // Assert: the latest expiries are kept, the rest is said to exist.
    let jtis = |rows: &[Row]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    assert_eq!(jtis(&two), ["t4", "t3"]);
    assert!(two_truncated, "three more live ids exist");
    assert_eq!(jtis(&five), ["t4", "t3", "t2", "t1", "t0"]);
    assert!(!five_truncated, "exactly the limit is not truncated");
}

pub(crate) async fn a_local_logout_removes_its_token_ids_from_the_subjects_registry(
    store: &impl RevocationStore,
) {
    // Arrange
    let t = now();
    for (sid, ids) in [("s1", &["t1", "t2"][..]), ("s2", &["t3"][..])] {
        let reg = registration(IDP_A, Some(sid), "alice", ids, at(t, 3600));
        assert_eq!(register(store, &reg, t).await, Registration::Registered);
    }

    // Act
    store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_A).expect("iss"),
            &SessionId::parse("s1").expect("sid"),
            at(t, 1),
        )
        .await
        .expect("unregister")
        .expect("a live record");

    // Assert: only the other session is left, and the limit counts it only.
    let (rows, truncated) = listed(store, IDP_A, "alice", 1, at(t, 2)).await;
    assert_eq!(rows, [row("t3", Some("s2"), "app", t, at(t, 3600))]);
    assert!(!truncated, "the unregistered ids are not counted either");
}

pub(crate) async fn expired_token_ids_leave_the_subjects_registry_and_a_refresh_moves_them(
    store: &impl RevocationStore,
) {
    // Arrange: t1 for 10 s, t2 for 20 s.
    let t = now();
    let reg = |ids: &[&str], secs| registration(IDP_A, Some("s1"), "alice", ids, at(t, secs));
    assert_eq!(
        register(store, &reg(&["t1"], 10), t).await,
        Registration::Registered
    );
    assert_eq!(
        register(store, &reg(&["t2"], 20), t).await,
        Registration::Registered
    );

    // Act + Assert: gone exactly at its expiry.
    let (before, _) = listed(store, IDP_A, "alice", 10, at(t, 9)).await;
    assert_eq!(
        before,
        [
            row("t2", Some("s1"), "app", t, at(t, 20)),
            row("t1", Some("s1"), "app", t, at(t, 10)),
        ]
    );
    let (after, _) = listed(store, IDP_A, "alice", 10, at(t, 10)).await;
    assert_eq!(after, [row("t2", Some("s1"), "app", t, at(t, 20))]);

    // A refresh of t2 moves it to its new expiry, listed once, first
    // registration kept.
    assert_eq!(
        register(store, &reg(&["t2"], 60), at(t, 11)).await,
        Registration::Registered
    );
    let (refreshed, truncated) = listed(store, IDP_A, "alice", 1, at(t, 12)).await;
    assert_eq!(refreshed, [row("t2", Some("s1"), "app", t, at(t, 60))]);
    assert!(!truncated, "t2 is listed once, under its new expiry only");
    let (late, _) = listed(store, IDP_A, "alice", 10, at(t, 60)).await;
    assert!(late.is_empty(), "nothing is live at the last expiry");
}

pub(crate) async fn a_token_id_bound_to_another_subject_is_not_in_the_registry(
    store: &impl RevocationStore,
) {
    // Arrange: alice binds x first; bob's registration of x does not move it.
    let t = now();
    let alice = registration(IDP_A, Some("s1"), "alice", &["x"], at(t, 3600));
    let bob = registration(IDP_A, Some("s2"), "bob", &["x", "y"], at(t, 3600));
    assert_eq!(register(store, &alice, t).await, Registration::Registered);
    assert_eq!(register(store, &bob, t).await, Registration::Registered);

    // Act
    let (alice_rows, _) = listed(store, IDP_A, "alice", 10, t).await;
    let (bob_rows, _) = listed(store, IDP_A, "bob", 10, t).await;

    // Assert
    assert_eq!(alice_rows, [row("x", Some("s1"), "app", t, at(t, 3600))]);
    assert_eq!(bob_rows, [row("y", Some("s2"), "app", t, at(t, 3600))]);
}

pub(crate) async fn a_refused_registration_is_not_in_the_registry(store: &impl RevocationStore) {
    // Arrange: alice is disabled, so her registration is refused.
    let t = now();
    disable_subject(store, subject(IDP_A, "alice"), None, t).await;
    let reg = registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 3600));
    assert!(matches!(
        register(store, &reg, t).await,
        Registration::Refused { .. }
    ));

    // Act
    let (rows, truncated) = listed(store, IDP_A, "alice", 10, t).await;

    // Assert: its ids are born revoked, not registered.
    assert!(rows.is_empty() && !truncated);
}

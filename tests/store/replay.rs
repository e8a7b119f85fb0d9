//! Replay protection: `apply_once` and its seen markers.

use crate::fixtures::*;

// ---------------------------------------------------------------------------
// Replay protection: apply_once
// ---------------------------------------------------------------------------

pub(crate) async fn apply_once_applies_then_ignores_a_replay(store: &impl RevocationStore) {
    // Arrange
    let t = now();
    let key = seen(IDP_A, "logout-1", at(t, 600));
    let ses = session(IDP_A, "s1");
    let change = Change::SessionRevoked {
        session: ses.clone(),
        expires_at: at(t, 3600),
    };
    let provenance = because("logout:idp-a", "back-channel logout");

    // Act
    let first = store
        .apply_once(&key, change.clone(), provenance.clone(), t)
        .await
        .expect("apply_once");
    let replay = store
        .apply_once(&key, change.clone(), provenance.clone(), at(t, 1))
        .await
        .expect("apply_once");

    // Assert: the first call is an ordinary apply, the second a no-op.
    let first = first.expect("the first call applies");
    assert_eq!(
        (&first.change, &first.actor, &first.reason, first.at),
        (&change, &provenance.actor, &provenance.reason, t)
    );
    assert_eq!(replay, None, "a replay applies again");
    assert_eq!(all_events(store).await, vec![first]);
    assert!(facts(store, session_lookup(&ses), t).await.session_revoked);
}

pub(crate) async fn concurrent_apply_once_with_one_key_applies_exactly_once(
    store: &impl RevocationStore,
) {
    // Arrange: 100 calls with one logout token, each revoking a token of
    // its own, so that the store shows which of them took effect.
    let t = now();
    let key = seen(IDP_A, "logout-1", at(t, 600));
    let calls = (0..100).map(|i| {
        let change = Change::TokenRevoked {
            jti: jti(&format!("t{i}")),
            expires_at: at(t, 3600),
        };
        store.apply_once(&key, change, by("logout:idp-a"), t)
    });

    // Act
    let results = join_all(calls).await;

    // Assert
    let applied: Vec<Event> = results
        .into_iter()
        .filter_map(|r| r.expect("apply_once"))
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(all_events(store).await, applied);
    let Change::TokenRevoked { jti: winner, .. } = &applied[0].change else {
        panic!("unexpected change {:?}", applied[0].change);
    };
    for i in 0..100 {
        let token = jti(&format!("t{i}"));
        assert_eq!(
            facts(store, token_lookup(&token), t).await.token_revoked,
            &token == winner,
            "t{i}"
        );
    }
}

pub(crate) async fn a_seen_marker_expires(store: &impl RevocationStore) {
    let t = now();
    let change = |i: i64| Change::TokenRevoked {
        jti: jti(&format!("t{i}")),
        expires_at: at(t, 3600),
    };
    let once = |key: SeenKey, change, now| async move {
        store
            .apply_once(&key, change, by("logout:idp-a"), now)
            .await
            .expect("apply_once")
    };

    let first = once(seen(IDP_A, "logout-1", at(t, 100)), change(1), t).await;
    let before_expiry = once(seen(IDP_A, "logout-1", at(t, 100)), change(2), at(t, 99)).await;
    // The same key at its expiry: applies again, and remembers again.
    let at_expiry = once(seen(IDP_A, "logout-1", at(t, 200)), change(3), at(t, 100)).await;
    let after = once(seen(IDP_A, "logout-1", at(t, 200)), change(4), at(t, 150)).await;

    assert!(first.is_some());
    assert_eq!(before_expiry, None, "the marker is live until expires_at");
    assert!(at_expiry.is_some(), "the marker is gone at expires_at");
    assert_eq!(after, None, "the new marker is live");
    let revoked: Vec<bool> = join_all((1..=4).map(|i| async move {
        facts(store, token_lookup(&jti(&format!("t{i}"))), at(t, 150))
            .await
            .token_revoked
    }))
    .await;
    assert_eq!(revoked, [true, false, true, false]);
}

pub(crate) async fn seen_markers_of_different_issuers_are_independent(
    store: &impl RevocationStore,
) {
    let t = now();
    let (at_a, at_b) = (
        seen(IDP_A, "logout-1", at(t, 600)),
        seen(IDP_B, "logout-1", at(t, 600)),
    );
    let change = |i: i64| Change::TokenRevoked {
        jti: jti(&format!("t{i}")),
        expires_at: at(t, 3600),
    };

    let a = store.apply_once(&at_a, change(1), by("logout:a"), t).await;
    let b = store.apply_once(&at_b, change(2), by("logout:b"), t).await;
    let a_again = store.apply_once(&at_a, change(3), by("logout:a"), t).await;

    assert!(a.expect("apply_once").is_some());
    assert!(
        b.expect("apply_once").is_some(),
        "the same jti from another issuer is not a replay"
    );
    assert_eq!(a_again.expect("apply_once"), None);
    assert_eq!(all_events(store).await.len(), 2);
}

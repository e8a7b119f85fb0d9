//! What the sweep removes, and what it and local logouts leave on disk.

use super::super::sweep::SWEEP_BATCH;
use super::*;

#[tokio::test]
async fn sweep_removes_expired_facts_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    apply(&store, token_revoked("gone", 150), 100).await;
    apply(&store, session_revoked("gone", 200), 100).await;
    apply(&store, token_revoked("kept", 201), 100).await;
    apply(&store, disabled("alice", None), 100).await;
    assert_eq!(stored_rows(&store), (4, 4));

    let removed = store.sweep(t(200)).await.unwrap();

    assert_eq!(removed, 2);
    assert_eq!(stored_rows(&store), (2, 2));
    assert!(token_facts(&store, "kept", 200).await.token_revoked);
    assert!(subject_facts(&store, "alice", 200).await.subject_disabled);
    assert_eq!(
        store.sweep(t(200)).await.unwrap(),
        0,
        "a second sweep finds nothing"
    );
}

#[tokio::test]
async fn sweep_follows_a_raised_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    apply(&store, token_revoked("t1", 150), 100).await;
    apply(&store, token_revoked("t1", 300), 100).await;

    assert_eq!(store.sweep(t(200)).await.unwrap(), 0);
    assert!(token_facts(&store, "t1", 200).await.token_revoked);
    assert_eq!(
        stored_rows(&store),
        (1, 1),
        "the old index entry was replaced"
    );
    assert_eq!(store.sweep(t(300)).await.unwrap(), 1);
    assert_eq!(stored_rows(&store), (0, 0));
}

#[tokio::test]
async fn sweep_clears_more_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let count = SWEEP_BATCH + 10;
    let txn = begin_write(&store.inner.db).unwrap();
    {
        let mut tables = FactTables::open(&txn).unwrap();
        for i in 0..count {
            tables
                .put(&format!("tok:{i}"), Fact::revocation(150))
                .unwrap();
        }
    }
    txn.commit().unwrap();

    assert_eq!(store.sweep(t(150)).await.unwrap(), count);
    assert_eq!(stored_rows(&store), (0, 0));
}

#[tokio::test]
async fn sweep_never_deletes_a_live_fact_behind_a_stale_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    apply(&store, token_revoked("t1", 500), 100).await;
    let txn = begin_write(&store.inner.db).unwrap();
    txn.open_table(EXPIRY)
        .unwrap()
        .insert((150, "tok:t1"), ())
        .unwrap();
    txn.commit().unwrap();

    let removed = store.sweep(t(200)).await.unwrap();

    assert_eq!(removed, 0);
    assert!(token_facts(&store, "t1", 200).await.token_revoked);
    assert_eq!(
        stored_rows(&store),
        (1, 1),
        "the stale entry is gone, the real one stays"
    );
}

#[tokio::test]
async fn sweep_trims_more_than_one_batch_of_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&settings(dir.path(), 5)).unwrap();
    let txn = begin_write(&store.inner.db).unwrap();
    {
        let mut events = txn.open_table(EVENTS).unwrap();
        for id in 1..=(SWEEP_BATCH as u64 * 2 + 7) {
            events.insert(id, b"{}".as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();

    store.sweep(t(100)).await.unwrap();

    let txn = store.inner.db.begin_read().unwrap();
    let events = txn.open_table(EVENTS).unwrap();
    assert_eq!(events.len().unwrap(), 5);
    assert_eq!(
        events.first().unwrap().unwrap().0.value(),
        SWEEP_BATCH as u64 * 2 + 3,
        "the oldest went first"
    );
}

#[tokio::test]
async fn sweep_trims_the_oldest_events_and_ids_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&settings(dir.path(), 3)).unwrap();
    for i in 0..5 {
        apply(&store, token_revoked(&format!("t{i}"), 500), 100).await;
    }

    store.sweep(t(100)).await.unwrap();

    assert_eq!(event_ids(&store, None, 10).await, ["5", "4", "3"]);
    assert_eq!(apply(&store, token_revoked("t5", 500), 100).await.id.0, "6");
}

#[tokio::test]
async fn event_ids_continue_after_every_event_is_trimmed_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(&settings(dir.path(), 1)).unwrap();
        for i in 0..3 {
            apply(&store, token_revoked(&format!("t{i}"), 500), 100).await;
        }
        store.sweep(t(100)).await.unwrap();
        assert_eq!(event_ids(&store, None, 10).await, ["3"]);
    }

    let store = EmbeddedStore::open(&settings(dir.path(), 1)).unwrap();
    let txn = begin_write(&store.inner.db).unwrap();
    txn.open_table(EVENTS).unwrap().pop_first().unwrap();
    txn.commit().unwrap();

    assert_eq!(apply(&store, token_revoked("t3", 500), 100).await.id.0, "4");
}

#[tokio::test]
async fn sweep_removes_expired_bindings_sessions_and_seen_markers() {
    // Arrange: a registration and a seen-marker that end at 200, and a
    // token revocation that outlives them.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .register_session(&registration("s1", &["t1", "t2"], 200), admin(), t(100))
        .await
        .unwrap();
    let seen = SeenKey {
        iss: Issuer::parse(ISS).unwrap(),
        jti: jti("logout-1"),
        expires_at: t(200),
    };
    store
        .apply_once(&seen, token_revoked("t9", 500), admin(), t(100))
        .await
        .unwrap();
    assert_eq!(
        registry_rows(&store),
        (3, 3, 6),
        "two bindings and the session's, one session, two token rows"
    );
    assert_eq!(subject_token_rows(&store), 2, "one per token binding");

    // Act
    let early = store.sweep(t(199)).await.unwrap();
    let removed = store.sweep(t(200)).await.unwrap();

    // Assert
    assert_eq!(early, 0);
    assert_eq!(
        removed, 5,
        "two bindings, the session's, one session, one marker"
    );
    assert_eq!(registry_rows(&store), (0, 0, 1));
    assert_eq!(subject_token_rows(&store), 0, "swept with the bindings");
    assert_eq!(stored_rows(&store), (1, 1), "the token revocation stays");
}

#[tokio::test]
async fn sweep_follows_a_raised_registration_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for expires_at in [150, 300] {
        store
            .register_session(&registration("s1", &["t1"], expires_at), admin(), t(100))
            .await
            .unwrap();
    }

    assert_eq!(store.sweep(t(200)).await.unwrap(), 0);
    assert_eq!(
        registry_rows(&store),
        (2, 2, 3),
        "the old index entries were replaced"
    );
    assert_eq!(subject_token_rows(&store), 1, "moved, not copied");
    assert!(token_facts(&store, "t1", 200).await.bound.is_some());
    assert_eq!(store.sweep(t(300)).await.unwrap(), 3);
    assert_eq!(registry_rows(&store), (0, 0, 0));
    assert_eq!(subject_token_rows(&store), 0);
}

/// Only the session's binding to its subject stays (until its expiry):
/// the session did belong to that subject.
#[tokio::test]
async fn unregister_leaves_no_rows_behind_but_the_session_binding() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .register_session(&registration("s1", &["t1", "t2"], 500), admin(), t(100))
        .await
        .unwrap();

    let iss = Issuer::parse(ISS).unwrap();
    let sid = SessionId::parse("s1").unwrap();
    assert!(
        store
            .unregister_session(&Owner::parse("app").unwrap(), &iss, &sid, t(150))
            .await
            .unwrap()
            .is_some()
    );

    assert_eq!(registry_rows(&store), (1, 0, 1));
    assert_eq!(subject_token_rows(&store), 0, "unbound with the bindings");
    assert_eq!(store.sweep(t(500)).await.unwrap(), 1);
    assert_eq!(registry_rows(&store), (0, 0, 0));
}

#[tokio::test]
async fn an_undecodable_binding_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let txn = store.inner.db.begin_write().unwrap();
    txn.open_table(BINDINGS)
        .unwrap()
        .insert("bnd:t1", (500, b"{not json".as_slice()))
        .unwrap();
    txn.commit().unwrap();

    let id = jti("t1");
    let lookup = store
        .lookup(
            Lookup {
                jti: Some(&id),
                ..Lookup::default()
            },
            t(100),
        )
        .await;
    let registered = store
        .register_session(&registration("s1", &["t1"], 500), admin(), t(100))
        .await;

    assert!(matches!(lookup, Err(StoreError::Corrupt(_))), "{lookup:?}");
    assert!(
        matches!(registered, Err(StoreError::Corrupt(_))),
        "{registered:?}"
    );
    assert_eq!(registry_rows(&store), (1, 0, 0), "nothing was written");
}

//! The Redis snapshot index: built once, swept, and trusted only when whole.

use super::*;

/// The snapshot index's own record.
const INDEX: &str = "revokd-test:mirror";

/// Writes index entries as a write script would, into their buckets.
async fn index_put(
    store: &RedisStore,
    conn: &mut raw_redis::aio::MultiplexedConnection,
    entries: &[(&str, String)],
) {
    for (field, value) in entries {
        let _: i64 = raw_redis::cmd("HSET")
            .arg(store.index_bucket(field))
            .arg(*field)
            .arg(value)
            .query_async(conn)
            .await
            .expect("HSET");
    }
}

async fn snapshot_of(store: &RedisStore) -> Vec<FactUpdate> {
    let mut updates = Vec::new();
    store
        .snapshot(&mut |batch| updates.extend(batch))
        .await
        .expect("snapshot");
    super::sorted(updates)
}

async fn index_complete(conn: &mut raw_redis::aio::MultiplexedConnection) -> bool {
    raw_redis::cmd("HEXISTS")
        .arg(INDEX)
        .arg("complete")
        .query_async(conn)
        .await
        .expect("HEXISTS")
}

#[tokio::test]
async fn snapshots_from_the_index_match_a_full_scan() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    let expected = super::sorted(super::one_of_each(&h.store, t).await);

    // No complete index yet: the first snapshot scans, and builds it.
    assert!(!index_complete(&mut conn).await);
    assert_eq!(snapshot_of(&h.store).await, expected);
    assert!(index_complete(&mut conn).await, "built by the scan");

    // Later writes keep it current: a removal, an enable, a new fact.
    h.store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_B).expect("iss"),
            &SessionId::parse("s9").expect("sid"),
            t,
        )
        .await
        .expect("unregister");
    enable_subject(&h.store, subject(IDP_U, "alice"), t).await;
    revoke_token(&h.store, jti("t-late"), at(t, 90), t).await;
    let from_index = snapshot_of(&h.store).await;
    assert!(from_index.contains(&FactUpdate::Token {
        jti: jti("t-late"),
        expires_at: at(t, 90),
    }));
    assert!(
        !from_index
            .iter()
            .any(|u| matches!(u, FactUpdate::SubjectDisabled { .. })
                || matches!(u,
            FactUpdate::Binding { jti: bound, .. } if *bound == jti("r1"))),
        "enabled and unregistered facts left the index: {from_index:?}"
    );
    assert_eq!(
        from_index.len(),
        expected.len() - 1,
        "r1 and alice out, t-late in"
    );

    // The same as a scan of the keys themselves.
    let _: i64 = raw_redis::cmd("HDEL")
        .arg(INDEX)
        .arg("complete")
        .query_async(&mut conn)
        .await
        .expect("HDEL");
    assert_eq!(snapshot_of(&h.store).await, from_index);
}

#[tokio::test]
async fn facts_written_before_the_index_existed_are_indexed_once() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    revoke_token(&h.store, jti("t-new"), at(t, 60), t).await;
    // A fact as an older revokd wrote it: the key, no index entry; and
    // an index that lost its completion mark with it.
    let exp = at(t, 120).as_secs().to_string();
    let _: () = raw_redis::cmd("SET")
        .arg("revokd-test:tok:t-old")
        .arg(&exp)
        .arg("EXAT")
        .arg(&exp)
        .query_async(&mut conn)
        .await
        .expect("SET");
    let old = FactUpdate::Token {
        jti: jti("t-old"),
        expires_at: at(t, 120),
    };
    assert!(snapshot_of(&h.store).await.contains(&old));
    let indexed: Option<String> = raw_redis::cmd("HGET")
        .arg(h.store.index_bucket("tok:t-old"))
        .arg("tok:t-old")
        .query_async(&mut conn)
        .await
        .expect("HGET");
    assert_eq!(indexed.as_deref(), Some(exp.as_str()));
    assert!(index_complete(&mut conn).await);
    assert!(
        snapshot_of(&h.store).await.contains(&old),
        "and read back from the index"
    );
}

#[tokio::test]
async fn the_index_sweep_drops_expired_facts_and_keeps_live_ones() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    // No index at all: a sweep does not create one.
    assert_eq!(h.store.sweep_index(t, 10).await.expect("sweep"), 0);
    let exists: i64 = raw_redis::cmd("EXISTS")
        .arg(INDEX)
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0);

    let expected = super::sorted(super::one_of_each(&h.store, t).await);
    assert_eq!(snapshot_of(&h.store).await, expected);
    // Facts whose keys Redis already expired: their index entries stay
    // until a sweep, and no snapshot hands them out meanwhile.
    let past = at(t, -10).as_secs();
    let gone = [
        ("tok:gone", past.to_string()),
        ("rb:3:iss:gone", format!("{} {past}", past - 100)),
        (
            "bnd:gone",
            format!("{past}\n{}\nhttps://idp\nsomeone", past - 100),
        ),
        ("sbn:3:iss:gone", format!("{past} {} some one", past - 100)),
    ];
    index_put(&h.store, &mut conn, &gone).await;
    assert_eq!(snapshot_of(&h.store).await, expected);

    // A full pass (the sweep stops after the last bucket).
    assert_eq!(h.store.sweep_index(t, usize::MAX).await.expect("sweep"), 4);
    for (field, _) in &gone {
        let there: bool = raw_redis::cmd("HEXISTS")
            .arg(h.store.index_bucket(field))
            .arg(*field)
            .query_async(&mut conn)
            .await
            .expect("HEXISTS");
        assert!(!there, "{field} swept");
    }
    assert_eq!(
        h.store
            .sweep_index(t, usize::MAX)
            .await
            .expect("sweep again"),
        0
    );
    assert_eq!(snapshot_of(&h.store).await, expected, "live facts stay");
}

#[tokio::test]
async fn an_unreadable_index_entry_fails_the_snapshot() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    super::one_of_each(&h.store, t).await;
    snapshot_of(&h.store).await;
    index_put(&h.store, &mut conn, &[("tok:bad", "soon".to_owned())]).await;
    let err = h
        .store
        .snapshot(&mut |_| {})
        .await
        .expect_err("a corrupt entry is not skipped");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// Token ids whose index field falls in `bucket` (4 hex digits).
fn token_ids_in_bucket(store: &RedisStore, bucket: &str, n: usize) -> Vec<String> {
    (0u64..)
        .map(|i| format!("hint-{i}"))
        .filter(|id| store.index_bucket(&format!("tok:{id}")).ends_with(bucket))
        .take(n)
        .collect()
}

#[tokio::test]
async fn the_token_hint_counts_the_sampled_buckets_only_once_the_index_is_complete() {
    let h = redis();
    let t = now();
    assert_eq!(
        h.store.snapshot_tokens_hint().await.expect("hint"),
        None,
        "no complete index, no hint"
    );
    snapshot_of(&h.store).await;
    assert_eq!(h.store.snapshot_tokens_hint().await.expect("hint"), Some(0));
    // Bucket 0000 is counted (one in 256 stands for its 255 neighbours),
    // bucket 0001 is not.
    for id in token_ids_in_bucket(&h.store, ":0000", 2)
        .into_iter()
        .chain(token_ids_in_bucket(&h.store, ":0001", 1))
    {
        revoke_token(&h.store, jti(&id), at(t, 90), t).await;
    }
    assert_eq!(
        h.store.snapshot_tokens_hint().await.expect("hint"),
        Some(2 * 256)
    );
}

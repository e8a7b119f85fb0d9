//! The Redis change feed and the cursors of its audit stream.

use super::*;

#[tokio::test]
async fn every_write_names_its_mirrored_keys_on_the_feed() {
    let h = redis();
    let mut reader = h
        .store
        .feed_reader(Duration::from_millis(100))
        .await
        .expect("feed reader");
    let empty = reader.next("0-0", 100).await.expect("read");
    assert!(empty.keys.is_empty() && empty.last_id.is_none());
    let t = now();

    let expected: Vec<MirroredKey> = super::one_of_each(&h.store, t)
        .await
        .iter()
        .map(super::key_of)
        .collect();
    let batch = reader.next("0-0", 100).await.expect("read");
    // t1 was revoked twice: two entries; the seen marker is not mirrored.
    let mut wanted = expected.clone();
    wanted.insert(1, MirroredKey::Token(jti("t1")));
    assert_eq!(batch.keys, wanted);
    let last = batch.last_id.expect("an id");

    h.store
        .unregister_session(
            &app(),
            &Issuer::parse(IDP_B).expect("iss"),
            &SessionId::parse("s9").expect("sid"),
            t,
        )
        .await
        .expect("unregister");
    let batch = reader.next(&last, 100).await.expect("read");
    assert_eq!(batch.keys, [MirroredKey::Binding(jti("r1"))]);

    let info = reader.info().await.expect("info");
    assert_eq!(info.entries_added, 9, "8 writes, then the unregistration");
    assert_eq!(info.length, 9, "nothing trimmed yet");
    let head = h.store.snapshot(&mut |_| {}).await.expect("snapshot");
    assert_eq!(head.id(), batch.last_id.expect("an id"));
    assert_eq!(head.consumed(), 9);
}

#[tokio::test]
async fn a_cursor_whose_successors_were_trimmed_means_resync() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let events = super::revoke_n(&h.store, 5).await;
    let _: i64 = raw_redis::cmd("XTRIM")
        .arg("revokd-test:events")
        .arg("MAXLEN")
        .arg(2)
        .query_async(&mut conn)
        .await
        .expect("XTRIM");
    // events[2] was trimmed: a consumer at events[1] missed it.
    assert_eq!(
        h.store.events_after(&events[1].id, 10).await.expect("read"),
        None
    );
    // At the last trimmed id nothing is missing, but the stream cannot
    // tell (MAXLEN trimming keeps no record): resync, never a gap.
    assert_eq!(
        h.store.events_after(&events[2].id, 10).await.expect("read"),
        None
    );
    // From the first retained entry on, reading goes on.
    let rest = h
        .store
        .events_after(&events[3].id, 10)
        .await
        .expect("read")
        .expect("retained");
    assert_eq!(rest, events[4..].to_vec());
    // The beginning of an empty log is fine; of a trimmed one it is not.
    assert_eq!(
        h.store
            .events_after(&EventId("0-0".into()), 10)
            .await
            .expect("read"),
        None
    );
}

#[tokio::test]
async fn the_beginning_of_an_absent_log_is_empty_not_a_resync() {
    let h = redis();
    assert_eq!(
        h.store
            .events_after(&EventId("0-0".into()), 10)
            .await
            .expect("read"),
        Some(Vec::new())
    );
}

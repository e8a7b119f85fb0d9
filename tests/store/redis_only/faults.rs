//! Redis faults: shared servers, TTLs, unreadable values, a server that
//! stops, crashes or freezes.

use super::*;

/// Generous: the store's own bound is `connect_timeout +
/// command_timeout` = 1 s here; this only catches a hang.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// Calls every store method and checks that each fails as
/// `Unavailable`, quickly.
async fn assert_unavailable(store: &RedisStore) {
    let t = now();
    let token = jti("t-down");
    let revoke = Change::TokenRevoked {
        jti: token.clone(),
        expires_at: at(t, 60),
    };
    let page = EventPage {
        before: None,
        limit: 10,
    };

    let reg = registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 60));
    let (iss, sid) = (
        Issuer::parse(IDP_A).expect("iss"),
        SessionId::parse("s1").expect("sid"),
    );
    let logout = seen(IDP_A, "logout-1", at(t, 60));

    let started = Instant::now();
    let ping = store.ping().await.err();
    let ping_took = started.elapsed();
    let apply = store.apply(revoke.clone(), by("admin:test"), t).await.err();
    let apply_took = started.elapsed() - ping_took;
    let lookup = store.lookup(token_lookup(&token), t).await.err();
    let lookup_took = started.elapsed() - ping_took - apply_took;
    let events = store.events(&page).await.err();
    let events_took = started.elapsed() - ping_took - apply_took - lookup_took;
    let mut results = vec![
        ("ping", ping, ping_took),
        ("apply", apply, apply_took),
        ("lookup", lookup, lookup_took),
        ("events", events, events_took),
    ];
    let started = Instant::now();
    let once = store
        .apply_once(&logout, revoke, by("admin:test"), t)
        .await
        .err();
    results.push(("apply_once", once, started.elapsed()));
    let started = Instant::now();
    let registered = store
        .register_session(&reg, by("client:app"), t)
        .await
        .err();
    results.push(("register_session", registered, started.elapsed()));
    let started = Instant::now();
    let unregistered = store.unregister_session(&app(), &iss, &sid, t).await.err();
    results.push(("unregister_session", unregistered, started.elapsed()));

    for (call, err, took) in results {
        assert!(
            matches!(err, Some(StoreError::Unavailable(_))),
            "{call}: {err:?}"
        );
        assert!(took < FAIL_FAST, "{call} took {took:?}");
    }
}

#[tokio::test]
async fn two_prefixes_on_one_server_do_not_see_each_other() {
    let server = RedisServer::start();
    let one = RedisStore::connect(&redis_settings(&server, "one:")).expect("connect");
    let two = RedisStore::connect(&redis_settings(&server, "two:")).expect("connect");
    let t = now();
    let (token, alice) = (jti("t1"), subject(IDP_A, "alice"));

    revoke_token(&one, token.clone(), at(t, 3600), t).await;
    disable_subject(&one, alice.clone(), None, t).await;

    let both = Lookup {
        jti: Some(&token),
        subject: Some(&alice),
        ..Lookup::default()
    };
    assert_eq!(facts(&two, both, t).await, Facts::default());
    assert!(all_events(&two).await.is_empty());
    assert_eq!(all_events(&one).await.len(), 2);
    let mut conn = raw(&server).await;
    let keys: Vec<String> = raw_redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(keys.iter().all(|k| k.starts_with("one:")), "{keys:?}");
}

#[tokio::test]
async fn key_ttls_match_expires_at() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    let (token, alice, bob) = (jti("t1"), subject(IDP_A, "alice"), subject(IDP_A, "bob"));

    revoke_token(&h.store, token, at(t, 1000), t).await;
    disable_subject(&h.store, alice, None, t).await;
    disable_subject(&h.store, bob.clone(), Some(at(t, 2000)), t).await;
    revoke_before(&h.store, bob, t, at(t, 2000), t).await;

    let pttl = |key: &'static str| {
        let mut conn = conn.clone();
        async move {
            raw_redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .expect("PTTL")
        }
    };
    // EXAT has whole seconds and the clock moved on since `t`: allow a
    // few seconds below, nothing above.
    let token_ttl = pttl("revokd-test:tok:t1").await;
    assert!(
        (995_000..=1_000_000).contains(&token_ttl),
        "token PTTL {token_ttl}"
    );
    let bob_ttl = pttl("revokd-test:dis:21:https://idp-a.example:bob").await;
    assert!(
        (1_995_000..=2_000_000).contains(&bob_ttl),
        "disable PTTL {bob_ttl}"
    );
    let bob_mark_ttl = pttl("revokd-test:rb:21:https://idp-a.example:bob").await;
    assert!(
        (1_995_000..=2_000_000).contains(&bob_mark_ttl),
        "mark PTTL {bob_mark_ttl}"
    );
    assert_eq!(
        pttl("revokd-test:dis:21:https://idp-a.example:alice").await,
        -1,
        "indefinite disable has no TTL"
    );
    let stream_ttl: i64 = raw_redis::cmd("PTTL")
        .arg("revokd-test:events")
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    assert_eq!(stream_ttl, -1, "the event stream does not expire");
}

#[tokio::test]
async fn unreadable_values_are_corrupt_and_apply_writes_nothing() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    let alice = subject(IDP_A, "alice");
    let _: () = raw_redis::cmd("SET")
        .arg("revokd-test:rb:21:https://idp-a.example:alice")
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .expect("SET");

    let lookup = h.store.lookup(subject_lookup(&alice), t).await;
    let applied = h
        .store
        .apply(
            Change::SubjectRevokedBefore {
                subject: alice,
                before: t,
                expires_at: at(t, 3600),
            },
            by("admin:test"),
            t,
        )
        .await;

    assert!(matches!(lookup, Err(StoreError::Corrupt(_))), "{lookup:?}");
    assert!(
        matches!(applied, Err(StoreError::Corrupt(_))),
        "{applied:?}"
    );
    let mark: Option<String> = raw_redis::cmd("GET")
        .arg("revokd-test:rb:21:https://idp-a.example:alice")
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(
        mark.as_deref(),
        Some("garbage"),
        "a failed apply overwrote the mark"
    );
    assert!(
        all_events(&h.store).await.is_empty(),
        "a failed apply appended its event"
    );
}

#[tokio::test]
async fn a_failed_apply_once_leaves_no_marker_and_a_retry_applies() {
    // Arrange: a mark the script cannot read.
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    let mark_key = "revokd-test:rb:21:https://idp-a.example:alice";
    let _: () = raw_redis::cmd("SET")
        .arg(mark_key)
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .expect("SET");
    let key = seen(IDP_A, "logout-1", at(t, 600));
    let change = Change::SubjectRevokedBefore {
        subject: subject(IDP_A, "alice"),
        before: t,
        expires_at: at(t, 3600),
    };

    // Act
    let failed = h
        .store
        .apply_once(&key, change.clone(), by("logout:idp-a"), t)
        .await;

    // Assert: nothing written, so the provider's retry goes through.
    assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{failed:?}");
    assert!(
        !exists(
            &mut conn,
            "revokd-test:seen:21:https://idp-a.example:logout-1"
        )
        .await,
        "a failed call left its marker"
    );
    assert_eq!(get(&mut conn, mark_key).await.as_deref(), Some("garbage"));
    assert!(all_events(&h.store).await.is_empty());
    let _: () = raw_redis::cmd("DEL")
        .arg(mark_key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    let retried = h
        .store
        .apply_once(&key, change, by("logout:idp-a"), t)
        .await
        .expect("apply_once");
    assert!(retried.is_some());
}

#[tokio::test]
async fn registry_keys_expire_with_what_they_record() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();

    register(
        &h.store,
        &registration(IDP_A, Some("s1"), "alice", &["t1"], at(t, 1000)),
        t,
    )
    .await;
    h.store
        .apply_once(
            &seen(IDP_A, "logout-1", at(t, 2000)),
            Change::TokenRevoked {
                jti: jti("t9"),
                expires_at: at(t, 3000),
            },
            by("logout:idp-a"),
            t,
        )
        .await
        .expect("apply_once");

    // EXPIREAT has whole seconds and the clock moved on since `t`:
    // allow a few seconds below, nothing above.
    for (key, secs) in [
        ("revokd-test:bnd:t1", 1000),
        ("revokd-test:reg:3:app:21:https://idp-a.example:s1", 1000),
        ("revokd-test:stk:21:https://idp-a.example:alice", 1000),
        ("revokd-test:seen:21:https://idp-a.example:logout-1", 2000),
    ] {
        let pttl: i64 = raw_redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        assert!(
            ((secs - 5) * 1000..=secs * 1000).contains(&pttl),
            "{key}: PTTL {pttl}"
        );
    }
}

#[tokio::test]
async fn a_registration_that_meets_an_unreadable_binding_writes_nothing() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    let _: () = raw_redis::cmd("SET")
        .arg("revokd-test:bnd:t2")
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .expect("SET");

    let result = h
        .store
        .register_session(
            &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 600)),
            by("client:app"),
            t,
        )
        .await;

    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
    assert!(!exists(&mut conn, "revokd-test:bnd:t1").await);
    assert!(!exists(&mut conn, "revokd-test:reg:21:https://idp-a.example:s1").await);
}

#[tokio::test]
async fn a_refusal_that_meets_an_unreadable_token_revocation_writes_nothing() {
    let h = redis();
    let mut conn = raw(&h.server).await;
    let t = now();
    revoke_session(&h.store, session(IDP_A, "s1"), at(t, 3600), t).await;
    let _: () = raw_redis::cmd("SET")
        .arg("revokd-test:tok:t2")
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .expect("SET");

    let result = h
        .store
        .register_session(
            &registration(IDP_A, Some("s1"), "alice", &["t1", "t2"], at(t, 600)),
            by("client:app"),
            t,
        )
        .await;

    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
    assert!(!exists(&mut conn, "revokd-test:tok:t1").await);
    assert_eq!(all_events(&h.store).await.len(), 1, "only the tombstone");
}

#[tokio::test]
async fn a_redis_down_at_start_does_not_stop_connect() {
    let mut server = RedisServer::start();
    server.stop();

    let store = RedisStore::connect(&redis_settings(&server, "revokd-test:"))
        .expect("connect without Redis");

    assert_unavailable(&store).await;
    server.restart();
    store.ping().await.expect("ping once Redis is up");
}

#[tokio::test]
async fn a_stopped_redis_fails_fast_and_a_restarted_one_has_every_acknowledged_write() {
    // Arrange: acknowledged writes, and pooled connections to the server.
    let mut h = redis();
    let t = now();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let change = Change::TokenRevoked {
            jti: jti(&format!("t{i}")),
            expires_at: at(t, 3600),
        };
        acknowledged.push(apply(&h.store, change, t).await);
    }

    // Act + Assert: down...
    h.server.stop();
    assert_unavailable(&h.store).await;

    // ...and back, without a new store.
    h.server.restart();
    h.store.ping().await.expect("ping after restart");
    for i in 0..20 {
        let token = jti(&format!("t{i}"));
        assert!(
            facts(&h.store, token_lookup(&token), t).await.token_revoked,
            "t{i} lost"
        );
    }
    acknowledged.reverse();
    assert_eq!(all_events(&h.store).await, acknowledged);
    let token = jti("after");
    revoke_token(&h.store, token.clone(), at(t, 3600), t).await;
    assert!(facts(&h.store, token_lookup(&token), t).await.token_revoked);
}

#[tokio::test]
async fn writes_acknowledged_before_a_crash_survive_it() {
    // An Ok from apply comes after Redis appended the script's writes to
    // its append-only file, so a SIGKILL right after loses none of them.
    // (That they also reached the platter, `appendfsync always`, only a
    // power cut could show.)
    let mut h = redis();
    let t = now();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let change = Change::SubjectDisabled {
            subject: subject(IDP_A, &format!("u{i}")),
            expires_at: None,
        };
        acknowledged.push(apply(&h.store, change, t).await);
    }

    h.server.crash();
    h.server.restart();

    for i in 0..20 {
        let who = subject(IDP_A, &format!("u{i}"));
        assert!(
            facts(&h.store, subject_lookup(&who), t)
                .await
                .subject_disabled,
            "u{i} lost"
        );
    }
    acknowledged.reverse();
    assert_eq!(all_events(&h.store).await, acknowledged);
}

#[tokio::test]
async fn a_frozen_redis_fails_fast_and_recovers() {
    let h = redis();
    h.store.ping().await.expect("ping");

    h.server.pause();
    assert_unavailable(&h.store).await;
    h.server.resume();

    h.store.ping().await.expect("ping after resume");
}

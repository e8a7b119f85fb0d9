//! The audit log's own retention of admin events (issue 17, item 5).

use crate::fixtures::*;

/// A disable by an admin, then `flood` refused registrations by a client
/// key (one client-caused event each) in a log that keeps far fewer; after
/// `trim` (the embedded store trims in its sweep), the admin's event is
/// still in the audit log, merged in order with the newest client events.
async fn admin_events_outlive_a_flood_of_client_events<F, Fut>(
    store: &impl RevocationStore,
    flood: usize,
    trim: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Arrange
    let t = now();
    let disable = store
        .apply(
            Change::SubjectDisabled {
                subject: subject(IDP_A, "alice"),
                expires_at: None,
            },
            by("admin:ops"),
            t,
        )
        .await
        .expect("disable");
    let refused = registration(IDP_A, Some("s1"), "alice", &["f"], at(t, 3600));

    // Act: the flood.
    for _ in 0..flood {
        let outcome = store
            .register_session(&refused, by("client:app"), t)
            .await
            .expect("register");
        assert!(matches!(outcome, Registration::Refused { .. }));
    }
    trim().await;

    // Assert
    let events = all_events(store).await;
    let ids: Vec<&str> = events.iter().map(|e| e.id.0.as_str()).collect();
    let client = events.iter().filter(|e| e.actor == "client:app").count();
    assert!(
        client < flood,
        "the log was trimmed ({client} of {flood} client events left)"
    );
    assert!(client > 0, "the newest client events are kept");
    assert_eq!(
        events.last(),
        Some(&disable),
        "the admin's disable is still there, the oldest: {ids:?}"
    );
    assert_eq!(events.iter().filter(|e| e.id == disable.id).count(), 1);
    assert!(
        events.windows(2).all(|w| w[0].id != w[1].id),
        "no event twice: {ids:?}"
    );
    assert_eq!(events[0].actor, "client:app", "newest first");
}

#[tokio::test]
async fn embedded() {
    let dir = TempDir::new().expect("temporary directory");
    let store = EmbeddedStore::open(&EmbeddedSettings {
        path: dir.path().join("data"),
        sweep_interval: Duration::from_secs(60),
        max_events: 50,
        max_admin_events: 50,
    })
    .expect("open the embedded store");
    let sweeper = store.clone();
    admin_events_outlive_a_flood_of_client_events(&store, 200, || async move {
        sweeper.sweep(now()).await.expect("sweep");
    })
    .await;
}

#[tokio::test]
async fn redis() {
    let server = RedisServer::start();
    let mut settings = redis_settings(&server, "revokd-test:");
    settings.max_events = 50;
    settings.max_admin_events = 50;
    let store = RedisStore::connect(&settings).expect("connect");
    // MAXLEN ~ trims whole nodes of 100 entries: flood past several.
    admin_events_outlive_a_flood_of_client_events(&store, 600, || async {}).await;
}

//! The Redis store behind Redis Sentinel: a real primary, a real replica and
//! a real `redis-sentinel`, and a failover in the middle.

use std::time::{Duration, Instant};

use crate::common::certs::TestCa;
use crate::common::redis_sentinel::RedisSentinel;
use crate::common::redis_server::{RedisServer, RedisTls};
use deadpool_redis::redis as raw_redis;
use revokd::domain::{Change, FactUpdate, Lookup, Provenance, TokenId, UnixTime};
use revokd::store::{RedisSettings, RedisStore, RevocationStore, StoreError};
use secrecy::SecretString;

const SERVICE: &str = "revokd-test";

fn settings(sentinels: Vec<String>) -> RedisSettings {
    RedisSettings {
        // Only the credentials and database count; the host is Sentinel's
        // to name.
        url: SecretString::from("redis://127.0.0.1:1/0"),
        key_prefix: "revokd-sentinel:".into(),
        pool_size: 4,
        connect_timeout: Duration::from_millis(500),
        command_timeout: Duration::from_millis(500),
        max_events: 1_000,
        max_admin_events: 1_000,
        sentinels,
        sentinel_service: SERVICE.into(),
        tls: Default::default(),
    }
}

fn jti(value: &str) -> TokenId {
    TokenId::parse(value).expect("jti")
}

async fn revoke(store: &RedisStore, id: &str) -> Result<(), StoreError> {
    let now = UnixTime::now();
    store
        .apply(
            Change::TokenRevoked {
                jti: jti(id),
                expires_at: UnixTime::from_secs(now.as_secs() + 600),
            },
            Provenance {
                actor: "admin:test".into(),
                reason: None,
            },
            now,
        )
        .await
        .map(drop)
}

async fn is_revoked(store: &RedisStore, id: &str) -> bool {
    let token = jti(id);
    let lookup = Lookup {
        jti: Some(&token),
        ..Lookup::default()
    };
    store
        .lookup(lookup, UnixTime::now())
        .await
        .expect("lookup")
        .token_revoked
}

/// The token ids of a snapshot read from the index: the first builds it
/// (once), the second reads it on the snapshot's own connections, which
/// must find the primary through Sentinel as the pool does.
async fn snapshot_tokens(store: &RedisStore) -> Vec<String> {
    store.snapshot(&mut |_| {}).await.expect("index built");
    let mut tokens = Vec::new();
    store
        .snapshot(&mut |batch| {
            tokens.extend(batch.into_iter().filter_map(|update| match update {
                FactUpdate::Token { jti, .. } => Some(jti.to_string()),
                _ => None,
            }));
        })
        .await
        .expect("index read");
    tokens.sort();
    tokens
}

async fn raw(url: &str) -> raw_redis::aio::MultiplexedConnection {
    raw_redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

/// Polls `probe` every 50 ms until it is true; panics with `what` after
/// `within`.
async fn eventually<F: std::future::Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {within:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_follow_the_primary_across_a_failover() {
    // Arrange: a primary, its replica, a Sentinel that knows both.
    let mut primary = RedisServer::start();
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let sentinel = RedisSentinel::start(primary.port(), SERVICE);
    eventually(
        Duration::from_secs(20),
        "Sentinel discovering the replica",
        || async {
            sentinel
                .ask(&["SENTINEL", "REPLICAS", SERVICE])
                .is_some_and(|r| r.contains(&replica.port().to_string()))
        },
    )
    .await;
    let store = RedisStore::connect(&settings(vec![sentinel.url()])).expect("connect");

    // Act 1: a revocation through the primary Sentinel names.
    revoke(&store, "before-failover").await.expect("revoke");
    assert!(is_revoked(&store, "before-failover").await);
    // Acknowledged by the replica too (replication is asynchronous; WAIT
    // makes the test about failover, not about replication lag).
    let conn = raw(&primary.url()).await;
    eventually(Duration::from_secs(10), "the replica acknowledging", || {
        let mut conn = conn.clone();
        async move {
            let acked: i64 = raw_redis::cmd("WAIT")
                .arg(1)
                .arg(300)
                .query_async(&mut conn)
                .await
                .expect("WAIT");
            acked == 1
        }
    })
    .await;
    drop(conn);

    // Act 2: the primary dies; Sentinel promotes the replica.
    primary.crash();
    eventually(
        Duration::from_secs(30),
        "a write after the failover",
        || async { revoke(&store, "after-failover").await.is_ok() },
    )
    .await;

    // Assert: the same store object writes to and reads from the new
    // primary, and nothing acknowledged before the failover is lost.
    let role: Vec<raw_redis::Value> = raw_redis::cmd("ROLE")
        .query_async(&mut raw(&replica.url()).await)
        .await
        .expect("ROLE");
    assert_eq!(
        role.first(),
        Some(&raw_redis::Value::BulkString(b"master".to_vec())),
        "the replica was promoted"
    );
    assert!(is_revoked(&store, "before-failover").await);
    assert!(is_revoked(&store, "after-failover").await);
    assert!(!is_revoked(&store, "never-revoked").await);
    assert_eq!(
        snapshot_tokens(&store).await,
        ["after-failover", "before-failover"],
        "a snapshot reads the new primary"
    );
}

#[tokio::test]
async fn an_unknown_service_is_unavailable_not_a_crash() {
    let primary = RedisServer::start();
    let sentinel = RedisSentinel::start(primary.port(), SERVICE);
    let mut wrong = settings(vec![sentinel.url()]);
    wrong.sentinel_service = "no-such-service".into();
    let store = RedisStore::connect(&wrong).expect("connect is lazy");
    let started = Instant::now();
    let err = store.ping().await.expect_err("no primary to talk to");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
}

#[tokio::test]
async fn no_sentinel_answering_is_unavailable() {
    let store = RedisStore::connect(&settings(vec!["redis://127.0.0.1:1".into()]))
        .expect("connect is lazy");
    let err = store.ping().await.expect_err("nobody answers");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_malformed_sentinel_address_is_refused_at_start() {
    let err = RedisStore::connect(&settings(vec!["not a url".into()]))
        .err()
        .expect("refused");
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(
        text.contains("sentinels") || text.contains("Sentinel"),
        "{text}"
    );
}

/// Sentinel over TLS: a TLS-only primary and a TLS-only Sentinel, both
/// signed by a test CA that revokd trusts through `redis.tls.ca_file`.
#[tokio::test]
async fn a_tls_sentinel_names_a_tls_primary() {
    let ca = TestCa::new("sentinel");
    let leaf = ca.leaf("redis", 1);
    let tls = RedisTls {
        cert_file: leaf.cert.clone(),
        key_file: leaf.key.clone(),
        ca_file: ca.cert.clone(),
        auth_clients: false,
    };
    let primary = RedisServer::start_tls(tls.clone());
    let sentinel = RedisSentinel::start_tls(primary.port(), SERVICE, &tls);
    assert!(sentinel.url().starts_with("rediss://"));
    let mut settings = settings(vec![sentinel.url()]);
    settings.url = SecretString::from("rediss://127.0.0.1:1/0");
    settings.tls.ca_file = Some(ca.cert.clone());
    let store = RedisStore::connect(&settings).expect("connect is lazy");
    revoke(&store, "over-tls")
        .await
        .expect("written through TLS");
    assert!(is_revoked(&store, "over-tls").await);
    assert_eq!(snapshot_tokens(&store).await, ["over-tls"]);

    // Trusting another CA: the Sentinel's certificate is refused.
    let other = TestCa::new("other");
    settings.tls.ca_file = Some(other.cert.clone());
    let store = RedisStore::connect(&settings).expect("connect is lazy");
    let err = store.ping().await.expect_err("untrusted Sentinel");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

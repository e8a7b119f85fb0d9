//! Three `revokd` processes on one Redis: a write acknowledged by one is
//! answered by the others from their mirrors within the bound; a Redis
//! restart loses nothing, checks fail closed while the feed is down past
//! `mirror.max_staleness`, and every instance resyncs by itself; a feed
//! trimmed past an instance's position forces a full resync.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::binary::{Process, base_url};
use crate::common::forging_idp::unix_now;
use crate::common::redis_server::RedisServer;
use crate::helpers::{ADMIN_KEY, CLIENT_KEY, ISS};

/// How stale a mirror may be before checks fail closed, in these tests.
const STALE_AFTER: Duration = Duration::from_secs(1);
/// Generous: propagation is a blocked XREAD waking up (milliseconds).
const PROPAGATION_BOUND: Duration = Duration::from_secs(1);

struct Instance {
    url: String,
    process: Process,
    _dir: TempDir,
}

fn start_instance(redis: &RedisServer) -> Instance {
    let dir = TempDir::new().unwrap();
    let keys = format!(
        r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, {{name="app", role="client", key="{CLIENT_KEY}"}}]"#
    );
    let url = redis.url();
    let staleness = format!("{}ms", STALE_AFTER.as_millis());
    let env = [
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", url.as_str()),
        ("REVOKD_REDIS__CONNECT_TIMEOUT", "300ms"),
        ("REVOKD_REDIS__COMMAND_TIMEOUT", "300ms"),
        ("REVOKD_MIRROR__MAX_STALENESS", staleness.as_str()),
        ("REVOKD_KEYS", keys.as_str()),
    ];
    let (process, listening) = Process::start(dir.path(), &env);
    Instance {
        url: base_url(&listening),
        process,
        _dir: dir,
    }
}

async fn wait_ready(client: &reqwest::Client, instance: &Instance) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = client
            .get(format!("{}/readyz", instance.url))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never became ready",
            instance.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check(
    client: &reqwest::Client,
    instance: &Instance,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = client
        .get(format!("{}/v1/check", instance.url))
        .bearer_auth(CLIENT_KEY)
        .query(query)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin(
    client: &reqwest::Client,
    instance: &Instance,
    path: &str,
    body: Value,
) -> StatusCode {
    client
        .post(format!("{}{path}", instance.url))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Registers `token_id` under `(ISS, sid)` of `sub` through `instance`.
async fn register(
    client: &reqwest::Client,
    instance: &Instance,
    sid: &str,
    sub: &str,
    token_id: &str,
) -> StatusCode {
    client
        .post(format!("{}/v1/sessions", instance.url))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"iss": ISS, "sid": sid, "sub": sub, "token_ids": [token_id], "expires_at": unix_now() + 3600}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls until `instance` answers `reason` for `query`; returns how long
/// it took.
async fn until_reason(
    client: &reqwest::Client,
    instance: &Instance,
    query: &[(&str, &str)],
    reason: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = check(client, instance, query).await;
        if status == StatusCode::OK && body["reason"] == reason {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{} answered {status} {body} for {query:?}, not {reason}, after {within:?}",
            instance.url
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_reaches_the_others_and_survives_a_redis_restart() {
    let mut redis = RedisServer::start();
    let client = reqwest::Client::new();
    let instances: Vec<Instance> = (0..3).map(|_| start_instance(&redis)).collect();
    for instance in &instances {
        wait_ready(&client, instance).await;
    }
    let [a, b, c] = instances.as_slice() else {
        unreachable!()
    };

    // A revocation through A is answered by B and C within the bound.
    assert_eq!(
        admin(&client, a, "/v1/admin/tokens/revoke", json!({"jti": "t1"})).await,
        StatusCode::OK
    );
    for other in [b, c] {
        let took = until_reason(
            &client,
            other,
            &[("jti", "t1")],
            "token_revoked",
            PROPAGATION_BOUND,
        )
        .await;
        assert!(took < PROPAGATION_BOUND);
    }
    // A registration through C and a session logout through B reach A.
    assert_eq!(
        register(&client, c, "s1", "alice", "ha-rt").await,
        StatusCode::OK
    );
    assert_eq!(
        admin(
            &client,
            b,
            "/v1/admin/sessions/revoke",
            json!({"iss": ISS, "sid": "s1"})
        )
        .await,
        StatusCode::OK
    );
    until_reason(
        &client,
        a,
        &[("jti", "ha-rt")],
        "session_revoked",
        PROPAGATION_BOUND,
    )
    .await;
    // A session registered through C is bound to its subject on A too: a
    // disable through B reaches A's `(iss, sid)` check.
    assert_eq!(
        register(&client, c, "s2", "bob", "bob-rt").await,
        StatusCode::OK
    );
    assert_eq!(
        admin(
            &client,
            b,
            "/v1/admin/subjects/disable",
            json!({"iss": ISS, "sub": "bob"})
        )
        .await,
        StatusCode::OK
    );
    until_reason(
        &client,
        a,
        &[("iss", ISS), ("sid", "s2")],
        "subject_disabled",
        PROPAGATION_BOUND,
    )
    .await;

    // Redis crashes. Within the staleness bound the mirrors still enforce
    // what they know; writes are refused.
    redis.crash();
    let down = Instant::now();
    for instance in [a, b, c] {
        let (status, body) = check(&client, instance, &[("jti", "t1")]).await;
        if down.elapsed() < STALE_AFTER {
            assert_eq!(
                (status, body["reason"].clone()),
                (StatusCode::OK, json!("token_revoked"))
            );
        }
    }
    assert_eq!(
        admin(
            &client,
            a,
            "/v1/admin/tokens/revoke",
            json!({"jti": "during"})
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Past the bound every instance fails closed and is not ready.
    tokio::time::sleep(STALE_AFTER + Duration::from_millis(700)).await;
    for instance in [a, b, c] {
        let (status, _) = check(&client, instance, &[("jti", "unknown")]).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{} fails closed",
            instance.url
        );
        let ready = client
            .get(format!("{}/readyz", instance.url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    // Redis returns (from its append-only file): every instance catches up
    // by itself, nothing acknowledged is lost, and writes flow again.
    redis.restart();
    for instance in [a, b, c] {
        wait_ready(&client, instance).await;
        until_reason(
            &client,
            instance,
            &[("jti", "t1")],
            "token_revoked",
            PROPAGATION_BOUND,
        )
        .await;
        until_reason(
            &client,
            instance,
            &[("jti", "ha-rt")],
            "session_revoked",
            PROPAGATION_BOUND,
        )
        .await;
        let (_, body) = check(&client, instance, &[("jti", "during")]).await;
        assert_eq!(
            body,
            json!({"active": true}),
            "a refused write left nothing behind"
        );
    }
    assert_eq!(
        admin(&client, c, "/v1/admin/tokens/revoke", json!({"jti": "t2"})).await,
        StatusCode::OK
    );
    for other in [a, b] {
        until_reason(
            &client,
            other,
            &[("jti", "t2")],
            "token_revoked",
            PROPAGATION_BOUND,
        )
        .await;
    }
}

fn signal(process: &Process, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_missed_trimmed_feed_entries_resyncs() {
    let redis = RedisServer::start();
    let client = reqwest::Client::new();
    let (a, b) = (start_instance(&redis), start_instance(&redis));
    wait_ready(&client, &a).await;
    wait_ready(&client, &b).await;

    // B is frozen while A writes twice, and the feed entries are trimmed
    // away. The first may already sit in B's socket (its blocked XREAD was
    // answered); the second cannot: B must notice it is gone.
    signal(&b.process, "-STOP");
    for jti in ["first", "missed"] {
        let status = admin(&client, &a, "/v1/admin/tokens/revoke", json!({"jti": jti})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let raw = deadpool_redis::redis::Client::open(redis.url()).unwrap();
    let mut conn = raw.get_multiplexed_async_connection().await.unwrap();
    let trimmed: i64 = deadpool_redis::redis::cmd("XTRIM")
        .arg("revokd:feed")
        .arg("MAXLEN")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(trimmed, 2, "the entries B needs are gone");
    signal(&b.process, "-CONT");

    // B notices the gap and reloads from a snapshot, which has the fact.
    for jti in ["first", "missed"] {
        until_reason(
            &client,
            &b,
            &[("jti", jti)],
            "token_revoked",
            Duration::from_secs(10),
        )
        .await;
    }
    let metrics = client
        .get(format!("{}/metrics", b.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("revokd_mirror_resyncs_total 2"),
        "{metrics}"
    );
}

//! `/healthz`, `/readyz`, `/metrics`, and the separate operations listener.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_both_stores;

async fn ready_when_the_store_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"]["status"], "up");
    let kind = if backend == Backend::Redis {
        "redis"
    } else {
        "embedded"
    };
    assert_eq!(body["checks"]["store"]["kind"], kind);
}

on_both_stores!(ready_when_the_store_answers);

#[tokio::test]
async fn alive_without_dependencies() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "alive"})
    );
}

#[tokio::test]
async fn metrics_count_requests_checks_revocations_and_store_latency() {
    let app = spawn_app(Backend::Embedded).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t"}))
        .await;
    app.verdict(&[("jti", "t")]).await;
    app.verdict(&[("jti", "u")]).await;
    app.check(&[]).await;

    let text = app.metrics().await;
    for line in [
        "revokd_checks_total{result=\"token_revoked\"} 1",
        "revokd_checks_total{result=\"active\"} 1",
        "revokd_checks_total{result=\"session_revoked\"} 0",
        "revokd_revocations_total{kind=\"token_revoked\"} 1",
        "revokd_http_requests_total{method=\"GET\",route=\"/v1/check\",status=\"200\"} 2",
        "revokd_http_requests_total{method=\"GET\",route=\"/v1/check\",status=\"400\"} 1",
        "revokd_http_requests_total{method=\"POST\",route=\"/v1/admin/tokens/revoke\",status=\"200\"} 1",
    ] {
        assert!(text.contains(line), "metrics lack {line:?}:\n{text}");
    }
    for line in [
        // The write, and the mirror learning it: store calls are timed.
        "revokd_store_operation_seconds_bucket{op=\"apply\",outcome=\"ok\",store=\"embedded\"",
        "revokd_store_operation_seconds_bucket{op=\"read_states\",outcome=\"ok\",store=\"embedded\"",
        // Checks are answered from the mirror, not the store.
        "revokd_check_duration_seconds_count 2",
        "revokd_mirror_entries{kind=\"token\"} 1",
        "revokd_mirror_resyncs_total 1",
    ] {
        assert!(text.contains(line), "metrics lack {line:?}:\n{text}");
    }
    assert!(
        !text.contains("op=\"lookup\""),
        "a check never asks the store"
    );
    assert!(
        !text.contains("route=\"/metrics\""),
        "scrapes are not counted"
    );
}

#[tokio::test]
async fn raw_paths_never_become_metric_labels() {
    let app = spawn_app(Backend::Embedded).await;
    app.client
        .get(app.url("/secret-token-in-path"))
        .send()
        .await
        .unwrap();
    let text = app.metrics().await;
    assert!(!text.contains("secret-token-in-path"));
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
}

#[tokio::test]
async fn operations_routes_can_move_to_their_own_listener() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.ops_listen = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let ops = app.ops_address.clone().expect("ops listener bound");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let on_ops = app.client.get(format!("{ops}{path}")).send().await.unwrap();
        assert_eq!(
            on_ops.status(),
            StatusCode::OK,
            "{path} on the ops listener"
        );
        let on_api = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            on_api.status(),
            StatusCode::NOT_FOUND,
            "{path} is gone from the API listener"
        );
    }
    let check = app.check(&[("jti", "t")]).await;
    assert_eq!(
        check.status(),
        StatusCode::OK,
        "the API stays on the API listener"
    );
    let not_on_ops = app
        .client
        .get(format!("{ops}/v1/check?jti=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_on_ops.status(), StatusCode::NOT_FOUND);
}

/// Issue 17 item 9: readiness means "this instance can answer checks within
/// its staleness bound". A Redis outage shorter than `mirror.max_staleness`
/// leaves the instance ready (the store shows as down, in the body and in
/// `revokd_store_up`); past the bound it is not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_blip_within_the_staleness_bound_leaves_the_instance_ready() {
    // Arrange
    let bound = Duration::from_secs(3);
    let app = spawn_app_with(Backend::Redis, |s| s.mirror.max_staleness = bound).await;
    assert_eq!(app.readiness().await["status"], "ready");

    // Act: Redis goes away.
    app.infra.stop_redis();
    let stopped = Instant::now();

    // Assert: ready for most of the bound, with the store shown down.
    let mut store_seen_down = false;
    while stopped.elapsed() < bound / 2 {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{:?} into the outage: {body}",
            stopped.elapsed()
        );
        store_seen_down |= body["checks"]["store"]["status"] == "down";
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store_seen_down, "the store's state stays visible");
    assert!(
        app.metrics().await.contains("revokd_store_up 0"),
        "the store's state is a metric"
    );
    // Past the bound, the instance is not ready: checks follow the fail mode.
    let deadline = stopped + bound * 3;
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["checks"]["mirror"]["status"], "down", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never unready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Staleness counts from the feed's last answer, which may precede the
    // stop by one idle `XREAD BLOCK` (500 ms).
    assert!(
        stopped.elapsed() >= bound - Duration::from_millis(600),
        "unready before the staleness bound: {:?}",
        stopped.elapsed()
    );

    app.infra.restart_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = app.readiness().await;
        if body["status"] == "ready" && body["checks"]["store"]["status"] == "up" {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = app.metrics().await;
    assert!(text.contains("revokd_store_up 1"), "{text}");
}

/// Issue 17 item 9: after a long outage the change feed's reconnect waits
/// at most `mirror.reconnect_delay_max` (1 s), so checks that fail closed
/// meanwhile recover about a second after Redis returns, not up to 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_recover_about_a_second_after_redis_returns() {
    // Arrange: an outage long enough for a 5 s backoff (100 ms doubling:
    // 6.3 s of waits before it).
    let app = spawn_app_with(Backend::Redis, |s| {
        s.mirror.max_staleness = Duration::from_secs(1);
    })
    .await;
    app.infra.stop_redis();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        app.check(&[("jti", "unknown")]).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "checks fail closed while the mirror is stale"
    );

    // Act
    app.infra.restart_redis();
    let back = Instant::now();

    // Assert
    loop {
        if app.check(&[("jti", "unknown")]).await.status() == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "checks still fail {:?} after Redis returned",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! `/healthz`, `/readyz`, `/metrics`, and the separate operations listener.

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

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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

//! Redis stopped mid-test: writes get 503, checks fail closed (or open when
//! configured), nothing acknowledged is lost, and the service recovers by
//! itself when Redis returns.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, ISS, assert_error, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_503_for_writes_and_closed_checks_and_no_loss() {
    // Arrange: acknowledged revocations before the outage.
    let app = spawn_app(Backend::Redis).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "before-outage"}))
        .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;

    // Act: Redis goes away.
    app.infra.stop_redis();

    // Assert: no false 200 anywhere.
    let write = app
        .admin_post("/v1/admin/tokens/revoke", &json!({"jti": "during-outage"}))
        .await;
    assert_eq!(write.headers()["retry-after"], "1");
    assert_error(
        write,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "nothing was recorded",
    )
    .await;

    let check = app.check(&[("jti", "anything")]).await;
    assert_error(
        check,
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "unavailable",
    )
    .await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["store"]["status"], "down");

    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        live.status(),
        StatusCode::OK,
        "liveness does not depend on Redis"
    );

    // Redis returns: the service recovers without a restart, and everything
    // acknowledged before the outage is still there.
    app.infra.restart_redis();
    let mut recovered = false;
    for _ in 0..50 {
        if app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "readyz recovers once Redis is back");
    assert_eq!(
        app.verdict(&[("jti", "before-outage")]).await["reason"],
        "token_revoked"
    );
    assert_eq!(
        app.verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "1")])
            .await["reason"],
        "subject_disabled"
    );
    assert_eq!(
        app.verdict(&[("jti", "during-outage")]).await,
        json!({"active": true}),
        "a refused write was not half-done"
    );
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "after-outage"}))
        .await;
    assert_eq!(
        app.verdict(&[("jti", "after-outage")]).await["reason"],
        "token_revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_lets_checks_through_flagged() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.check.fail_mode = revokd::config::FailMode::Open
    })
    .await;
    app.infra.stop_redis();

    let check = app.check(&[("jti", "anything")]).await;
    assert_eq!(check.status(), StatusCode::OK);
    assert_eq!(check.headers()["revokd-degraded"], "store_unavailable");
    assert_eq!(
        check.json::<Value>().await.unwrap(),
        json!({"active": true})
    );

    // Writes never pretend, whatever the fail mode.
    let write = app
        .admin_post("/v1/admin/tokens/revoke", &json!({"jti": "t"}))
        .await;
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_up_does_not_stop_revokd() {
    let app = spawn_app(Backend::Redis).await;
    let infra = app.stop().await;
    infra.stop_redis();

    let app = crate::helpers::spawn_on(infra, |_| {}).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    app.infra.restart_redis();
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t"}))
        .await;
}

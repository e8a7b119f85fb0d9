//! `/v1/sessions`: the bounds of a registration and who may change it
//! (issue 17, items 3 and 4).

use reqwest::StatusCode;
use revokd::api_keys::Role;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_KEY, Backend, CLIENT_KEY, ISS, TestApp, assert_error, key, spawn_app, spawn_app_with,
};

/// A second application's client key.
const OTHER_KEY: &str = "other-app-key-0123456789";

async fn spawn_two_apps(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.keys.push(key("other", Role::Client, OTHER_KEY));
    })
    .await
}

fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

async fn register_as(
    app: &TestApp,
    bearer: &str,
    sid: &str,
    token_ids: &[String],
) -> reqwest::Response {
    let body = json!({"iss": ISS, "sid": sid, "sub": "alice", "token_ids": token_ids, "expires_at": in_an_hour()});
    app.client
        .post(app.url("/v1/sessions"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn unregister_as(app: &TestApp, bearer: &str, query: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .delete(app.url("/v1/sessions"))
        .bearer_auth(bearer)
        .query(query)
        .send()
        .await
        .unwrap()
}

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

async fn active(app: &TestApp, jti: &str) -> Value {
    app.verdict(&[("jti", jti)]).await["active"].clone()
}

async fn a_registration_holds_at_most_the_configured_token_ids(backend: Backend) {
    let app = spawn_app(backend).await;

    let at_cap = register_as(&app, CLIENT_KEY, "s1", &ids("t", 0..100)).await;
    assert_eq!(at_cap.status(), StatusCode::OK, "100 ids: the default cap");

    let past = register_as(&app, CLIENT_KEY, "s2", &ids("u", 0..101)).await;
    assert_error(
        past,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "`token_ids` holds 101 token ids; at most 100 per registration (sessions.max_token_ids_per_registration)",
    )
    .await;
}

async fn a_session_holds_at_most_the_configured_token_ids(backend: Backend) {
    // Arrange: the default cap of 1,000 ids per session, reached in ten
    // calls (the key's quota out of the way).
    let app = spawn_app_with(backend, |s| s.sessions.client_token_ids_per_second = 0).await;
    for chunk in 0..10 {
        let response = register_as(
            &app,
            CLIENT_KEY,
            "s1",
            &ids("t", chunk * 100..chunk * 100 + 100),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "chunk {chunk}");
    }

    // Act: one id past the cap, beside one the session holds.
    let past = register_as(&app, CLIENT_KEY, "s1", &["t0".into(), "t1000".into()]).await;

    // Assert
    assert_error(
        past,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "holds 1000 token ids and this request adds 1: at most 1000 per session (sessions.max_token_ids_per_session)",
    )
    .await;
    assert_eq!(
        register_as(&app, CLIENT_KEY, "s1", &["t999".into()])
            .await
            .status(),
        StatusCode::OK,
        "ids the session holds are not new"
    );
}

async fn another_key_cannot_delete_a_registration(backend: Backend) {
    // Arrange: app registers t1 under s1.
    let app = spawn_two_apps(backend).await;
    let registered = register_as(&app, CLIENT_KEY, "s1", &["t1".into()]).await;
    assert_eq!(registered.status(), StatusCode::OK);

    // Act: the other app deletes "the session", then the provider logs it out.
    let deleted = unregister_as(&app, OTHER_KEY, &[("iss", ISS), ("sid", "s1")]).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let body: Value = deleted.json().await.unwrap();
    assert_eq!(body, json!({"removed": false}), "it had nothing to remove");
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s1"}),
    )
    .await;

    // Assert: the logout still reaches the app's token.
    assert_eq!(active(&app, "t1").await, json!(false));
}

async fn a_client_key_may_not_name_another_keys_registration(backend: Backend) {
    let app = spawn_two_apps(backend).await;
    register_as(&app, CLIENT_KEY, "s1", &["t1".into()]).await;

    let response = unregister_as(
        &app,
        OTHER_KEY,
        &[("iss", ISS), ("sid", "s1"), ("key", "app")],
    )
    .await;

    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "forbidden",
        "a client key may only remove its own registrations",
    )
    .await;
}

async fn an_admin_may_delete_any_keys_registration(backend: Backend) {
    let app = spawn_two_apps(backend).await;
    register_as(&app, CLIENT_KEY, "s1", &["t1".into()]).await;

    let response = unregister_as(
        &app,
        ADMIN_KEY,
        &[("iss", ISS), ("sid", "s1"), ("key", "app")],
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"removed": true}));
}

async fn a_refused_registration_does_not_revoke_another_apps_token(backend: Backend) {
    // Arrange: app registers t1 under s1; s1 is then logged out... and a
    // new session s2 of the same person has t2, registered by app.
    let app = spawn_two_apps(backend).await;
    register_as(&app, CLIENT_KEY, "s2", &["t2".into()]).await;
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s1"}),
    )
    .await;
    assert_eq!(active(&app, "t2").await, json!(true));

    // Act: the other app registers app's t2 under the revoked s1.
    let refused = register_as(&app, OTHER_KEY, "s1", &["t2".into(), "mine".into()]).await;

    // Assert: refused, the other app's own id is dead, app's token is not.
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(active(&app, "mine").await, json!(false));
    assert_eq!(
        active(&app, "t2").await,
        json!(true),
        "only an admin revokes another app's token"
    );
}

async fn a_client_key_over_its_quota_gets_429_with_retry_after(backend: Backend) {
    // Arrange: 1 id per second, bursts of 100; the other key is unlimited.
    let app = spawn_app_with(backend, |s| {
        s.keys.push(key("other", Role::Client, OTHER_KEY));
        s.sessions.client_token_ids_per_second = 1;
        s.sessions.client_token_ids_burst = 100;
        s.sessions.key_quotas = vec![revokd::quota::KeyQuotaSettings {
            key: "other".into(),
            token_ids_per_second: 0,
            token_ids_burst: 0,
            max_token_ids: None,
        }];
    })
    .await;
    let burst = register_as(&app, CLIENT_KEY, "s1", &ids("t", 0..100)).await;
    assert_eq!(burst.status(), StatusCode::OK, "the burst");

    // Act
    let over = register_as(&app, CLIENT_KEY, "s1", &["t100".into()]).await;
    let other = register_as(&app, OTHER_KEY, "s1", &ids("o", 0..100)).await;

    // Assert
    assert_eq!(over.headers()["retry-after"], "1");
    assert_error(
        over,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "key `app` registers token ids faster than its quota (1 per second, bursts of 100",
    )
    .await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another key's quota is its own"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("revokd_client_quota_exceeded_total{key=\"app\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("revokd_client_token_ids_total{key=\"app\"} 100"),
        "{metrics}"
    );
}

async fn a_client_key_holding_its_volume_gets_429_until_room_frees(backend: Backend) {
    // Arrange: 150 live ids per key (the rate out of the way); the other
    // key's own entry allows 1,000.
    let app = spawn_app_with(backend, |s| {
        s.keys.push(key("other", Role::Client, OTHER_KEY));
        s.sessions.client_token_ids_per_second = 0;
        s.sessions.max_token_ids_per_key = 150;
        s.sessions.key_quotas = vec![revokd::quota::KeyQuotaSettings {
            key: "other".into(),
            token_ids_per_second: 0,
            token_ids_burst: 0,
            max_token_ids: Some(1000),
        }];
    })
    .await;
    for (sid, token_ids) in [("s1", ids("a", 0..100)), ("s2", ids("b", 0..50))] {
        let ok = register_as(&app, CLIENT_KEY, sid, &token_ids).await;
        assert_eq!(ok.status(), StatusCode::OK, "{sid}");
    }

    // Act
    let over = register_as(&app, CLIENT_KEY, "s3", &["c0".into()]).await;
    let other = register_as(&app, OTHER_KEY, "s3", &ids("o", 0..100)).await;

    // Assert: 429, no Retry-After (no short wait frees room), nothing stored.
    assert!(over.headers().get("retry-after").is_none(), "{over:?}");
    assert_error(
        over,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        "key `app` holds 150 live token ids and this registration adds 1: at most 150 per key (sessions.max_token_ids_per_key",
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK, "another key's volume");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("revokd_client_volume_exceeded_total{key=\"app\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("revokd_client_token_ids_held{key=\"app\"} 150"),
        "{metrics}"
    );

    // A local logout frees room.
    let gone = unregister_as(&app, CLIENT_KEY, &[("iss", ISS), ("sid", "s2")]).await;
    assert_eq!(gone.status(), StatusCode::OK);
    let room = register_as(&app, CLIENT_KEY, "s3", &["c0".into()]).await;
    assert_eq!(room.status(), StatusCode::OK);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("revokd_client_token_ids_held{key=\"app\"} 101"),
        "{metrics}"
    );
}

async fn refused_registrations_write_one_audit_event_each(backend: Backend) {
    // Arrange: alice is disabled by an admin (two events).
    let app = spawn_app_with(backend, |s| s.sessions.client_token_ids_per_second = 0).await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;

    // Act: three registrations of 100 ids each for her, all refused.
    for round in 0..3 {
        let refused =
            register_as(&app, CLIENT_KEY, "s1", &ids(&format!("r{round}-"), 0..100)).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    // Assert: five events, not 302; the newest lists its 100 ids.
    let events: Value = app
        .admin_get("/v1/admin/events", &[("limit", "100")])
        .await
        .json()
        .await
        .unwrap();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(events[0]["kind"], "tokens_revoked");
    assert_eq!(events[0]["actor"], "client:app");
    assert_eq!(events[0]["jtis"].as_array().unwrap().len(), 100);
    assert_eq!(events[0]["jtis"][0], "r2-0");
    assert_eq!(active(&app, "r2-99").await, json!(false));
}

async fn a_client_key_cannot_push_an_admins_event_out_of_the_audit_log(backend: Backend) {
    // Arrange: a log of 50 events (the embedded store trims every second),
    // and an admin's disable of alice.
    let app = spawn_app_with(backend, |s| {
        s.sessions.client_token_ids_per_second = 0;
        s.embedded.max_events = 50;
        s.embedded.sweep_interval = std::time::Duration::from_secs(1);
        s.redis.max_events = 50;
    })
    .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;

    // Act: 400 refused registrations for her, one client event each.
    for round in 0..400 {
        let refused = register_as(&app, CLIENT_KEY, "s1", &[format!("f{round}")]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    // Assert: the log was trimmed, and the admin's events are still read.
    let events: Value = app
        .admin_get("/v1/admin/events", &[("limit", "500")])
        .await
        .json()
        .await
        .unwrap();
    let events = events["events"].as_array().unwrap();
    let client = events.iter().filter(|e| e["actor"] == "client:app").count();
    assert!(client < 400, "trimmed: {client} client events left");
    let admin: Vec<&Value> = events
        .iter()
        .filter(|e| e["actor"] != "client:app")
        .collect();
    assert_eq!(admin.len(), 2, "the disable and its mark: {admin:?}");
    assert!(admin.iter().all(|e| e["actor"] == "admin:ops"), "{admin:?}");
    assert_eq!(events.last(), admin.last().copied(), "the oldest, in order");
}

crate::on_both_stores!(
    a_client_key_cannot_push_an_admins_event_out_of_the_audit_log,
    a_client_key_holding_its_volume_gets_429_until_room_frees,
    refused_registrations_write_one_audit_event_each,
    a_client_key_over_its_quota_gets_429_with_retry_after,
    a_registration_holds_at_most_the_configured_token_ids,
    a_session_holds_at_most_the_configured_token_ids,
    another_key_cannot_delete_a_registration,
    a_client_key_may_not_name_another_keys_registration,
    an_admin_may_delete_any_keys_registration,
    a_refused_registration_does_not_revoke_another_apps_token,
);

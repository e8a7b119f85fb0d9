//! Restarting revokd never brings a revoked token back to life.

use serde_json::json;

use crate::helpers::{Backend, ISS, spawn_app};
use crate::on_both_stores;

async fn revocations_survive_a_restart(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    app.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t1"}))
        .await;
    app.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s1"}),
    )
    .await;
    app.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;

    // Act
    let app = app.restart().await;

    // Assert
    assert_eq!(
        app.verdict(&[("jti", "t1")]).await["reason"],
        "token_revoked"
    );
    assert_eq!(
        app.verdict(&[("iss", ISS), ("sid", "s1")]).await["reason"],
        "session_revoked"
    );
    assert_eq!(
        app.verdict(&[("iss", ISS), ("sub", "alice"), ("iat", "4102444800")])
            .await["reason"],
        "subject_disabled"
    );
    assert_eq!(app.verdict(&[("jti", "t2")]).await, json!({"active": true}));
    let events: serde_json::Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        4,
        "the audit log survives too (a disable is two events)"
    );
}

on_both_stores!(revocations_survive_a_restart);

//! `/v1/admin/...`: authentication, each operation, the audit log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, CLIENT_KEY, ISS, assert_error, spawn_app};
use crate::on_both_stores;

async fn revocations_are_audited_newest_first_with_actor_and_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..5 {
        app.admin_ok(
            "/v1/admin/tokens/revoke",
            &json!({"jti": format!("t{i}"), "reason": format!("leak {i}")}),
        )
        .await;
    }

    let first: Value = app
        .admin_get("/v1/admin/events", &[("limit", "2")])
        .await
        .json()
        .await
        .unwrap();
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["jti"], "t4");
    assert_eq!(events[0]["kind"], "token_revoked");
    assert_eq!(events[0]["actor"], "admin:ops");
    assert_eq!(events[0]["reason"], "leak 4");
    assert_eq!(events[1]["jti"], "t3");

    // Paging visits every event exactly once, newest first.
    let mut seen: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2".to_owned())];
        if let Some(b) = &before {
            query.push(("before", b.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page: Value = app
            .admin_get("/v1/admin/events", &query)
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["jti"].as_str().unwrap().to_owned()),
        );
        match page.get("next") {
            Some(next) => before = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["t4", "t3", "t2", "t1", "t0"]);
}

async fn subject_status_reflects_disable_and_enable(backend: Backend) {
    let app = spawn_app(backend).await;
    let fresh = status(&app).await;
    assert_eq!(fresh["disabled"], false);
    assert_eq!(fresh["revoked_before"], Value::Null);

    let event = app
        .admin_ok(
            "/v1/admin/subjects/disable",
            &json!({"iss": ISS, "sub": "alice"}),
        )
        .await;
    assert_eq!(event["kind"], "subject_disabled");
    let disabled = status(&app).await;
    assert_eq!(disabled["disabled"], true);
    assert_eq!(
        disabled["revoked_before"], event["at"],
        "disable raises the revoked-before mark"
    );

    app.admin_ok(
        "/v1/admin/subjects/enable",
        &json!({"iss": ISS, "sub": "alice"}),
    )
    .await;
    let enabled = status(&app).await;
    assert_eq!(enabled["disabled"], false);
    assert_eq!(enabled["revoked_before"], event["at"]);
}

async fn token_revocation_honours_exp(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let event = app
        .admin_ok(
            "/v1/admin/tokens/revoke",
            &json!({"jti": "t", "exp": now + 3600}),
        )
        .await;
    assert_eq!(
        event["expires_at"],
        now + 3600 + 60,
        "kept until exp plus a minute of clock skew"
    );

    let too_far = app
        .admin_post(
            "/v1/admin/tokens/revoke",
            &json!({"jti": "t", "exp": now + 500 * 86_400}),
        )
        .await;
    assert_error(
        too_far,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "lifetimes.max_token_exp",
    )
    .await;
}

async fn status(app: &crate::helpers::TestApp) -> Value {
    let response = app
        .admin_get(
            "/v1/admin/subjects/status",
            &[("iss", ISS), ("sub", "alice")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()
}

on_both_stores!(
    revocations_are_audited_newest_first_with_actor_and_reason,
    subject_status_reflects_disable_and_enable,
    token_revocation_honours_exp,
);

#[tokio::test]
async fn admin_endpoints_refuse_missing_wrong_and_client_keys() {
    let app = spawn_app(Backend::Embedded).await;
    let routes = [
        ("POST", "/v1/admin/tokens/revoke"),
        ("POST", "/v1/admin/sessions/revoke"),
        ("POST", "/v1/admin/subjects/disable"),
        ("POST", "/v1/admin/subjects/enable"),
        ("POST", "/v1/admin/subjects/revoke-tokens"),
        ("GET", "/v1/admin/subjects/status"),
        ("GET", "/v1/admin/events"),
    ];
    for (method, path) in routes {
        let request = |key: Option<&str>| {
            let mut builder = app.client.request(method.parse().unwrap(), app.url(path));
            if let Some(key) = key {
                builder = builder.bearer_auth(key);
            }
            // A valid body, so that only the key can be the problem.
            builder.json(&json!({"jti": "t", "iss": ISS, "sid": "s", "sub": "u"}))
        };
        let none = request(None).send().await.unwrap();
        assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;
        let wrong = request(Some("not-a-key-0123456789")).send().await.unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;
        let client = request(Some(CLIENT_KEY)).send().await.unwrap();
        assert_error(client, StatusCode::FORBIDDEN, "forbidden", "admin key").await;
    }
    // Nothing was recorded by any of those attempts.
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"], json!([]));
}

#[tokio::test]
async fn bad_admin_requests_are_refused_and_record_nothing() {
    let app = spawn_app(Backend::Embedded).await;
    let cases = [
        ("/v1/admin/tokens/revoke", json!({}), "missing field `jti`"),
        (
            "/v1/admin/tokens/revoke",
            json!({"jti": ""}),
            "`jti` must not be empty",
        ),
        (
            "/v1/admin/tokens/revoke",
            json!({"jti": "t", "exp": "soon"}),
            "malformed JSON body",
        ),
        (
            "/v1/admin/tokens/revoke",
            json!({"jti": "t", "reason": "r".repeat(513)}),
            "`reason` is longer than 512",
        ),
        (
            "/v1/admin/sessions/revoke",
            json!({"sid": "s"}),
            "missing field `iss`",
        ),
        (
            "/v1/admin/sessions/revoke",
            json!({"iss": "x".repeat(1025), "sid": "s"}),
            "`iss` is longer than 1024",
        ),
        (
            "/v1/admin/subjects/disable",
            json!({"iss": ISS, "sub": "u", "until": 5}),
            "unknown field `until`",
        ),
        (
            "/v1/admin/subjects/enable",
            json!({"iss": ISS}),
            "missing field `sub`",
        ),
        (
            "/v1/admin/subjects/revoke-tokens",
            json!({"iss": ISS, "sub": "a\nb"}),
            "control character",
        ),
    ];
    for (path, body, needle) in cases {
        let response = app.admin_post(path, &body).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
    let events: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"], json!([]));
}

#[tokio::test]
async fn event_paging_parameters_are_validated() {
    let app = spawn_app(Backend::Embedded).await;
    for (query, needle) in [
        (vec![("limit", "0")], "between 1 and 500"),
        (vec![("limit", "501")], "between 1 and 500"),
        (vec![("before", "not-an-id")], "`before`"),
        (vec![("after", "1")], "unknown field `after`"),
    ] {
        let response = app.admin_get("/v1/admin/events", &query).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
}

//! `GET /v1/admin/subjects/sessions`: a subject's session registry, as
//! the admin page shows it (issue 16 part 3).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backchannel::register;
use crate::helpers::{ADMIN_KEY, Backend, CLIENT_KEY, ISS, TestApp, assert_error, spawn_app};
use crate::on_both_stores;

const PATH: &str = "/v1/admin/subjects/sessions";

async fn sessions(app: &TestApp, query: &[(&str, &str)]) -> Value {
    let response = app.admin_get(PATH, query).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn jtis(list: &Value) -> Vec<&str> {
    list["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jti"].as_str().unwrap())
        .collect()
}

async fn a_subjects_registrations_are_listed_until_a_local_logout(backend: Backend) {
    // Arrange: the app registers two logins of alice and one of bob, as
    // Home Assistant does.
    let app = spawn_app(backend).await;
    let before = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    for (sid, sub, jti) in [
        ("s1", "alice", "t1"),
        ("s2", "alice", "t2"),
        ("s3", "bob", "t3"),
    ] {
        assert_eq!(
            register(&app, ISS, sid, sub, jti).await.status(),
            StatusCode::OK
        );
    }
    let alice = [("iss", ISS), ("sub", "alice")];

    // Act
    let all = sessions(&app, &alice).await;
    let one = sessions(&app, &[("iss", ISS), ("sub", "alice"), ("limit", "1")]).await;

    // Assert: both of alice's, none of bob's, with where they come from.
    assert_eq!(all["iss"], ISS);
    assert_eq!(all["sub"], "alice");
    assert_eq!(all["truncated"], false);
    let mut listed = jtis(&all);
    listed.sort_unstable();
    assert_eq!(listed, ["t1", "t2"], "{all}");
    let first = &all["registrations"][0];
    assert_eq!(first["owner"], "app", "the client key's name");
    assert!(["s1", "s2"].contains(&first["sid"].as_str().unwrap()));
    let registered_at = first["registered_at"].as_i64().unwrap();
    assert!((before..=before + 60).contains(&registered_at), "{first}");
    let expires_at = first["expires_at"].as_i64().unwrap();
    assert!(
        (before + 3600..=before + 3660).contains(&expires_at),
        "{first}"
    );
    assert_eq!(one["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(one["truncated"], true, "one more exists");

    // A local logout of s1 takes t1 out of the registry.
    let logout = app
        .client
        .delete(app.url("/v1/sessions"))
        .bearer_auth(CLIENT_KEY)
        .query(&[("iss", ISS), ("sid", "s1")])
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success(), "{}", logout.status());
    let after = sessions(&app, &alice).await;
    assert_eq!(jtis(&after), ["t2"], "{after}");
    assert_eq!(after["registrations"][0]["sid"], "s2");
    let carol = sessions(&app, &[("iss", ISS), ("sub", "carol")]).await;
    assert_eq!(carol["registrations"], json!([]));
}

on_both_stores!(a_subjects_registrations_are_listed_until_a_local_logout);

#[tokio::test]
async fn the_registry_needs_an_admin_key() {
    let app = spawn_app(Backend::Embedded).await;
    let request = |key: Option<&str>| {
        let mut builder = app
            .client
            .get(app.url(PATH))
            .query(&[("iss", ISS), ("sub", "alice")]);
        if let Some(key) = key {
            builder = builder.bearer_auth(key);
        }
        builder
    };
    let none = request(None).send().await.unwrap();
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;
    let wrong = request(Some("not-a-key-0123456789")).send().await.unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized", "API key").await;
    let client = request(Some(CLIENT_KEY)).send().await.unwrap();
    assert_error(client, StatusCode::FORBIDDEN, "forbidden", "admin key").await;
    let admin = request(Some(ADMIN_KEY)).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::OK, "the control");
}

#[tokio::test]
async fn bad_registry_queries_are_refused() {
    let app = spawn_app(Backend::Embedded).await;
    let long_iss = "x".repeat(1025);
    let long_sub = "s".repeat(1025);
    for (query, needle) in [
        (vec![("sub", "alice")], "missing field `iss`"),
        (vec![("iss", ISS)], "missing field `sub`"),
        (
            vec![("iss", long_iss.as_str()), ("sub", "alice")],
            "`iss` is longer than 1024",
        ),
        (
            vec![("iss", ISS), ("sub", long_sub.as_str())],
            "`sub` is longer than",
        ),
        (vec![("iss", ISS), ("sub", "a\nb")], "control character"),
        (vec![("iss", ISS), ("sub", "")], "`sub` must not be empty"),
        (
            vec![("iss", ISS), ("sub", "alice"), ("limit", "0")],
            "between 1 and 500",
        ),
        (
            vec![("iss", ISS), ("sub", "alice"), ("limit", "501")],
            "between 1 and 500",
        ),
        (
            vec![("iss", ISS), ("sub", "alice"), ("limit", "many")],
            "limit",
        ),
        (
            vec![("iss", ISS), ("sub", "alice"), ("sid", "s1")],
            "unknown field `sid`",
        ),
    ] {
        let response = app.admin_get(PATH, &query).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request", needle).await;
    }
}

//! Issue 17 item 16: revokd runs with a Redis ACL user that has only the
//! permissions deploy/README.md documents, created with the documented
//! `ACL SETUSER` line as it is written there, SCIM provisioning included.

use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Value};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};

use crate::backchannel::register;
use crate::helpers::{Backend, CLIENT_KEY, ISS, Infra, spawn_on};
use crate::scim;

const PASSWORD: &str = "acl-test-password-0123";

/// The documented `ACL SETUSER` line, split into arguments, with the test's
/// password in place of the placeholder.
fn documented_acl() -> Vec<String> {
    let readme = include_str!("../../deploy/README.md");
    let (_, after) = readme
        .split_once("<!-- acl-setuser: tests/api/acl.rs reads the next line -->")
        .expect("deploy/README.md marks its ACL SETUSER line");
    let line = after
        .lines()
        .find(|l| l.starts_with("ACL SETUSER "))
        .expect("the ACL SETUSER line follows the marker");
    assert!(line.contains(">CHANGE-ME"), "{line}");
    line.replace(">CHANGE-ME", &format!(">{PASSWORD}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revokd_runs_with_only_the_documented_redis_permissions() {
    // Arrange: a Redis with the documented user, as its administrator.
    let infra = Infra::new(Backend::Redis);
    let admin_url = infra.settings().redis.url.expose_secret().to_owned();
    let admin = redis::Client::open(admin_url.as_str()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let acl = documented_acl();
    let mut setuser = redis::cmd(&acl[0]);
    setuser.arg(&acl[1..]);
    let () = setuser.query_async(&mut admin).await.unwrap();
    let () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query_async(&mut admin)
        .await
        .unwrap();
    let user_url = admin_url.replacen("redis://", &format!("redis://revokd:{PASSWORD}@"), 1);
    let as_revokd = |s: &mut revokd::config::Settings| {
        s.redis.url = SecretString::from(user_url.clone());
        s.redis.key_prefix = "revokd:".into();
        s.mirror.sweep_interval = Duration::from_millis(200);
        s.scim = vec![scim::client("entra", ISS, scim::TOKEN)];
    };
    // A store written before: the first snapshot builds the index (SCAN).
    let () = admin
        .set("revokd:unrelated-but-prefixed", "x")
        .await
        .unwrap();

    // Act: two instances through that user, every Redis path of revokd.
    let a = spawn_on(infra.clone(), as_revokd).await;
    let b = spawn_on(infra.clone(), as_revokd).await;
    for app in [&a, &b] {
        assert_eq!(app.readiness().await["status"], "ready");
    }
    a.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t1"}))
        .await;
    a.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s1"}),
    )
    .await;
    a.admin_ok(
        "/v1/admin/subjects/disable",
        &json!({"iss": ISS, "sub": "bob"}),
    )
    .await;
    a.admin_ok(
        "/v1/admin/subjects/enable",
        &json!({"iss": ISS, "sub": "bob"}),
    )
    .await;
    assert_eq!(
        register(&a, ISS, "s2", "carol", "t2").await.status(),
        StatusCode::OK
    );
    let registry: Json = a
        .admin_get(
            "/v1/admin/subjects/sessions",
            &[("iss", ISS), ("sub", "carol")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(registry["registrations"][0]["jti"], "t2", "{registry}");
    a.admin_ok(
        "/v1/admin/sessions/revoke",
        &json!({"iss": ISS, "sid": "s2"}),
    )
    .await;
    let unregister = a
        .client
        .delete(a.url("/v1/sessions"))
        .bearer_auth(CLIENT_KEY)
        .query(&[("iss", ISS), ("sid", "s3")])
        .send()
        .await
        .unwrap();
    assert!(unregister.status().is_success(), "{}", unregister.status());

    // SCIM: create, list a page, disable, delete (every SCIM script).
    let scim_call = |method: reqwest::Method, path: &str, body: Option<Json>| {
        let mut request = a
            .client
            .request(method, a.url(&format!("/scim/v2{path}")))
            .bearer_auth(scim::TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        request.send()
    };
    let created = scim_call(
        reqwest::Method::POST,
        "/Users",
        Some(json!({"schemas": [scim::USER], "userName": "dave", "externalId": "dave"})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Json>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed: Json = scim_call(reqwest::Method::GET, "/Users?startIndex=1&count=10", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["totalResults"], 1, "{listed}");
    let disable = json!({"schemas": [scim::PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let patched = scim_call(
        reqwest::Method::PATCH,
        &format!("/Users/{id}"),
        Some(disable),
    )
    .await
    .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let deleted = scim_call(reqwest::Method::DELETE, &format!("/Users/{id}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // Assert: the other instance learns it all through the change feed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let t1 = b.verdict(&[("jti", "t1")]).await;
        let t2 = b.verdict(&[("jti", "t2")]).await;
        if t1["reason"] == "token_revoked" && t2["reason"] == "session_revoked" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{t1} {t2}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The audit log and the live set are read through it too.
    let events: Json = b
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(events["events"].as_array().unwrap().len() >= 5, "{events}");
    let live = b.admin_get("/v1/revocations", &[]).await;
    assert!(live.status().is_success(), "{}", live.status());
    // The event stream delivers a write made on the other instance.
    let mut stream = b
        .client
        .get(b.url("/v1/events"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    a.admin_ok("/v1/admin/tokens/revoke", &json!({"jti": "t-streamed"}))
        .await;
    let mut seen = String::new();
    while !seen.contains("t-streamed") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the event arrives")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The index sweep has run (every 200 ms) on both instances by now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Nothing revokd asked for was denied.
    let denied: Value = redis::cmd("ACL")
        .arg("LOG")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(denied, Value::Array(vec![]), "ACL LOG: {denied:?}");
    // And the user cannot reach beyond its keys.
    let user = redis::Client::open(user_url.as_str()).unwrap();
    let mut user = user.get_multiplexed_async_connection().await.unwrap();
    let foreign: redis::RedisResult<Option<String>> = user.get("someone-else:key").await;
    assert!(foreign.is_err(), "a key outside the prefix was readable");
    let flush: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut user).await;
    assert!(flush.is_err(), "FLUSHALL was allowed");
}

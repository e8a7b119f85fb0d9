//! The SCIM 2.0 service provider over HTTP (issue 15 part 3): every
//! endpoint, the PATCH shapes Entra ID and Okta document, every error with
//! its status and `scimType`, mutated bodies refused without a panic and
//! without an effect, and end to end on both stores: a SCIM disable makes
//! `/v1/check` and `/v1/forward-auth` refuse the person's existing tokens,
//! enabling lets new ones through, DELETE disables again.

use reqwest::{Method, Response, StatusCode};
use revokd::config::Settings;
use revokd::providers::scim_settings::ScimClientSettings;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::backchannel::{provider, wait_for_provider};
use crate::common::forging_idp::{TestIdp, unix_now};
use crate::helpers::{Backend, CLIENT_KEY, Infra, TestApp, spawn_app_with, spawn_on};

pub(crate) const TOKEN: &str = "scim-entra-token-0123456789";
const OTHER_TOKEN: &str = "scim-okta-token-0123456789";
const SCIM_ISS: &str = "https://login.example.com/tenant/v2.0";
pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub(crate) fn client(name: &str, issuer: &str, token: &str) -> ScimClientSettings {
    ScimClientSettings {
        name: name.into(),
        issuer: issuer.into(),
        token: Some(SecretString::from(token.to_owned())),
        token_sha256: None,
        token_file: None,
        subject_attribute: "externalId".into(),
    }
}

/// Two SCIM clients, `entra` and `okta`, of one issuer.
fn two_clients(s: &mut Settings) {
    s.scim = vec![
        client("entra", SCIM_ISS, TOKEN),
        client("okta", SCIM_ISS, OTHER_TOKEN),
    ];
}

async fn scim_app() -> TestApp {
    spawn_app_with(Backend::Embedded, two_clients).await
}

/// A SCIM request with `token`, a body as `application/scim+json`.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(&format!("/scim/v2{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body);
    }
    request.send().await.unwrap()
}

async fn scim(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Response {
    call(app, method, path, Some(TOKEN), body.map(|b| b.to_string())).await
}

fn new_user(user_name: &str, external_id: &str, active: bool) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "externalId": external_id,
        "active": active,
        "name": {"givenName": "A", "familyName": "B"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
    })
}

async fn create(app: &TestApp, user_name: &str, external_id: &str, active: bool) -> Value {
    let response = scim(
        app,
        Method::POST,
        "/Users",
        Some(new_user(user_name, external_id, active)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

async fn events(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .admin_get("/v1/admin/events", &[])
        .await
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

async fn status(app: &TestApp, iss: &str, sub: &str) -> Value {
    app.admin_get("/v1/admin/subjects/status", &[("iss", iss), ("sub", sub)])
        .await
        .json()
        .await
        .unwrap()
}

/// A SCIM error: the status, RFC 7644 §3.12's body as
/// `application/scim+json`, its `scimType`.
async fn assert_scim_error(
    response: Response,
    status: StatusCode,
    scim_type: Option<&str>,
    what: &str,
) {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/scim+json"),
        "{what}: {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["schemas"], json!([ERROR]), "{what}: {body}");
    assert_eq!(
        body["status"],
        status.as_u16().to_string(),
        "{what}: {body}"
    );
    assert_eq!(body["scimType"].as_str(), scim_type, "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_serves_scim_json() {
    let app = scim_app().await;

    // Discovery.
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas",
        &format!("/Schemas/{USER}"),
    ] {
        let response = scim(&app, Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/scim+json",
            "{path}"
        );
    }
    let spc: Value = scim(&app, Method::GET, "/ServiceProviderConfig", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    // Create: 201, Location, ETag, meta.
    let response = scim(
        &app,
        Method::POST,
        "/Users",
        Some(new_user("Alice@Example.com", "alice", true)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let alice: Value = response.json().await.unwrap();
    let id = alice["id"].as_str().unwrap().to_owned();
    assert_eq!(location, app.url(&format!("/scim/v2/Users/{id}")));
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(alice["userName"], "Alice@Example.com");
    assert_eq!(alice["externalId"], "alice");
    assert_eq!(alice["active"], true);
    assert_eq!(alice["meta"]["resourceType"], "User");
    assert_eq!(alice["meta"]["location"], location);
    assert_eq!(alice["meta"]["version"], etag);
    assert!(alice["meta"]["created"].as_str().unwrap().ends_with('Z'));
    assert!(
        alice.get("emails").is_none(),
        "attributes not kept are not returned"
    );
    // An active user of an enabled subject writes no audit event.
    assert!(events(&app).await.is_empty());

    // Read.
    let got: Value = scim(&app, Method::GET, &format!("/Users/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, alice);
    let projected: Value = scim(
        &app,
        Method::GET,
        &format!("/Users/{id}?attributes=userName"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        projected.get("active").is_none()
            && projected["id"] == id
            && projected["userName"] == "Alice@Example.com"
    );

    // Lists: filters (userName case-insensitively), paging.
    create(&app, "bob", "bob", true).await;
    create(&app, "carol", "carol", true).await;
    for filter in [
        "userName eq \"alice@example.com\"",
        "externalId eq \"alice\"",
        &format!("id eq \"{id}\""),
    ] {
        let list: Value = app
            .client
            .get(app.url("/scim/v2/Users"))
            .bearer_auth(TOKEN)
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        assert_eq!(list["totalResults"], 1, "{filter}");
        assert_eq!(list["Resources"][0]["id"], id, "{filter}");
    }
    let none: Value = app
        .client
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .query(&[("filter", "userName eq \"nobody\"")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["totalResults"], 0);
    assert_eq!(none["Resources"], json!([]));
    // Pages of one, in a stable order, cover every user once.
    let mut seen = Vec::new();
    for start in 1..=4 {
        let page: Value = app
            .client
            .get(app.url("/scim/v2/Users"))
            .bearer_auth(TOKEN)
            .query(&[("startIndex", start.to_string()), ("count", "1".to_owned())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["totalResults"], 3);
        assert_eq!(page["startIndex"], start);
        if let Some(user) = page["Resources"][0]["userName"].as_str() {
            assert_eq!(page["itemsPerPage"], 1);
            seen.push(user.to_owned());
        } else {
            assert_eq!(page["itemsPerPage"], 0, "past the end");
        }
    }
    seen.sort();
    assert_eq!(seen, ["Alice@Example.com", "bob", "carol"]);

    // Replace: the version moves on.
    let mut replaced = new_user("alice@example.com", "alice", true);
    replaced["active"] = json!(false);
    let response = scim(&app, Method::PUT, &format!("/Users/{id}"), Some(replaced)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], false);
    assert_eq!(body["userName"], "alice@example.com");
    assert_eq!(status(&app, SCIM_ISS, "alice").await["disabled"], true);

    // PATCH with a matching If-Match.
    let response = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("if-match", "W/\"2\"")
        .body(patch(json!([{"op": "replace", "path": "active", "value": true}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(status(&app, SCIM_ISS, "alice").await["disabled"], false);

    // Delete: 204, gone, the subject disabled and its tokens revoked.
    let response = scim(&app, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after = status(&app, SCIM_ISS, "alice").await;
    assert_eq!(after["disabled"], true);
    assert!(after["revoked_before"].is_i64());
    assert_scim_error(
        scim(&app, Method::GET, &format!("/Users/{id}"), None).await,
        StatusCode::NOT_FOUND,
        None,
        "deleted",
    )
    .await;
    // Every change is audited as the client.
    let recorded = events(&app).await;
    assert!(!recorded.is_empty());
    assert!(
        recorded.iter().all(|e| e["actor"] == "scim:entra"),
        "{recorded:?}"
    );

    let metrics = app.metrics().await;
    for line in [
        r#"revokd_scim_requests_total{client="entra",operation="create",outcome="ok",rule=""} 3"#,
        r#"revokd_scim_requests_total{client="entra",operation="delete",outcome="ok",rule=""} 1"#,
        r#"revokd_scim_requests_total{client="entra",operation="get",outcome="rejected",rule="not_found"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patch_shapes_entra_id_and_okta_send_disable_and_enable() {
    let app = scim_app().await;
    let shapes = [
        // Entra ID: "Replace", a path, the value as a string (its
        // documented SCIM compliance issue).
        (
            "entra path",
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        ),
        // Entra ID with a value object, and the other attributes it
        // sends in the same request.
        (
            "entra value object",
            json!([{"op": "Replace", "value": {"active": "False"}}, {"op": "Add", "path": "displayName", "value": "A"}]),
            json!([{"op": "Replace", "value": {"active": "True"}}]),
        ),
        // Okta: no path, a value object with a boolean.
        (
            "okta",
            json!([{"op": "replace", "value": {"active": false}}]),
            json!([{"op": "replace", "value": {"active": true}}]),
        ),
        // RFC 7644 §3.5.2.3.
        (
            "rfc",
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": true}]),
        ),
    ];
    for (i, (what, disable, enable)) in shapes.into_iter().enumerate() {
        let sub = format!("person-{i}");
        let id = create(&app, &format!("user{i}@example.com"), &sub, true).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = scim(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(disable)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["active"],
            false,
            "{what}"
        );
        assert_eq!(
            status(&app, SCIM_ISS, &sub).await["disabled"],
            true,
            "{what}"
        );

        let response = scim(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(enable)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        assert_eq!(
            status(&app, SCIM_ISS, &sub).await["disabled"],
            false,
            "{what}"
        );
    }

    // Okta deactivates with PUT too; and a user created inactive is
    // disabled at once.
    let id = create(&app, "dave", "dave", true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(new_user("dave", "dave", false)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(status(&app, SCIM_ISS, "dave").await["disabled"], true);
    create(&app, "erin", "erin", false).await;
    assert_eq!(status(&app, SCIM_ISS, "erin").await["disabled"], true);

    // authentik updates with PUT, and its default mapping sends no
    // `active`: leaving it out changes nothing, DELETE disables.
    let authentik_put = json!({"schemas": [USER], "userName": "erin", "externalId": "erin", "name": {"formatted": "Erin"}});
    let id = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22erin%22",
        None,
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(authentik_put),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["active"], false);
    assert_eq!(status(&app, SCIM_ISS, "erin").await["disabled"], true);
}

/// What, method, path, token, body, status, scimType.
type Case<'a> = (
    &'a str,
    Method,
    String,
    Option<&'a str>,
    Option<String>,
    StatusCode,
    Option<&'a str>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_status_and_scim_type_and_applies_nothing() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        two_clients(s);
        s.http.body_limit = 4096;
    })
    .await;
    let id = create(&app, "alice", "alice", true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    create(&app, "bob", "bob", true).await;
    let user = format!("/Users/{id}");
    let deactivate =
        patch(json!([{"op": "replace", "path": "active", "value": false}])).to_string();
    let ok = Some(TOKEN);
    let cases: Vec<Case> = vec![
        (
            "no token",
            Method::PATCH,
            user.clone(),
            None,
            Some(deactivate.clone()),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "wrong token",
            Method::PATCH,
            user.clone(),
            Some("not-a-scim-token-at-all"),
            Some(deactivate.clone()),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "an API key is no SCIM token",
            Method::GET,
            "/Users".into(),
            Some(CLIENT_KEY),
            None,
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "another client's user",
            Method::PATCH,
            user.clone(),
            Some(OTHER_TOKEN),
            Some(deactivate.clone()),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "another client's user read",
            Method::GET,
            user.clone(),
            Some(OTHER_TOKEN),
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "malformed JSON",
            Method::PATCH,
            user.clone(),
            ok,
            Some("{\"schemas\":".into()),
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            "a member given twice",
            Method::PATCH,
            user.clone(),
            ok,
            Some(format!(
                "{{\"schemas\":[\"{PATCH}\"],\"Operations\":[{{\"op\":\"replace\",\"path\":\"active\",\"value\":false,\"value\":true}}]}}"
            )),
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            "not a PatchOp",
            Method::PATCH,
            user.clone(),
            ok,
            Some(json!({"Operations": []}).to_string()),
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            "unknown attribute",
            Method::POST,
            "/Users".into(),
            ok,
            Some(
                json!({"schemas": [USER], "userName": "x", "externalId": "x", "shoeSize": 44})
                    .to_string(),
            ),
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
        ),
        (
            "unknown path",
            Method::PATCH,
            user.clone(),
            ok,
            Some(patch(json!([{"op": "replace", "path": "shoeSize", "value": 44}])).to_string()),
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
        ),
        (
            "remove without path",
            Method::PATCH,
            user.clone(),
            ok,
            Some(patch(json!([{"op": "remove"}])).to_string()),
            StatusCode::BAD_REQUEST,
            Some("noTarget"),
        ),
        (
            "read-only id",
            Method::PATCH,
            user.clone(),
            ok,
            Some(patch(json!([{"op": "replace", "path": "id", "value": "x"}])).to_string()),
            StatusCode::BAD_REQUEST,
            Some("mutability"),
        ),
        (
            "active not a boolean",
            Method::PATCH,
            user.clone(),
            ok,
            Some(patch(json!([{"op": "replace", "path": "active", "value": "no"}])).to_string()),
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            "no userName",
            Method::POST,
            "/Users".into(),
            ok,
            Some(json!({"schemas": [USER], "externalId": "y"}).to_string()),
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            "no mapped externalId",
            Method::POST,
            "/Users".into(),
            ok,
            Some(json!({"schemas": [USER], "userName": "y"}).to_string()),
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            "bad filter",
            Method::GET,
            "/Users?filter=userName%20co%20%22a%22".into(),
            ok,
            None,
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
        ),
        (
            "bad startIndex",
            Method::GET,
            "/Users?startIndex=x".into(),
            ok,
            None,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        ),
        (
            "oversized body",
            Method::PATCH,
            user.clone(),
            ok,
            Some(format!("{{\"pad\":\"{}\"}}", "x".repeat(5000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (
            "duplicate userName",
            Method::POST,
            "/Users".into(),
            ok,
            Some(new_user("ALICE", "other", false).to_string()),
            StatusCode::CONFLICT,
            Some("uniqueness"),
        ),
        (
            "duplicate externalId",
            Method::POST,
            "/Users".into(),
            ok,
            Some(new_user("zed", "alice", false).to_string()),
            StatusCode::CONFLICT,
            Some("uniqueness"),
        ),
        (
            "rename onto another",
            Method::PATCH,
            user.clone(),
            ok,
            Some(
                patch(json!([{"op": "replace", "value": {"userName": "Bob", "active": false}}]))
                    .to_string(),
            ),
            StatusCode::CONFLICT,
            Some("uniqueness"),
        ),
        (
            "no such user",
            Method::PATCH,
            "/Users/nope".into(),
            ok,
            Some(deactivate.clone()),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "unknown endpoint",
            Method::GET,
            "/Groups".into(),
            ok,
            None,
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "discovery is GET only",
            Method::POST,
            "/Schemas".into(),
            ok,
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            None,
        ),
        (
            "no DELETE of the collection",
            Method::DELETE,
            "/Users".into(),
            ok,
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            None,
        ),
    ];
    for (what, method, path, token, body, status, scim_type) in cases {
        let response = call(&app, method, &path, token, body).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                response.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{what}"
            );
        }
        assert_scim_error(response, status, scim_type, what).await;
    }

    // Wrong content type (415), a stale If-Match (412).
    let response = app
        .client
        .patch(app.url(&format!("/scim/v2{user}")))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(deactivate.clone())
        .send()
        .await
        .unwrap();
    assert_scim_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        "text/plain",
    )
    .await;
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let body = if method == Method::PUT {
            new_user("alice", "alice", false).to_string()
        } else {
            deactivate.clone()
        };
        let response = app
            .client
            .request(method.clone(), app.url(&format!("/scim/v2{user}")))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .header("if-match", "W/\"7\"")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_scim_error(
            response,
            StatusCode::PRECONDITION_FAILED,
            None,
            &format!("{method} If-Match"),
        )
        .await;
    }

    // A malformed body is 400 whatever If-Match says.
    let response = app
        .client
        .patch(app.url(&format!("/scim/v2{user}")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .header("if-match", "W/\"7\"")
        .body("[null]")
        .send()
        .await
        .unwrap();
    assert_scim_error(
        response,
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
        "malformed with a stale If-Match",
    )
    .await;

    // Nothing of it was applied: alice is active, no audit event.
    let alice: Value = scim(&app, Method::GET, &user, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alice["active"], true);
    assert_eq!(alice["userName"], "alice");
    assert_eq!(alice["meta"]["version"], "W/\"1\"");
    assert_eq!(status(&app, SCIM_ISS, "alice").await["disabled"], false);
    assert!(events(&app).await.is_empty(), "{:?}", events(&app).await);
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"revokd_scim_requests_total{client="unknown",operation="patch",outcome="rejected",rule="unauthorized"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"revokd_scim_requests_total{client="entra",operation="create",outcome="rejected",rule="uniqueness"} 2"#), "{metrics}");
}

/// Every cut of a deactivation and of a creation, and each of their string
/// fields resized, is refused with a SCIM error (or, where the cut still
/// says the same, applied exactly as the whole body): never a panic, a 5xx
/// or a partial change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_bodies_are_refused_without_a_panic_and_apply_nothing() {
    use futures_util::StreamExt;

    let app = scim_app().await;
    let id = create(&app, "alice", "alice", true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = format!("/Users/{id}");
    let deactivate =
        patch(json!([{"op": "Replace", "path": "active", "value": "False"}])).to_string();
    let creation =
        json!({"schemas": [USER], "userName": "bob", "externalId": "bob", "active": false})
            .to_string();

    let mut inputs: Vec<(Method, String, String)> = Vec::new();
    for n in 0..deactivate.len() {
        inputs.push((Method::PATCH, user.clone(), deactivate[..n].to_owned()));
    }
    for n in 0..creation.len() {
        inputs.push((Method::POST, "/Users".into(), creation[..n].to_owned()));
    }
    // Each string field resized: shorter, and longer up to past the bounds.
    for (field, value) in [("Replace", "op"), ("active", "path"), ("False", "value")] {
        for len in (0..field.len()).chain([field.len() + 1, 40, 300]) {
            let resized: String = field.chars().cycle().take(len).collect();
            let mut op = json!({"op": "Replace", "path": "active", "value": "False"});
            op[value] = json!(resized);
            inputs.push((Method::PATCH, user.clone(), patch(json!([op])).to_string()));
        }
    }
    for len in [0, 257, 1000] {
        let mut body: Value = serde_json::from_str(&creation).unwrap();
        body["userName"] = json!("u".repeat(len));
        inputs.push((Method::POST, "/Users".into(), body.to_string()));
        body["userName"] = json!("carol");
        body["externalId"] = json!("e".repeat(len));
        inputs.push((Method::POST, "/Users".into(), body.to_string()));
    }
    let count = inputs.len();
    let mut answers = futures_util::stream::iter(inputs.into_iter().map(|(method, path, body)| {
        let app = &app;
        async move {
            let response = call(app, method, &path, Some(TOKEN), Some(body.clone())).await;
            (path, body, response)
        }
    }))
    .buffer_unordered(8);
    while let Some((path, body, response)) = answers.next().await {
        let status = response.status();
        assert!(status.is_client_error(), "{path} {body}: {status}");
        let error: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(error["schemas"], json!([ERROR]), "{body}");
    }
    assert!(count > 150, "only {count} mutations");
    let alice: Value = scim(&app, Method::GET, &user, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(alice["active"], true);
    let list: Value = scim(&app, Method::GET, "/Users", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 1, "a mutated creation was stored");
    assert!(events(&app).await.is_empty(), "a mutated body was applied");
}

async fn forward_auth(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.url("/v1/forward-auth"))
        .header("x-revokd-key", CLIENT_KEY)
        .header("x-original-uri", "/x")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// alice's login token at the provider, as an app would hold it.
fn login_token(idp: &TestIdp, iat: i64) -> String {
    idp.logout_token()
        .without_claim("events")
        .sub("alice")
        .sid("s-1")
        .iat(iat)
        .exp(unix_now() + 600)
        .sign()
}

/// The provider, forward-auth for its tokens, and a SCIM client of its
/// issuer mapping `externalId` to `sub`.
fn e2e(idp: &TestIdp) -> impl FnOnce(&mut Settings) + use<> {
    let settings = provider("idp", idp.issuer(), idp.client_id());
    let (issuer, client_id) = (idp.issuer().to_owned(), idp.client_id().to_owned());
    move |s: &mut Settings| {
        s.providers = vec![settings];
        s.forward_auth.jwt.provider = "idp".into();
        s.forward_auth.jwt.audiences = vec![client_id];
        s.scim = vec![client("entra", &issuer, TOKEN)];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_disable_refuses_the_persons_existing_tokens_on_both_stores() {
    for backend in [Backend::Embedded, Backend::Redis] {
        let idp = TestIdp::start();
        let app = spawn_on(Infra::new(backend), e2e(&idp)).await;
        wait_for_provider(&app, "idp").await;

        let iat = unix_now() - 30;
        let token = login_token(&idp, iat);
        let iat_text = iat.to_string();
        let check = [
            ("iss", idp.issuer()),
            ("sub", "alice"),
            ("iat", iat_text.as_str()),
        ];
        let id = create(&app, "alice@example.com", "alice", true).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            forward_auth(&app, &token).await.status(),
            StatusCode::OK,
            "{backend:?}"
        );
        assert_eq!(app.verdict(&check).await["active"], true);

        // Entra ID's deactivation.
        let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
        assert_eq!(
            scim(&app, Method::PATCH, &format!("/Users/{id}"), Some(disable))
                .await
                .status(),
            StatusCode::OK
        );
        let refused = forward_auth(&app, &token).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{backend:?}");
        assert_eq!(refused.headers()["revokd-reason"], "subject_disabled");
        assert_eq!(app.verdict(&check).await["reason"], "subject_disabled");
        let recorded = events(&app).await;
        assert!(
            recorded.iter().all(|e| e["actor"] == "scim:entra"),
            "{recorded:?}"
        );
        assert!(recorded.iter().any(|e| e["kind"] == "subject_disabled"));

        // Enabled again: the old token stays dead, a new login works.
        let enable = patch(json!([{"op": "Replace", "path": "active", "value": "True"}]));
        assert_eq!(
            scim(&app, Method::PATCH, &format!("/Users/{id}"), Some(enable))
                .await
                .status(),
            StatusCode::OK
        );
        let old = forward_auth(&app, &token).await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(old.headers()["revokd-reason"], "subject_revoked_before");
        let fresh = login_token(&idp, unix_now() + 2);
        assert_eq!(
            forward_auth(&app, &fresh).await.status(),
            StatusCode::OK,
            "{backend:?}"
        );

        // Deleted: disabled again, the new token refused too.
        assert_eq!(
            scim(&app, Method::DELETE, &format!("/Users/{id}"), None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let gone = forward_auth(&app, &fresh).await;
        assert_eq!(gone.status(), StatusCode::UNAUTHORIZED, "{backend:?}");
        assert_eq!(gone.headers()["revokd-reason"], "subject_disabled");

        // The user record survives a restart (durable in the store).
        let infra = app.stop().await;
        let app = spawn_on(infra, e2e(&idp)).await;
        let list: Value = scim(&app, Method::GET, "/Users", None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["totalResults"], 0);
        create(&app, "alice@example.com", "alice", true).await;
        let infra = app.stop().await;
        let app = spawn_on(infra, e2e(&idp)).await;
        let list: Value = scim(
            &app,
            Method::GET,
            "/Users?filter=externalId%20eq%20%22alice%22",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(list["totalResults"], 1, "{backend:?}");
        // Re-provisioned active: the person may sign in again.
        let again = login_token(&idp, unix_now() + 3);
        wait_for_provider(&app, "idp").await;
        assert_eq!(
            forward_auth(&app, &again).await.status(),
            StatusCode::OK,
            "{backend:?}"
        );
    }
}

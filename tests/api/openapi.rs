//! The committed OpenAPI document matches what the service serves.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const COMMITTED: &str = include_str!("../../openapi/revokd.yaml");

#[test]
fn the_committed_document_is_current() {
    let generated = revokd::http::openapi_yaml().unwrap();
    assert!(
        generated == COMMITTED,
        "openapi/revokd.yaml is stale: run `cargo run -- openapi > openapi/revokd.yaml` and commit it"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app(Backend::Embedded).await;
    let spec: serde_yaml::Value = serde_yaml::from_str(COMMITTED).unwrap();
    let paths = spec["paths"].as_mapping().expect("paths");
    assert!(paths.len() >= 11, "the document lists every route");
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        for method in item
            .as_mapping()
            .unwrap()
            .keys()
            .map(|m| m.as_str().unwrap().to_uppercase())
        {
            let response = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .send()
                .await
                .unwrap();
            let status = response.status();
            // Only the fallback for unrouted requests answers 404/405 with
            // these codes; a served route answers anything else.
            if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
                let body: Value = response.json().await.unwrap_or_default();
                assert!(
                    body["error"] != "not_found" && body["error"] != "method_not_allowed",
                    "{method} {path} is documented but not served"
                );
            }
            let documented = item[method.to_lowercase().as_str()]["responses"]
                .as_mapping()
                .unwrap()
                .contains_key(serde_yaml::Value::String(status.as_u16().to_string()));
            assert!(
                documented,
                "{method} {path} answered {status}, which the document does not list"
            );
        }
    }
}

#[test]
fn every_error_response_uses_the_error_body() {
    let spec: serde_yaml::Value = serde_yaml::from_str(COMMITTED).unwrap();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            for (status, response) in operation["responses"].as_mapping().unwrap() {
                let status: u16 = status.as_str().unwrap().parse().unwrap();
                // RFC 7644 §3.12 prescribes the SCIM error body, as
                // `application/scim+json`.
                if status >= 400 && path.as_str().is_some_and(|p| p.starts_with("/scim/v2/")) {
                    let schema = &response["content"]["application/scim+json"]["schema"]["$ref"];
                    assert_eq!(
                        schema.as_str(),
                        Some("#/components/schemas/ScimErrorBody"),
                        "{method:?} {path:?} {status}"
                    );
                    continue;
                }
                if status >= 400 && path.as_str() != Some("/readyz") {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    // RFC 8935 §2.3 prescribes its own body for a refused SET.
                    let push =
                        path.as_str() == Some("/ssf/push/{stream}") && matches!(status, 400 | 401);
                    assert_eq!(
                        schema.as_str(),
                        Some(if push {
                            "#/components/schemas/SetErrorBody"
                        } else {
                            "#/components/schemas/ErrorBody"
                        }),
                        "{method:?} {path:?} {status}"
                    );
                }
            }
        }
    }
}

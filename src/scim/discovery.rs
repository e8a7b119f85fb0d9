//! The discovery documents of RFC 7644 §4 (`/ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`): what revokd's SCIM service provider
//! supports, stated exactly: PATCH yes, bulk no, filter (`eq` on
//! `userName`, `externalId`, `id`) with at most [`MAX_RESULTS`] results,
//! sorting no, ETags yes, password change no; bearer-token authentication.
//! The User schema lists only the attributes revokd keeps.

use serde_json::{Value, json};

use crate::providers::scim_settings::USER_SCHEMA;

/// The most resources one list response holds (`filter.maxResults`).
pub const MAX_RESULTS: usize = crate::store::SCIM_PAGE_MAX;

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// `ListResponse` (RFC 7644 §3.4.2).
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn meta(resource_type: &str, location: String) -> Value {
    json!({"resourceType": resource_type, "location": location})
}

/// `/ServiceProviderConfig` (RFC 7643 §5).
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token of a [[scim]] client in revokd's configuration, as `Authorization: Bearer <token>`.",
            "primary": true,
        }],
        "meta": meta("ServiceProviderConfig", format!("{base}/ServiceProviderConfig")),
    })
}

/// The one resource type, `User`.
pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RT_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A person whose account state (active, deleted) revokd turns into subject disables.",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": meta("ResourceType", format!("{base}/ResourceTypes/User")),
    })
}

fn attribute(name: &str, kind: &str, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "required": required,
        "caseExact": name == "externalId" || name == "id",
        "mutability": mutability,
        "returned": if name == "id" { "always" } else { "default" },
        "uniqueness": uniqueness,
    })
}

fn schema(id: &str, name: &str, description: &str, attributes: Vec<Value>, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": meta("Schema", format!("{base}/Schemas/{id}")),
    })
}

/// Every schema `/Schemas` serves: the User schema as revokd keeps it,
/// and the three discovery schemas (RFC 7643 §7, top-level attributes).
pub fn schemas(base: &str) -> Vec<Value> {
    let read_only = |n: &str, kind: &str| attribute(n, kind, false, "readOnly", "none");
    vec![
        schema(
            USER_SCHEMA,
            "User",
            "User Account, as revokd keeps it: other attributes of RFC 7643 §4.1 are accepted and not kept.",
            vec![
                attribute("userName", "string", true, "readWrite", "server"),
                // Unique per SCIM client in revokd: it may map to the `sub`.
                attribute("externalId", "string", false, "readWrite", "server"),
                attribute("active", "boolean", false, "readWrite", "none"),
            ],
            base,
        ),
        schema(
            SPC_SCHEMA,
            "ServiceProviderConfig",
            "Service Provider Configuration",
            [
                "documentationUri",
                "patch",
                "bulk",
                "filter",
                "changePassword",
                "sort",
                "etag",
                "authenticationSchemes",
            ]
            .iter()
            .map(|n| {
                read_only(
                    n,
                    if *n == "documentationUri" {
                        "reference"
                    } else {
                        "complex"
                    },
                )
            })
            .collect(),
            base,
        ),
        schema(
            RT_SCHEMA,
            "ResourceType",
            "Resource Type",
            ["id", "name", "description", "endpoint", "schema"]
                .iter()
                .map(|n| {
                    read_only(
                        n,
                        if matches!(*n, "endpoint" | "schema") {
                            "reference"
                        } else {
                            "string"
                        },
                    )
                })
                .collect(),
            base,
        ),
        schema(
            SCHEMA_SCHEMA,
            "Schema",
            "Schema definition",
            ["id", "name", "description"]
                .iter()
                .map(|n| read_only(n, "string"))
                .collect(),
            base,
        ),
    ]
}

/// A `ListResponse` of everything given.
pub fn list(resources: Vec<Value>) -> Value {
    let n = resources.len();
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": n,
        "itemsPerPage": n,
        "startIndex": 1,
        "Resources": resources,
    })
}

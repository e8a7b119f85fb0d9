//! The parts of the OpenAPI document that no handler carries: metadata,
//! security schemes, tags. Paths are added by the route registrations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "revokd",
        description = "Makes logout and account-disable at an OpenID provider reach the apps people signed into.\n\nErrors always have the body `{\"error\", \"error_description\"}`.\n\nWhat no schema here can state is said in words where it applies (a rule across parameters, a limit in bytes of UTF-8, a bound relative to the clock). One holds for every JSON body: a key given twice is refused with `400`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "check", description = "Is a token still active? The hot path, for apps and gateways."),
        (name = "admin", description = "Operator actions and the audit log. Admin key required."),
        (name = "sessions", description = "The session registry: apps register which of their tokens belong to which provider session."),
        (name = "backchannel", description = "OpenID Connect Back-Channel Logout 1.0: where identity providers send logout tokens."),
        (name = "signals", description = "Providers that send no back-channel logout: Shared Signals (RFC 8935 push of CAEP/RISC Security Event Tokens) and Global Token Revocation (Okta Universal Logout). Pushed-SET errors have RFC 8935's body `{\"err\", \"description\"}`."),
        (name = "scim", description = "SCIM 2.0 service provider (RFC 7643/7644) that identity providers provision into: `active: false` and DELETE disable the subject and revoke its tokens. Errors have RFC 7644's body `{\"schemas\", \"status\", \"scimType\", \"detail\"}` as `application/scim+json`. A `[[scim]]` client's bearer token required."),
        (name = "events", description = "Revocation events as they happen, for apps that must act on them (Server-Sent Events). Client key required."),
        (name = "operations", description = "Health and metrics; may be served on `ops_listen`."),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "admin_key",
            bearer("An API key with role `admin` (`[[keys]]` in the configuration)."),
        );
        // A gateway's key travels in its own header, because `Authorization`
        // carries the user's token there.
        components.add_security_scheme(
            "gateway_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-revokd-key",
                "A key with role `client` or `admin`, sent by the gateway in `forward_auth.key_header` (default `x-revokd-key`). Optional when `forward_auth.require_client_key = false`.",
            ))),
        );
        components.add_security_scheme(
            "scim_token",
            bearer("The token of a SCIM provisioning client (`[[scim]]` in the configuration); it sees only its own users."),
        );
        components.add_security_scheme(
            "client_key",
            bearer("An API key with role `client` or `admin`. Optional for checks when `check.require_client_key = false`."),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

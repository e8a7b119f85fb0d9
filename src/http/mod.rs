//! The HTTP layer: handlers, their errors, and the OpenAPI document.
//!
//! Only this module knows actix-web. Routes are registered through
//! `utoipa-actix-web`, so the served routes and the OpenAPI document come
//! from the same registrations and cannot disagree; the committed
//! `openapi/revokd.yaml` is checked against [`openapi`] by a test.

mod admin;
mod admin_ui;
mod auth;
mod backchannel;
mod body;
mod check;
mod error;
mod events;
mod extract;
mod forward_auth;
mod health;
mod hot_route;
mod introspect;
mod live;
mod middleware;
mod openapi;
mod scim;
mod sessions;
mod signals;
mod state;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

pub use body::BodyBudget;
pub use check::DEGRADED_HEADER;
pub use error::{ApiError, ErrorBody, SetErrorBody};
pub use state::AppState;

/// Which routes an [`app`] serves: everything, or the API and the
/// operations routes (`/healthz`, `/readyz`, `/metrics`) on two listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    All,
    Api,
    Operations,
}

fn api_routes(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, each against the path (and its
    // method guards): the hot paths come first, so that a forward-auth or
    // introspect request does not walk past the admin routes' patterns
    // (routing was 7.8 % of a forward-auth profile with forward-auth 15th;
    // `benches/check_profile.sh`). No two patterns overlap, so the order
    // changes nothing else (the OpenAPI document sorts its paths).
    cfg.service(check::GetCheck)
        .service(check::PostCheck)
        .service(forward_auth::ForwardAuth)
        .service(introspect::PostIntrospect)
        .service(forward_auth::ForwardAuthPrefixed)
        .service(admin::post_revoke_token)
        .service(admin::post_revoke_session)
        .service(admin::post_disable_subject)
        .service(admin::post_enable_subject)
        .service(admin::post_revoke_subject_tokens)
        .service(admin::get_subject_status)
        .service(admin::get_subject_sessions)
        .service(admin::get_events)
        .service(backchannel::post_backchannel_logout)
        .service(backchannel::post_provider_backchannel_logout)
        .service(backchannel::get_recent_logout_tokens)
        .service(sessions::post_session)
        .service(sessions::delete_session)
        .service(events::get_events)
        .service(live::get_revocations)
        .service(signals::post_ssf_push)
        .service(signals::post_global_token_revocation)
        .service(signals::post_stream_verify)
        .service(
            utoipa_actix_web::scope(scim::BASE_PATH)
                .wrap(actix_web::middleware::from_fn(scim::scim_errors))
                .service(scim::post_user)
                .service(scim::get_users)
                .service(scim::get_user)
                .service(scim::put_user)
                .service(scim::patch_user)
                .service(scim::delete_user)
                .service(scim::get_service_provider_config)
                .service(scim::get_resource_types)
                .service(scim::get_resource_type)
                .service(scim::get_schemas)
                .service(scim::get_schema)
                .default_service(web::to(scim::no_scim_route)),
        );
}

fn operations_routes(cfg: &mut ServiceConfig) {
    cfg.service(health::get_healthz)
        .service(health::get_readyz)
        .service(health::get_metrics);
}

fn registered(
    routes: Routes,
) -> utoipa_actix_web::UtoipaApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new().into_utoipa_app().openapi(openapi::base());
    if routes != Routes::Operations {
        app = app.configure(api_routes);
    }
    if routes != Routes::Api {
        app = app.configure(operations_routes);
    }
    app
}

/// The OpenAPI 3.1 document of every route revokd serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    registered(Routes::All).split_for_parts().1
}

/// [`openapi`] as YAML, as committed in `openapi/revokd.yaml`.
///
/// # Errors
/// The document cannot be serialised (a bug).
pub fn openapi_yaml() -> anyhow::Result<String> {
    Ok(openapi().to_yaml()?)
}

/// The application for one listener; bodies over `body_limit` bytes are
/// refused with 413, and bodies are read within `bodies` (see [`BodyBudget`]).
pub fn app(
    state: web::Data<AppState>,
    body_limit: usize,
    bodies: web::Data<BodyBudget>,
    routes: Routes,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, spec) = registered(routes).split_for_parts();
    let known = middleware::KnownRoutes::from_spec(&spec, &state.metrics.http);
    let app = if routes == Routes::Operations {
        app
    } else {
        app.configure(admin_ui::routes)
    };
    app.app_data(state)
        .app_data(web::Data::new(known))
        .app_data(
            web::JsonConfig::default()
                .limit(body_limit)
                .error_handler(error::json_error(body_limit)),
        )
        .app_data(web::PayloadConfig::default().limit(body_limit))
        .app_data(bodies)
        .default_service(web::to(middleware::no_route))
        .wrap(actix_web::middleware::from_fn(body::bound_body))
        .wrap(actix_web::middleware::from_fn(middleware::json_errors))
        .wrap(actix_web::middleware::from_fn(middleware::observe_request))
}

//! Registering the hot routes (check, forward-auth, introspect) with one cheap
//! method guard instead of actix's.
//!
//! actix's method guard records every method it is asked about in the
//! request's extensions, for an `Allow` header that revokd builds itself
//! from the OpenAPI document (`middleware::KnownRoutes`): an extension map,
//! a vector and a box allocated per request (1.3 % of a forward-auth
//! profile, `benches/check_profile.sh`). [`Methods`] only compares.
//! A request whose method is not listed falls through to the default
//! service, as with actix's guard: 405 with `Allow` for a known path.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::guard::{Guard, GuardContext};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder};

/// Accepts a request whose method is one of these.
pub struct Methods(pub &'static [Method]);

impl Guard for Methods {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        self.0.contains(&ctx.head().method)
    }
}

/// What actix's `#[route]` registers for `handler` (a resource named
/// `name` on `path`), guarded by [`Methods`].
pub fn register<F, Args>(
    config: &mut AppService,
    name: &str,
    path: &str,
    methods: &'static [Method],
    handler: F,
) where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let resource = Resource::new(path)
        .name(name)
        .guard(Methods(methods))
        .to(handler);
    HttpServiceFactory::register(resource, config);
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_the_listed_methods_pass() {
        let guard = Methods(&[Method::GET, Method::POST]);
        for (method, passes) in [
            (Method::GET, true),
            (Method::POST, true),
            (Method::HEAD, false),
            (Method::PUT, false),
            (Method::from_bytes(b"PURGE").unwrap(), false),
        ] {
            let req = TestRequest::default()
                .method(method.clone())
                .to_srv_request();
            assert_eq!(guard.check(&req.guard_ctx()), passes, "{method}");
        }
    }
}

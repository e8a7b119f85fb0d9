//! The bare baseline of `benches/check_load.sh`: the smallest actix-web 4
//! server that answers the check's question, `{"active": bool}` from an
//! in-memory set, with no middleware, no authentication, no logging and
//! no metrics. Every row of the load table is a ratio to it, so that the
//! table shows what revokd adds to the framework's own ceiling, not to a
//! route of revokd that already pays revokd's per-request costs.
//!
//! Any path answers: `?jti=<id>` is looked up in the set of revoked ids,
//! which holds the odd numbers `1..=n` as 32 hex digits (as the load
//! script revokes them).
//!
//! Run: `cargo run --release --example bare_check -- <port> <workers> [n]`.

use std::collections::HashSet;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Params {
    jti: Option<String>,
}

#[derive(Serialize)]
struct Answer {
    active: bool,
}

async fn check(revoked: web::Data<HashSet<String>>, params: web::Query<Params>) -> HttpResponse {
    let active = params
        .jti
        .as_deref()
        .is_none_or(|jti| !revoked.contains(jti));
    HttpResponse::Ok().json(Answer { active })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare_check <port> <workers> [ids, default 1000]";
    let port: u16 = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let n: u64 = args.next().map_or(1000, |a| a.parse().expect(usage));
    let revoked: HashSet<String> = (1..=n).step_by(2).map(|i| format!("{i:032x}")).collect();
    let revoked = web::Data::new(revoked);
    HttpServer::new(move || {
        App::new()
            .app_data(revoked.clone())
            .default_service(web::to(check))
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

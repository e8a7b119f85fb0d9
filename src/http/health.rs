//! `/healthz`, `/readyz` and `/metrics`: for orchestrators and Prometheus.
//! These may live on a separate listener (`ops_listen`).

use actix_web::http::header::{CACHE_CONTROL, ContentType, HeaderValue};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::readiness::Readiness;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    #[schema(example = "alive")]
    pub status: &'static str,
}

/// Is the process alive?
///
/// Checks nothing else, so an orchestrator does not restart revokd because
/// Redis is down.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Liveness)))]
#[get("/healthz")]
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(Liveness { status: "alive" })
}

/// Can this instance answer checks within its staleness bound?
///
/// Ready when checks can be answered from current facts: with the mirror
/// (`check.source = "mirror"`, the default), once it is loaded and its
/// change feed answered within `mirror.max_staleness`; without it, when the
/// store answers. A Redis blip shorter than that bound therefore does not
/// take every instance out of a load balancer at once: the store shows as
/// `down` here (and `revokd_store_up` is 0) while the instance stays
/// ready, and writes answer 503 meanwhile. `503` once checks would follow
/// the fail mode, with the failing dependency named. Identity providers are
/// listed too (`up` once their keys are loaded), but do not make the
/// instance unready: checks do not need them, and a logout token for a
/// provider whose keys never loaded is answered `503`, so the provider
/// retries.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready: checks are answered from current facts (the store may still be down, within the mirror's staleness bound)", body = Readiness),
        (status = 503, description = "Not ready: the mirror is loading or stale (or, without a mirror, the store is down)", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    // Issue 16: whether Redis may evict revocations, as the eviction
    // watcher last saw it (always safe for the embedded store).
    let eviction_safe = state.metrics.store.eviction_safe.get() != 0;
    let body = Readiness::probe(
        &state.revocations,
        &state.logouts,
        &state.signals,
        eviction_safe,
    )
    .await;
    let mut response = if body.is_ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Some(sync) = state.revocations.mirror_sync() {
        sync.publish_stats();
    }
    for provider in state.logouts.providers().iter() {
        state
            .metrics
            .provider_keys_loaded
            .with_label_values(&[provider.name.as_str()])
            .set(i64::from(provider.loaded().is_some()));
    }
    HttpResponse::Ok()
        .insert_header(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("static media type"),
        ))
        .body(state.metrics.render())
}

//! `/healthz`, `/readyz` and `/metrics`: for orchestrators and Prometheus.
//! These may live on a separate listener (`ops_listen`).

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::http::header::{CACHE_CONTROL, ContentType, HeaderValue};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::state::AppState;
use crate::store::RevocationStore;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    #[schema(example = "alive")]
    pub status: &'static str,
}

/// The state of one dependency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DependencyStatus {
    /// `up` or `down`.
    pub status: &'static str,
    /// Which implementation, e.g. `embedded` or `redis`.
    pub kind: &'static str,
    /// How long the probe took, for probed dependencies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why it is down; absent when up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// One entry per dependency, by name: `store`, `mirror` (this
    /// instance's copy of the revocations, when checks read it), and
    /// `provider:{name}` for each identity provider.
    pub checks: BTreeMap<String, DependencyStatus>,
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
    let store = state.revocations.store();
    let started = Instant::now();
    let result = store.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    state.metrics.store.up.set(i64::from(result.is_ok()));
    let store_status = DependencyStatus {
        status: if result.is_ok() { "up" } else { "down" },
        kind: store.name(),
        latency_ms: Some(latency_ms),
        error: result.as_ref().err().map(ToString::to_string),
    };
    let mut checks = BTreeMap::from([("store".to_owned(), store_status)]);
    let ready = match state.revocations.mirror_sync() {
        Some(sync) => {
            let mirror = sync.status();
            checks.insert(
                "mirror".to_owned(),
                DependencyStatus {
                    status: if mirror.ready { "up" } else { "down" },
                    kind: "mirror",
                    latency_ms: None,
                    error: mirror.detail,
                },
            );
            mirror.ready
        }
        None => result.is_ok(),
    };
    for provider in state.logouts.providers().iter() {
        let loaded = provider.loaded().is_some();
        let mut error = if loaded {
            None
        } else {
            provider
                .last_error()
                .or_else(|| Some("keys not loaded yet".into()))
        };
        // A detail only: kept logout tokens do not change readiness.
        let pending = state.logouts.pending_for(&provider.name);
        if pending > 0 {
            let kept = format!("{pending} logout token(s) kept until its keys can verify them");
            error = Some(error.map_or(kept.clone(), |e| format!("{e}; {kept}")));
        }
        checks.insert(
            format!("provider:{}", provider.name),
            DependencyStatus {
                status: if loaded { "up" } else { "down" },
                kind: "provider",
                latency_ms: None,
                error,
            },
        );
    }
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    };
    let mut response = if ready {
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
    HttpResponse::Ok()
        .insert_header(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("static media type"),
        ))
        .body(state.metrics.render())
}

//! Readiness: can this instance answer checks within its staleness bound?
//! Probed here, from the services; `/readyz` (`crate::http`) only renders
//! it. The rule (which dependency makes the instance unready) is
//! [`Readiness::assemble`], a plain function.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::backchannel::LogoutReceiver;
use crate::mirror::MirrorStatus;
use crate::revocations::{Revocations, StoreProbe};
use crate::signals::SignalReceiver;

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
    /// What else is known, up or down: for a managed Shared Signals
    /// stream, its `stream_id`, status and verification times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// One entry per dependency, by name: `store`, `mirror` (this
    /// instance's copy of the revocations, when checks read it), and
    /// `provider:{name}` for each identity provider; as details that never
    /// change readiness, `store:eviction` (Redis may evict revocations) and
    /// `stream:{name}` for each Shared Signals stream.
    pub checks: BTreeMap<String, DependencyStatus>,
}

/// What is known of one identity provider.
#[derive(Debug)]
pub struct ProviderProbe {
    pub name: String,
    /// Its keys are loaded.
    pub loaded: bool,
    /// Why its keys are not loaded, when known.
    pub last_error: Option<String>,
    /// Logout tokens kept until its keys can verify them.
    pub pending: usize,
}

impl Readiness {
    /// Probes the store (a ping, which also sets `revokd_store_up`), reads
    /// the mirror's and the providers' state, and assembles them.
    pub async fn probe(
        revocations: &Revocations,
        logouts: &LogoutReceiver,
        signals: &SignalReceiver,
        eviction_safe: bool,
    ) -> Self {
        let store = revocations.probe_store().await;
        let mirror = revocations.mirror_sync().map(|sync| sync.status());
        let providers = logouts
            .providers()
            .iter()
            .map(|provider| ProviderProbe {
                name: provider.name.clone(),
                loaded: provider.loaded().is_some(),
                last_error: provider.last_error(),
                pending: logouts.pending_for(&provider.name),
            })
            .collect();
        let mut readiness = Self::assemble(store, mirror, providers);
        if !eviction_safe {
            readiness
                .checks
                .insert("store:eviction".to_owned(), eviction_warning());
        }
        // Shared Signals streams: details only, never readiness.
        for stream in signals.stream_status() {
            readiness.checks.insert(
                format!("stream:{}", stream.name),
                DependencyStatus {
                    status: up_or_down(stream.up),
                    kind: "ssf_stream",
                    latency_ms: None,
                    error: stream.detail,
                    info: stream.info,
                },
            );
        }
        readiness
    }

    /// Ready when checks can be answered from current facts: with a
    /// mirror, once it is loaded and current; without one, when the store
    /// answers. A store that is down while the mirror is current does not
    /// make the instance unready (a Redis blip shorter than the staleness
    /// bound must not take every instance out of a load balancer at once).
    /// Providers are listed but never make it unready: checks do not need
    /// them, and a logout token for a provider whose keys never loaded is
    /// answered `503`, so the provider retries.
    pub fn assemble(
        store: StoreProbe,
        mirror: Option<MirrorStatus>,
        providers: Vec<ProviderProbe>,
    ) -> Self {
        let store_up = store.result.is_ok();
        let mut checks = BTreeMap::from([(
            "store".to_owned(),
            DependencyStatus {
                status: up_or_down(store_up),
                kind: store.kind,
                latency_ms: Some(store.latency.as_secs_f64() * 1000.0),
                error: store.result.err().map(|e| e.to_string()),
                info: None,
            },
        )]);
        let ready = match mirror {
            Some(mirror) => {
                checks.insert(
                    "mirror".to_owned(),
                    DependencyStatus {
                        status: up_or_down(mirror.ready),
                        kind: "mirror",
                        latency_ms: None,
                        error: mirror.detail,
                        info: None,
                    },
                );
                mirror.ready
            }
            None => store_up,
        };
        for provider in providers {
            let mut error = if provider.loaded {
                None
            } else {
                provider
                    .last_error
                    .or_else(|| Some("keys not loaded yet".into()))
            };
            // A detail only: kept logout tokens do not change readiness.
            if provider.pending > 0 {
                let kept = format!(
                    "{} logout token(s) kept until its keys can verify them",
                    provider.pending
                );
                error = Some(error.map_or(kept.clone(), |e| format!("{e}; {kept}")));
            }
            checks.insert(
                format!("provider:{}", provider.name),
                DependencyStatus {
                    status: up_or_down(provider.loaded),
                    kind: "provider",
                    latency_ms: None,
                    error,
                    info: None,
                },
            );
        }
        Self {
            status: if ready { "ready" } else { "not_ready" },
            checks,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// Redis may evict revocations (`maxmemory-policy` is not `noeviction`).
/// Readiness stands, since the instance answers checks, but the operator
/// sees why to act.
fn eviction_warning() -> DependencyStatus {
    DependencyStatus {
        status: "down",
        kind: "redis",
        latency_ms: None,
        error: Some(
            "maxmemory-policy is not noeviction: revocations can be evicted under memory pressure (run `revokd doctor`)".into(),
        ),
        info: None,
    }
}

fn up_or_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use std::time::Duration;

    fn store(up: bool) -> StoreProbe {
        StoreProbe {
            kind: "redis",
            latency: Duration::from_millis(2),
            result: if up {
                Ok(())
            } else {
                Err(StoreError::unavailable(std::io::Error::other(
                    "connection refused",
                )))
            },
        }
    }

    fn mirror(ready: bool) -> MirrorStatus {
        MirrorStatus {
            ready,
            detail: (!ready).then(|| "the mirror is loading".to_owned()),
        }
    }

    fn provider(loaded: bool, pending: usize) -> ProviderProbe {
        ProviderProbe {
            name: "idp".into(),
            loaded,
            last_error: None,
            pending,
        }
    }

    #[test]
    fn with_a_mirror_the_mirror_decides_and_the_store_is_only_listed() {
        for store_up in [true, false] {
            for mirror_ready in [true, false] {
                let r = Readiness::assemble(store(store_up), Some(mirror(mirror_ready)), vec![]);
                assert_eq!(r.is_ready(), mirror_ready, "store {store_up}");
                assert_eq!(r.checks["store"].status, up_or_down(store_up));
                assert_eq!(r.checks["store"].kind, "redis");
                assert_eq!(r.checks["mirror"].status, up_or_down(mirror_ready));
                assert_eq!(r.checks["mirror"].error.is_some(), !mirror_ready);
            }
        }
    }

    #[test]
    fn without_a_mirror_the_store_decides() {
        for store_up in [true, false] {
            let r = Readiness::assemble(store(store_up), None, vec![]);
            assert_eq!(r.is_ready(), store_up);
            assert_eq!(r.status, if store_up { "ready" } else { "not_ready" });
            assert!(!r.checks.contains_key("mirror"));
            assert_eq!(r.checks["store"].error.is_some(), !store_up);
        }
    }

    #[test]
    fn a_provider_without_keys_is_down_but_does_not_make_the_instance_unready() {
        let r = Readiness::assemble(store(true), None, vec![provider(false, 0)]);
        assert!(r.is_ready());
        let idp = &r.checks["provider:idp"];
        assert_eq!(idp.status, "down");
        assert_eq!(idp.error.as_deref(), Some("keys not loaded yet"));
    }

    #[test]
    fn kept_logout_tokens_are_a_detail_of_their_provider() {
        let r = Readiness::assemble(store(true), None, vec![provider(true, 2)]);
        assert!(r.is_ready());
        let idp = &r.checks["provider:idp"];
        assert_eq!(idp.status, "up");
        assert_eq!(
            idp.error.as_deref(),
            Some("2 logout token(s) kept until its keys can verify them")
        );
    }
}

//! Prometheus metrics. One [`Registry`] per application (never the global
//! default registry), so that tests can run several apps in one process.
//! Label values come from closed sets only: route patterns, status codes,
//! enum names — never an identifier from a request.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::domain::{ChangeKind, Reason, Verdict};

/// Every metric revokd exports, registered on one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub store: StoreMetrics,
    pub checks: IntCounterVec,
    /// The series of `checks`, resolved once.
    check_results: CheckResults,
    pub changes: IntCounterVec,
    /// Logout tokens by provider (configured names or `unknown`), outcome
    /// and broken rule.
    pub logout_tokens: IntCounterVec,
    /// Seconds from a logout token's `iat` to its revocation being stored.
    pub logout_propagation: HistogramVec,
    /// Logout tokens kept until their provider's keys can verify them.
    pub pending_logouts: PendingLogoutMetrics,
    /// The per-instance mirror.
    pub mirror: MirrorMetrics,
    /// Time to answer one check's look-up (mirror or store).
    pub check_duration: prometheus::Histogram,
    /// `/v1/forward-auth` answers by profile (`none` when no token was
    /// read) and outcome.
    pub forward_auth: IntCounterVec,
    /// Open `/v1/events` streams.
    pub events_subscribers: prometheus::IntGauge,
    /// Events written to `/v1/events` streams (each stream counts).
    pub events_sent: prometheus::IntCounter,
    /// Issue 16: whether each configured provider's keys are loaded, set
    /// when `/metrics` is read (an alert rule reads it).
    pub provider_keys_loaded: prometheus::IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("revokd".into()), None).expect("static prefix is valid");
        let http = HttpMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by route pattern, method and status.",
                ),
                &["route", "method", "status"],
            )
            .expect("valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "HTTP request latency by route pattern.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
            .expect("valid metric"),
        };
        let store = StoreMetrics {
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "store_operation_seconds",
                    "Store call latency by store, operation and outcome.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["store", "op", "outcome"],
            )
            .expect("valid metric"),
            up: prometheus::IntGauge::new(
                "store_up",
                "1 when the store answered its last probe (a /readyz ping, or the change feed), 0 when it did not.",
            )
            .expect("valid metric"),
            eviction_safe: prometheus::IntGauge::new(
                "store_eviction_safe",
                "1 when the store cannot evict revocations (embedded, or Redis with maxmemory-policy noeviction), 0 when Redis may evict them, -1 when unknown.",
            )
            .expect("valid metric"),
        };
        // Issue 16: whether the store can evict revocations (an alert rule
        // reads it; see deploy/prometheus/revokd-rules.yml).
        store.eviction_safe.set(-1);
        registry
            .register(Box::new(store.eviction_safe.clone()))
            .expect("each metric is registered once");

        let checks = IntCounterVec::new(
            Opts::new(
                "checks_total",
                "Check answers by result: active, a reason, degraded (active without complete facts, fail_mode = open), or unavailable.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let changes = IntCounterVec::new(
            Opts::new(
                "revocations_total",
                "Changes applied to the revocation set, by kind.",
            ),
            &["kind"],
        )
        .expect("valid metric");

        let logout_tokens = IntCounterVec::new(
            Opts::new(
                "logout_tokens_total",
                "Back-channel logout tokens by provider, outcome (revoked, replayed, rejected, unavailable) and rule.",
            ),
            &["provider", "outcome", "rule"],
        )
        .expect("valid metric");
        let logout_propagation = HistogramVec::new(
            HistogramOpts::new(
                "logout_propagation_seconds",
                "Time from a logout token's iat to its revocation being stored.",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            &["provider"],
        )
        .expect("valid metric");

        let forward_auth = IntCounterVec::new(
            Opts::new(
                "forward_auth_total",
                "Forward-auth answers by token profile and outcome (active, skipped, anonymous, degraded, unavailable, or why the token was refused).",
            ),
            &["profile", "outcome"],
        )
        .expect("valid metric");

        let mirror = MirrorMetrics {
            entries: prometheus::IntGaugeVec::new(
                Opts::new(
                    "mirror_entries",
                    "Entries in this instance's revocation mirror, by kind.",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            bytes: prometheus::IntGauge::new(
                "mirror_bytes",
                "Approximate heap bytes of this instance's revocation mirror.",
            )
            .expect("valid metric"),
            feed_lag: prometheus::Gauge::new(
                "mirror_feed_lag_seconds",
                "Seconds since the change feed last answered (0 while it is current).",
            )
            .expect("valid metric"),
            resyncs: prometheus::IntCounter::new(
                "mirror_resyncs_total",
                "Full loads of the mirror from a store snapshot (start-up included).",
            )
            .expect("valid metric"),
        };
        let check_duration = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "check_duration_seconds",
                "Time to find the facts of one check (mirror or store).",
            )
            .buckets(vec![
                0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01,
                0.05, 0.1, 0.5, 1.0,
            ]),
        )
        .expect("valid metric");

        let events_subscribers = prometheus::IntGauge::new(
            "events_subscribers",
            "Open /v1/events streams on this instance.",
        )
        .expect("valid metric");
        let events_sent = prometheus::IntCounter::new(
            "events_sent_total",
            "Revocation events written to /v1/events streams (each stream counts).",
        )
        .expect("valid metric");

        for collector in [
            Box::new(http.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http.duration.clone()),
            Box::new(store.latency.clone()),
            Box::new(store.up.clone()),
            Box::new(checks.clone()),
            Box::new(changes.clone()),
            Box::new(logout_tokens.clone()),
            Box::new(logout_propagation.clone()),
            Box::new(forward_auth.clone()),
            Box::new(mirror.entries.clone()),
            Box::new(mirror.bytes.clone()),
            Box::new(mirror.feed_lag.clone()),
            Box::new(mirror.resyncs.clone()),
            Box::new(check_duration.clone()),
            Box::new(events_subscribers.clone()),
            Box::new(events_sent.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        // Zero-initialise the closed label sets so dashboards see every
        // series from the start, not only after the first event.
        for kind in ChangeKind::ALL {
            changes.with_label_values(&[kind.as_str()]);
        }
        // Zero-initialises `checks` too.
        let check_results = CheckResults::new(&checks);
        let pending_logouts = PendingLogoutMetrics::new(&registry);

        // Issue 16 (operations): gauges read by deploy/prometheus's rules.
        let provider_keys_loaded = prometheus::IntGaugeVec::new(
            Opts::new(
                "provider_keys_loaded",
                "1 when the provider's keys are loaded (its logout tokens can be verified), 0 when not, by configured provider name.",
            ),
            &["provider"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(provider_keys_loaded.clone()))
            .expect("each metric is registered once");

        Self {
            provider_keys_loaded,
            registry,
            pending_logouts,
            http,
            store,
            checks,
            check_results,
            changes,
            logout_tokens,
            logout_propagation,
            forward_auth,
            mirror,
            check_duration,
            events_subscribers,
            events_sent,
        }
    }

    /// Counts a check answer in `revokd_checks_total`, through the handle
    /// resolved at start-up (a check is the hot path: no label hashing).
    pub fn record_check(&self, verdict: Verdict) {
        match verdict {
            Verdict::Active => self.check_results.active.inc(),
            Verdict::Inactive(reason) => self.check_results.reason(reason).inc(),
        }
    }

    /// A check answered active without complete facts (`fail_mode = "open"`).
    pub fn record_check_degraded(&self) {
        self.check_results.degraded.inc();
    }

    pub fn record_check_unavailable(&self) {
        self.check_results.unavailable.inc();
    }

    pub fn record_change(&self, kind: ChangeKind) {
        self.changes.with_label_values(&[kind.as_str()]).inc();
    }

    /// Adds a collector owned elsewhere (e.g. [`crate::quota`]) to
    /// `/metrics`.
    ///
    /// # Errors
    /// A metric of the same name is registered already.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The series of `revokd_checks_total`, one handle per result.
#[derive(Clone)]
struct CheckResults {
    active: prometheus::IntCounter,
    degraded: prometheus::IntCounter,
    unavailable: prometheus::IntCounter,
    /// In the order of [`Reason::ALL`].
    reasons: [prometheus::IntCounter; Reason::ALL.len()],
}

impl CheckResults {
    fn new(checks: &IntCounterVec) -> Self {
        let series = |label: &str| checks.with_label_values(&[label]);
        Self {
            active: series("active"),
            degraded: series("degraded"),
            unavailable: series("unavailable"),
            reasons: Reason::ALL.map(|reason| series(reason.as_str())),
        }
    }

    fn reason(&self, reason: Reason) -> &prometheus::IntCounter {
        let index = Reason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("Reason::ALL holds every reason");
        &self.reasons[index]
    }
}

/// Buckets from 50 µs to 2.5 s: the check path lives at the low end, a
/// store that is timing out at the high end.
const LATENCY_BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
];

#[derive(Clone)]
pub struct MirrorMetrics {
    pub entries: prometheus::IntGaugeVec,
    pub bytes: prometheus::IntGauge,
    pub feed_lag: prometheus::Gauge,
    pub resyncs: prometheus::IntCounter,
}

#[derive(Clone)]
pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
}

impl HttpMetrics {
    /// The handles of one route pattern, resolved once: a request then
    /// costs no label hashing and no allocation (see [`RouteMetrics`]).
    pub fn route(&self, pattern: &str) -> RouteMetrics {
        RouteMetrics {
            duration: self.duration.with_label_values(&[pattern]),
            requests: self.requests.clone(),
            route: pattern.to_owned(),
            counters: std::sync::RwLock::default(),
        }
    }

    /// Counts one request of a route known only by its pattern (a route
    /// with parameters, or none): the label look-ups per request.
    pub fn observe(&self, route: &str, method: &str, status: &str, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, status])
            .inc();
        self.duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }
}

/// `revokd_http_requests_total` and `revokd_http_request_duration_seconds`
/// of one route pattern, for the hot path: the histogram is resolved with
/// the route, each (method, status) counter on its first request; later
/// requests find it by a scan of the few pairs a route answers (bounded by
/// the methods and statuses that exist) under a read lock, with no label
/// hashing and no allocation.
pub struct RouteMetrics {
    duration: prometheus::Histogram,
    requests: IntCounterVec,
    route: String,
    counters: std::sync::RwLock<Vec<(&'static str, u16, prometheus::IntCounter)>>,
}

impl RouteMetrics {
    pub fn observe(&self, method: &'static str, status: u16, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
        {
            let counters = self
                .counters
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, _, counter)) = counters
                .iter()
                .find(|(m, s, _)| *m == method && *s == status)
            {
                counter.inc();
                return;
            }
        }
        let counter =
            self.requests
                .with_label_values(&[self.route.as_str(), method, &status.to_string()]);
        counter.inc();
        let mut counters = self
            .counters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !counters
            .iter()
            .any(|(m, s, _)| *m == method && *s == status)
        {
            counters.push((method, status, counter));
        }
    }
}

/// Latency of store calls, kept by [`crate::store::Store`].
#[derive(Clone)]
pub struct StoreMetrics {
    latency: HistogramVec,
    /// Whether the store answered its last probe: a detail of readiness,
    /// which depends on the mirror being within its staleness bound.
    pub up: prometheus::IntGauge,
    /// Whether memory pressure can evict revocations (issue 16): 1 no,
    /// 0 yes (Redis `maxmemory-policy` other than `noeviction`), -1 unknown.
    pub eviction_safe: prometheus::IntGauge,
}

impl StoreMetrics {
    pub fn observe(&self, store: &'static str, op: &'static str, elapsed: Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.latency
            .with_label_values(&[store, op, outcome])
            .observe(elapsed.as_secs_f64());
    }
}

/// Logout tokens kept until keys allow verifying them (issue 17 item 18).
#[derive(Clone)]
pub struct PendingLogoutMetrics {
    /// Kept tokens in the store, as this instance last counted them.
    pub pending: prometheus::IntGauge,
    /// What became of tokens that could not be verified on arrival:
    /// `kept`, `not_kept` (the store holds `pending_max_tokens` already, or
    /// the token is too large), `applied`, `dropped` (its `iat` window
    /// closed, or it broke a rule once its keys were there).
    pub outcomes: IntCounterVec,
}

impl PendingLogoutMetrics {
    fn new(registry: &Registry) -> Self {
        let pending = prometheus::IntGauge::new(
            "logout_tokens_pending",
            "Logout tokens kept until their provider's keys can verify them.",
        )
        .expect("valid metric");
        let outcomes = IntCounterVec::new(
            Opts::new(
                "logout_tokens_pending_total",
                "Logout tokens that could not be verified on arrival, by what became of them (kept, not_kept, applied, dropped).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for outcome in ["kept", "not_kept", "applied", "dropped"] {
            outcomes.with_label_values(&[outcome]);
        }
        registry
            .register(Box::new(pending.clone()))
            .expect("each metric is registered once");
        registry
            .register(Box::new(outcomes.clone()))
            .expect("each metric is registered once");
        Self { pending, outcomes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handles resolved once count into the very series a label
    /// look-up finds, per (method, status), and observe the route's
    /// histogram.
    #[test]
    fn route_handles_count_into_the_labelled_series() {
        let metrics = Metrics::new();
        let route = metrics.http.route("/v1/check");
        let ms = Duration::from_millis(1);
        route.observe("GET", 200, ms);
        route.observe("GET", 200, ms);
        route.observe("GET", 400, ms);
        route.observe("POST", 200, ms);
        let count = |method: &str, status: &str| {
            metrics
                .http
                .requests
                .with_label_values(&["/v1/check", method, status])
                .get()
        };
        assert_eq!(count("GET", "200"), 2);
        assert_eq!(count("GET", "400"), 1);
        assert_eq!(count("POST", "200"), 1);
        assert_eq!(count("POST", "400"), 0);
        let histogram = metrics.http.duration.with_label_values(&["/v1/check"]);
        assert_eq!(histogram.get_sample_count(), 4);
        assert!(metrics.render().contains(
            "revokd_http_requests_total{method=\"GET\",route=\"/v1/check\",status=\"400\"} 1"
        ));
    }

    #[test]
    fn check_results_count_under_their_labels() {
        let metrics = Metrics::new();
        metrics.record_check(Verdict::Active);
        for reason in Reason::ALL {
            metrics.record_check(Verdict::Inactive(reason));
        }
        metrics.record_check(Verdict::Inactive(Reason::SubjectDisabled));
        metrics.record_check_degraded();
        metrics.record_check_unavailable();
        let count = |label: &str| metrics.checks.with_label_values(&[label]).get();
        assert_eq!(count("active"), 1);
        assert_eq!(count("token_revoked"), 1);
        assert_eq!(count("session_revoked"), 1);
        assert_eq!(count("subject_disabled"), 2);
        assert_eq!(count("subject_revoked_before"), 1);
        assert_eq!(count("degraded"), 1);
        assert_eq!(count("unavailable"), 1);
    }
}

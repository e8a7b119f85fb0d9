//! Per-key quotas of client writes: how fast one client key may register
//! token ids (issue 17, item 6).
//!
//! A client key acts for one app (DESIGN.md decision 11): it may register
//! its logins' token ids, within quotas, so that no one app can fill the
//! store, the audit log or Redis for everyone. Each client key gets a GCRA
//! limiter ([`governor`]): `token_ids_per_second` sustained, up to
//! `token_ids_burst` at once. A registration counts one cell per token id, a
//! local logout one cell. Admin keys are not limited.
//!
//! Limiters live in this instance's memory: with N instances behind a load
//! balancer, a key may reach N times its rate. That is enough to keep one
//! key from monopolising the store's time; what a key may make the store
//! *hold* is bounded by its volume, `max_token_ids` live token ids at once
//! (`sessions.max_token_ids_per_key`), which the store itself counts and
//! enforces (see [`crate::domain::Registration::KeyFull`]), so that bound
//! holds across every instance sharing the store.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use serde::Deserialize;

use crate::api_keys::{KeySettings, Role};

/// One key's quota, as configured: `[[sessions.key_quotas]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuotaSettings {
    /// The key's name, as in `[[keys]]`.
    pub key: String,
    pub token_ids_per_second: u32,
    pub token_ids_burst: u32,
    /// Live token ids the key may hold registered at once, instead of
    /// `sessions.max_token_ids_per_key` (0: no limit).
    #[serde(default)]
    pub max_token_ids: Option<usize>,
}

/// A refused write: the key is over its quota until `retry_after`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key `{key}` registers token ids faster than its quota ({per_second} per second, bursts of {burst}; sessions.client_token_ids_per_second / sessions.key_quotas); retry later"
)]
pub struct QuotaExceeded {
    pub key: String,
    pub per_second: u32,
    pub burst: u32,
    /// When the same request would be accepted.
    pub retry_after: Duration,
}

/// A refused registration: the key holds as many live token ids as it may.
/// No `Retry-After`: room frees only as its registrations expire or are
/// deleted, which no wait of a few seconds brings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key `{key}` holds {held} live token ids and this registration adds {adding}: at most {max} per key (sessions.max_token_ids_per_key / sessions.key_quotas); room frees as registrations expire or are deleted (DELETE /v1/sessions)"
)]
pub struct VolumeExceeded {
    pub key: String,
    pub held: usize,
    pub adding: usize,
    pub max: usize,
}

struct KeyLimiter {
    limiter: DefaultDirectRateLimiter,
    per_second: u32,
    burst: u32,
}

/// The limiters of every client key, built once from the configuration.
pub struct ClientQuotas {
    limiters: HashMap<String, KeyLimiter>,
    /// Live token ids each client key may hold (absent: no limit).
    volumes: HashMap<String, usize>,
    clock: DefaultClock,
    /// Token ids accepted per key name (never the key).
    accepted: IntCounterVec,
    /// Requests refused with 429 per key name.
    refused: IntCounterVec,
    /// Live token ids per key name, as the store counted them at this
    /// instance's latest registration by that key.
    held: IntGaugeVec,
    /// Registrations refused because the key held its volume, per key name.
    volume_refused: IntCounterVec,
}

impl ClientQuotas {
    /// A limiter per client key: its own entry in `overrides`, else
    /// `per_second`/`burst`; a rate of 0 leaves the key unlimited. Likewise
    /// its volume: the entry's `max_token_ids`, else `max_token_ids`; 0
    /// leaves it unlimited.
    pub fn new(
        keys: &[KeySettings],
        per_second: u32,
        burst: u32,
        max_token_ids: usize,
        overrides: &[KeyQuotaSettings],
    ) -> Self {
        let mut limiters = HashMap::new();
        let mut volumes = HashMap::new();
        for key in keys.iter().filter(|k| k.role == Role::Client) {
            let volume = overrides
                .iter()
                .find(|o| o.key == key.name)
                .and_then(|o| o.max_token_ids)
                .unwrap_or(max_token_ids);
            if volume > 0 {
                volumes.insert(key.name.clone(), volume);
            }
            let (rate, burst) = overrides
                .iter()
                .find(|o| o.key == key.name)
                .map_or((per_second, burst), |o| {
                    (o.token_ids_per_second, o.token_ids_burst)
                });
            let (Some(rate_nz), Some(burst_nz)) = (NonZeroU32::new(rate), NonZeroU32::new(burst))
            else {
                continue;
            };
            let quota = Quota::per_second(rate_nz).allow_burst(burst_nz);
            limiters.insert(
                key.name.clone(),
                KeyLimiter {
                    limiter: RateLimiter::direct(quota),
                    per_second: rate,
                    burst,
                },
            );
        }
        let accepted = IntCounterVec::new(
            Opts::new(
                "client_token_ids_total",
                "Token ids (and local logouts) accepted from client keys, by key name.",
            ),
            &["key"],
        )
        .expect("valid metric");
        let refused = IntCounterVec::new(
            Opts::new(
                "client_quota_exceeded_total",
                "Session registry requests refused with 429 because the client key was over its quota, by key name.",
            ),
            &["key"],
        )
        .expect("valid metric");
        let held = IntGaugeVec::new(
            Opts::new(
                "client_token_ids_held",
                "Live token ids a client key holds registered, over all instances, as the store counted them at this instance's latest registration by the key, by key name.",
            ),
            &["key"],
        )
        .expect("valid metric");
        let volume_refused = IntCounterVec::new(
            Opts::new(
                "client_volume_exceeded_total",
                "Registrations refused with 429 because the client key held as many live token ids as it may (sessions.max_token_ids_per_key), by key name.",
            ),
            &["key"],
        )
        .expect("valid metric");
        for name in limiters.keys() {
            accepted.with_label_values(&[name]);
            refused.with_label_values(&[name]);
        }
        for name in volumes.keys() {
            volume_refused.with_label_values(&[name]);
        }
        Self {
            limiters,
            volumes,
            clock: DefaultClock::default(),
            accepted,
            refused,
            held,
            volume_refused,
        }
    }

    /// The collectors to register with `/metrics`.
    pub fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 4] {
        [
            Box::new(self.accepted.clone()),
            Box::new(self.refused.clone()),
            Box::new(self.held.clone()),
            Box::new(self.volume_refused.clone()),
        ]
    }

    /// Live token ids `key` may hold registered; `usize::MAX` for an admin
    /// key or a key without a volume limit.
    pub fn max_token_ids(&self, key: &str) -> usize {
        self.volumes.get(key).copied().unwrap_or(usize::MAX)
    }

    /// Shows in `/metrics` how many live token ids `key` holds.
    pub fn record_held(&self, key: &str, held: usize) {
        self.held
            .with_label_values(&[key])
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// The refusal of a registration that would take `key` past its volume,
    /// counted.
    pub fn volume_exceeded(
        &self,
        key: &str,
        held: usize,
        adding: usize,
        max: usize,
    ) -> VolumeExceeded {
        self.volume_refused.with_label_values(&[key]).inc();
        self.record_held(key, held);
        VolumeExceeded {
            key: key.to_owned(),
            held,
            adding,
            max,
        }
    }

    /// Takes `cells` from `key`'s quota, or says how long to wait.
    ///
    /// # Errors
    /// The key is over its quota; nothing was taken.
    pub fn take(&self, key: &str, cells: usize) -> Result<(), QuotaExceeded> {
        let Some(limit) = self.limiters.get(key) else {
            self.accepted.with_label_values(&[key]).inc_by(cells as u64);
            return Ok(());
        };
        let n = NonZeroU32::new(u32::try_from(cells.max(1)).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        let exceeded = |retry_after| QuotaExceeded {
            key: key.to_owned(),
            per_second: limit.per_second,
            burst: limit.burst,
            retry_after,
        };
        match limit.limiter.check_n(n) {
            Ok(Ok(())) => {
                self.accepted.with_label_values(&[key]).inc_by(cells as u64);
                Ok(())
            }
            Ok(Err(not_until)) => {
                self.refused.with_label_values(&[key]).inc();
                Err(exceeded(not_until.wait_time_from(self.clock.now())))
            }
            // More cells than a burst holds: no wait helps; the config
            // validation keeps bursts at least one registration's size.
            Err(_) => {
                self.refused.with_label_values(&[key]).inc();
                Err(exceeded(Duration::from_secs(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn key(name: &str, role: Role) -> KeySettings {
        KeySettings {
            name: name.into(),
            role,
            key: Some(SecretString::from("k".repeat(16))),
            sha256: None,
            file: None,
        }
    }

    #[test]
    fn a_client_key_gets_its_burst_then_waits() {
        let quotas = ClientQuotas::new(&[key("app", Role::Client)], 1, 10, 0, &[]);
        assert_eq!(quotas.take("app", 10), Ok(()), "the whole burst at once");
        let err = quotas.take("app", 1).unwrap_err();
        assert!(err.retry_after > Duration::ZERO, "{err:?}");
        assert!(err.retry_after <= Duration::from_secs(1), "{err:?}");
    }

    #[test]
    fn admin_keys_and_unlimited_keys_are_not_limited() {
        let overrides = [KeyQuotaSettings {
            key: "bulk".into(),
            token_ids_per_second: 0,
            token_ids_burst: 0,
            max_token_ids: None,
        }];
        let quotas = ClientQuotas::new(
            &[key("ops", Role::Admin), key("bulk", Role::Client)],
            1,
            1,
            0,
            &overrides,
        );
        assert_eq!(quotas.max_token_ids("ops"), usize::MAX, "admin");
        assert_eq!(quotas.max_token_ids("bulk"), usize::MAX, "0: none");
        for _ in 0..100 {
            assert_eq!(quotas.take("ops", 100), Ok(()));
            assert_eq!(quotas.take("bulk", 100), Ok(()));
        }
    }

    #[test]
    fn an_override_replaces_the_default_for_its_key_only() {
        let overrides = [KeyQuotaSettings {
            key: "big".into(),
            token_ids_per_second: 1,
            token_ids_burst: 50,
            max_token_ids: Some(7),
        }];
        let quotas = ClientQuotas::new(
            &[key("big", Role::Client), key("small", Role::Client)],
            1,
            5,
            3,
            &overrides,
        );
        assert_eq!(quotas.max_token_ids("big"), 7);
        assert_eq!(quotas.max_token_ids("small"), 3);
        assert_eq!(quotas.take("big", 50), Ok(()));
        assert!(quotas.take("small", 6).is_err(), "one past its burst");
        assert_eq!(quotas.take("small", 5), Ok(()), "at its burst");
    }
}

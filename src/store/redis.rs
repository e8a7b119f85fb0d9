//! The Redis store: shared by every instance. (Implementation in progress.)

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{RevocationStore, StoreError};
use crate::domain::{Change, Event, EventPage, Facts, Lookup, Provenance, UnixTime};

/// `[redis]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// A secret: it may hold a password.
    pub url: SecretString,
    /// Prefix of every key.
    pub key_prefix: String,
    pub pool_size: usize,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Approximate length of the audit stream (`XADD ... MAXLEN ~`).
    pub max_events: u64,
}

#[derive(Clone)]
pub struct RedisStore {}

impl RedisStore {
    /// Builds the connection pool. Does not connect: a Redis that is down at
    /// start-up makes `/readyz` fail, not revokd exit.
    ///
    /// # Errors
    /// The URL cannot be parsed.
    pub fn connect(_settings: &RedisSettings) -> Result<Self, StoreError> {
        todo!()
    }
}

impl RevocationStore for RedisStore {
    async fn apply(
        &self,
        _change: Change,
        _provenance: Provenance,
        _now: UnixTime,
    ) -> Result<Event, StoreError> {
        todo!()
    }

    async fn lookup(&self, _lookup: Lookup<'_>, _now: UnixTime) -> Result<Facts, StoreError> {
        todo!()
    }

    async fn events(&self, _page: &EventPage) -> Result<Vec<Event>, StoreError> {
        todo!()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        todo!()
    }
}

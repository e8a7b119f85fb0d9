//! The embedded store: one `redb` file, durable, single node, the default.
//! (Implementation in progress.)

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{RevocationStore, StoreError};
use crate::domain::{Change, Event, EventPage, Facts, Lookup, Provenance, UnixTime};

/// `[embedded]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    /// Directory holding `revokd.redb`; created if missing.
    pub path: PathBuf,
    /// How often [`EmbeddedStore::sweep`] runs.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Audit events kept; the oldest beyond this are dropped by the sweep.
    pub max_events: u64,
}

#[derive(Clone)]
pub struct EmbeddedStore {}

impl EmbeddedStore {
    /// Opens (or creates) the database under `settings.path`.
    ///
    /// # Errors
    /// The directory cannot be created, or the file cannot be opened (for
    /// example because another process holds it).
    pub fn open(_settings: &EmbeddedSettings) -> Result<Self, StoreError> {
        todo!()
    }

    /// Removes facts that expired at or before `now` and audit events beyond
    /// `max_events`. Returns how many facts were removed.
    ///
    /// # Errors
    /// The database cannot be written.
    pub async fn sweep(&self, _now: UnixTime) -> Result<usize, StoreError> {
        todo!()
    }
}

impl RevocationStore for EmbeddedStore {
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

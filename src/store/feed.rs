//! What the store offers those who replicate it: a change feed of touched
//! keys for the mirror ([`Store::feed`]), wake-ups for the event stream
//! ([`Store::event_wakeups`]) and where its audit log starts
//! ([`Store::log_start`]). Callers follow these without knowing which
//! store they follow.
//!
//! - **Redis** is shared by every instance: the feed reads `{prefix}feed`
//!   (see `redis/feed.rs`), the wake-ups read the audit stream, each with
//!   `XREAD BLOCK` on a dedicated connection. Either can fall behind while
//!   Redis is away, which is why a feed can report lost entries.
//! - **Embedded** has one writer, this instance, whose writes reach its
//!   mirror and its event hub in-process. Its feed never yields a key and
//!   never loses one, and its wake-ups never fire: both only wait, so that
//!   the one follow loop above them serves both stores.

use std::time::Duration;

use super::{Backend, FeedReader, MirroredKey, Store, StoreError};
use crate::domain::EventId;

/// Where a follower stands in the change feed: the last entry it consumed
/// and how many entries it has consumed since the feed began (counting
/// those before its snapshot). Handed out by
/// [`super::RevocationStore::snapshot`] and [`Feed::next`]; opaque to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    id: String,
    consumed: u64,
}

impl FeedPosition {
    pub(super) fn new(id: String, consumed: u64) -> Self {
        Self { id, consumed }
    }

    /// The position of a store without a feed to read (embedded).
    pub(super) fn local() -> Self {
        Self::new(String::new(), 0)
    }

    /// The id of the last entry consumed (Redis: a stream id).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many entries were consumed since the feed began.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }
}

/// What one read of the feed returned: the keys touched after the position
/// read from, and the position to read from next.
#[derive(Debug)]
pub struct Touched {
    pub keys: Vec<MirroredKey>,
    pub position: FeedPosition,
}

/// A reader of the store's change feed, on its own connection.
pub struct Feed(FeedSource);

enum FeedSource {
    /// Nothing to read: waits `block` and returns no keys.
    Local {
        block: Duration,
    },
    Redis(FeedReader),
}

impl Feed {
    /// Whether entries after `at` can no longer be read (trimmed, or the
    /// feed was reset): the follower must load a snapshot again.
    ///
    /// # Errors
    /// The store is unavailable.
    pub async fn lost_entries_after(&mut self, at: &FeedPosition) -> Result<bool, StoreError> {
        match &mut self.0 {
            FeedSource::Local { .. } => Ok(false),
            FeedSource::Redis(reader) => Ok(reader.info().await?.lost_entries_after(at)),
        }
    }

    /// At most `count` entries after `at`, waiting up to the feed's block
    /// time for one: the keys they touched and the new position (`at` when
    /// none came).
    ///
    /// # Errors
    /// The store is unavailable, or an entry is not in the store's format.
    pub async fn next(&mut self, at: &FeedPosition, count: usize) -> Result<Touched, StoreError> {
        match &mut self.0 {
            FeedSource::Local { block } => {
                tokio::time::sleep(*block).await;
                Ok(Touched {
                    keys: Vec::new(),
                    position: at.clone(),
                })
            }
            FeedSource::Redis(reader) => {
                let batch = reader.next(&at.id, count).await?;
                let position = match batch.last_id {
                    Some(last) => FeedPosition::new(last, at.consumed + batch.entries),
                    None => at.clone(),
                };
                Ok(Touched {
                    keys: batch.keys,
                    position,
                })
            }
        }
    }
}

/// Says when any instance may have recorded new audit events.
pub struct EventWakeups(WakeupSource);

enum WakeupSource {
    /// This instance is the only writer and wakes its hub itself.
    Local {
        block: Duration,
    },
    Redis(super::EventsWaiter),
}

impl EventWakeups {
    /// `true` once there may be new events, `false` after the block time
    /// without any.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn wait(&mut self) -> Result<bool, StoreError> {
        match &mut self.0 {
            WakeupSource::Local { block } => {
                tokio::time::sleep(*block).await;
                Ok(false)
            }
            WakeupSource::Redis(waiter) => waiter.wait().await,
        }
    }
}

impl Store {
    /// Whether other instances write to this store too (Redis): their
    /// changes then reach this instance only through [`Store::feed`], which
    /// can fall behind. A store only this instance writes to (embedded)
    /// cannot leave a mirror behind, and loads in-process and fast.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// A reader of the change feed whose reads wait up to `block`.
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn feed(&self, block: Duration) -> Result<Feed, StoreError> {
        Ok(Feed(match &self.backend {
            Backend::Embedded(_) => FeedSource::Local { block },
            Backend::Redis(redis) => FeedSource::Redis(redis.feed_reader(block).await?),
        }))
    }

    /// Wake-ups for new audit events, each wait at most `block`.
    ///
    /// # Errors
    /// The store cannot be reached.
    pub async fn event_wakeups(&self, block: Duration) -> Result<EventWakeups, StoreError> {
        Ok(EventWakeups(match &self.backend {
            Backend::Embedded(_) => WakeupSource::Local { block },
            Backend::Redis(redis) => WakeupSource::Redis(redis.events_waiter(block).await?),
        }))
    }

    /// The cursor before the first event this store can write: what
    /// [`super::RevocationStore::events_after`] reads the whole log from.
    pub fn log_start(&self) -> EventId {
        EventId(
            match self.backend {
                Backend::Embedded(_) => "0",
                Backend::Redis(_) => "0-0",
            }
            .to_owned(),
        )
    }
}

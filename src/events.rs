//! The event stream's source: every audit event, once per instance, fanned
//! out to the `/v1/events` subscribers of this instance.
//!
//! One task per instance follows the store's audit log from where it
//! started ([`EventHub::follow`]): woken at once by a write made here, and
//! every `events.poll_interval` otherwise, which is how events written by
//! other instances on the same Redis arrive. Subscribers never read the
//! store per event; they read it only to catch up (a resume, or after
//! falling behind the broadcast), and they drop what they already sent by
//! comparing ids ([`EventId::order`]), so catch-up and live delivery can
//! overlap without a gap or a duplicate.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::domain::{Event, EventId, EventPage};
use crate::store::{Backend, RedisSettings, RedisStore, RevocationStore, Store, StoreError};

/// Events read from the store per step of the follower.
const FOLLOW_BATCH: usize = 256;

/// What subscribers receive.
#[derive(Debug, Clone)]
pub enum HubMessage {
    Event(Arc<Event>),
    /// The follower could not read everything after its position (the log
    /// was trimmed past it): subscribers must catch up from the store.
    Gap,
}

/// See the module docs.
pub struct EventHub {
    sender: broadcast::Sender<HubMessage>,
    wake: Notify,
    /// Cancelled when the instance begins to stop: streams end then, so
    /// that graceful shutdown does not wait `http.shutdown_timeout` for
    /// them (they never end by themselves).
    closing: CancellationToken,
}

impl EventHub {
    /// A hub whose subscribers may fall `capacity` messages behind before
    /// they must catch up from the store.
    pub fn new(capacity: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Arc::new(Self {
            sender,
            wake: Notify::new(),
            closing: CancellationToken::new(),
        })
    }

    /// Cancelled when the instance begins to stop; streams watch it.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Live messages from now on. Subscribe before catching up, so that
    /// nothing written in between is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<HubMessage> {
        self.sender.subscribe()
    }

    /// How many subscribers are connected.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// A write happened here: read the log now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Follows the store's audit log until `cancel`, broadcasting every
    /// event after the newest one at start. A store that fails is retried
    /// at the next poll; the position is kept.
    pub async fn follow(self: Arc<Self>, store: Store, poll: Duration, cancel: CancellationToken) {
        let mut position: Option<EventId> = None;
        loop {
            if position.is_none() {
                position = match newest_event_id(&store).await {
                    Ok(newest) => Some(newest.unwrap_or_else(|| beginning(&store))),
                    Err(err) => {
                        tracing::warn!(error.cause_chain = ?err, "the event stream cannot read the audit log; retrying");
                        None
                    }
                };
            }
            if let Some(at) = position.as_mut() {
                self.step(&store, at).await;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Broadcasts everything after `at` and moves `at` to the last event.
    async fn step(&self, store: &Store, at: &mut EventId) {
        loop {
            match store.events_after(at, FOLLOW_BATCH).await {
                Ok(Some(events)) => {
                    let full = events.len() == FOLLOW_BATCH;
                    for event in events {
                        *at = event.id.clone();
                        // No subscriber is not an error: nobody missed it.
                        let _ = self.sender.send(HubMessage::Event(Arc::new(event)));
                    }
                    if !full {
                        return;
                    }
                }
                Ok(None) => {
                    tracing::warn!(after = %at, "the audit log was trimmed past the event stream's position; subscribers catch up from the store");
                    let _ = self.sender.send(HubMessage::Gap);
                    match newest_event_id(store).await {
                        Ok(newest) => *at = newest.unwrap_or_else(|| beginning(store)),
                        Err(_) => return,
                    }
                    return;
                }
                Err(err) => {
                    tracing::warn!(error.cause_chain = ?err, "the event stream cannot read the audit log; retrying");
                    return;
                }
            }
        }
    }
}

/// How long one `XREAD` of [`wake_on_redis`] blocks.
const WAKE_BLOCK: Duration = Duration::from_secs(1);

/// Wakes `hub` whenever any instance on the same Redis records an event:
/// one blocking `XREAD` on the audit stream, on a dedicated connection, so
/// that other instances' events stream within milliseconds rather than at
/// the next `events.poll_interval` (which stays as the fallback while this
/// connection is down). Reconnects with backoff (100 ms doubling to 5 s).
pub async fn wake_on_redis(
    hub: Arc<EventHub>,
    redis: RedisStore,
    settings: RedisSettings,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = wake_until_error(&hub, &redis, &settings) => outcome,
        };
        if let Err(err) = outcome {
            tracing::debug!(error.cause_chain = ?err, "the event wake-up connection failed; polling until it is back");
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn wake_until_error(
    hub: &EventHub,
    redis: &RedisStore,
    settings: &RedisSettings,
) -> Result<(), StoreError> {
    let mut waiter = redis.events_waiter(settings, WAKE_BLOCK).await?;
    // Whatever was written while this connection was down.
    hub.wake();
    loop {
        if waiter.wait().await? {
            hub.wake();
        }
    }
}

/// The newest event's id, `None` for an empty log.
///
/// # Errors
/// The store failed.
pub async fn newest_event_id(store: &Store) -> Result<Option<EventId>, crate::store::StoreError> {
    let newest = store
        .events(&EventPage {
            before: None,
            limit: 1,
        })
        .await?;
    Ok(newest.into_iter().next().map(|event| event.id))
}

/// The cursor before the first event a store can write.
pub fn beginning(store: &Store) -> EventId {
    EventId(
        match store.backend() {
            Backend::Embedded(_) => "0",
            Backend::Redis(_) => "0-0",
        }
        .to_owned(),
    )
}

/// Whether `event` comes after `last` in the log (always, without `last`).
pub fn is_after(event: &EventId, last: &EventId) -> bool {
    match (event.order(), last.order()) {
        (Some(event), Some(last)) => event > last,
        // Ids of the store never fail to parse; if one did, sending it twice
        // is better than not at all.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_by_their_place_in_the_log() {
        let id = |s: &str| EventId(s.to_owned());
        assert!(is_after(&id("10"), &id("9")));
        assert!(!is_after(&id("9"), &id("10")));
        assert!(!is_after(&id("9"), &id("9")));
        assert!(is_after(&id("1700000000000-1"), &id("1700000000000-0")));
        assert!(is_after(&id("1700000000001-0"), &id("1700000000000-7")));
        assert!(!is_after(&id("1700000000000-0"), &id("1700000000000-0")));
    }
}

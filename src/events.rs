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
//!
//! Each event is serialised once, here, into the SSE frame every stream
//! writes ([`SharedEvent`]): a stream only compares an id and clones a
//! reference-counted buffer, so the cost of a write no longer grows with
//! the serialisation work times the number of open streams (2,000 streams
//! once cut the write rate twentyfold). Streams are capped globally and
//! per key ([`StreamSlots`]).

use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::domain::{Event, EventId, EventPage};
use crate::store::{Backend, RedisSettings, RedisStore, RevocationStore, Store, StoreError};

/// Events read from the store per step of the follower.
const FOLLOW_BATCH: usize = 256;

/// An event as every stream sends it, serialised once.
#[derive(Debug)]
pub struct SharedEvent {
    pub id: EventId,
    /// The whole SSE frame ([`event_frame`]).
    pub frame: Bytes,
}

impl SharedEvent {
    pub fn new(event: &Event) -> Self {
        Self {
            id: event.id.clone(),
            frame: event_frame(event),
        }
    }
}

/// `id`, `event: revocation` and the event's JSON on one `data` line
/// (serde_json escapes every newline, so one line is all it takes).
pub fn event_frame(event: &Event) -> Bytes {
    let json = serde_json::to_string(event).expect("an event always serialises");
    Bytes::from(format!(
        "id: {}\nevent: revocation\ndata: {json}\n\n",
        event.id
    ))
}

/// What subscribers receive.
#[derive(Debug, Clone)]
pub enum HubMessage {
    Event(Arc<SharedEvent>),
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
                        let _ = self
                            .sender
                            .send(HubMessage::Event(Arc::new(SharedEvent::new(&event))));
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

/// The open streams, counted against `events.max_streams` (all keys) and
/// `events.max_streams_per_key`. A stream holds a [`StreamSlot`] for its
/// whole life; dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    max_per_key: usize,
    /// Open streams per key name, and their total.
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// Why [`StreamSlots::open`] refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamsFull {
    #[error("{0} event streams are open on this instance (`events.max_streams`); retry later")]
    Instance(usize),
    #[error("this key has {0} event streams open (`events.max_streams_per_key`); close one")]
    Key(usize),
}

impl StreamSlots {
    pub fn new(max: usize, max_per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            max_per_key,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for one more stream of `key`, if both caps allow.
    ///
    /// # Errors
    /// The instance or the key is at its cap.
    pub fn open(self: &Arc<Self>, key: &str) -> Result<StreamSlot, StreamsFull> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, per_key) = &mut *open;
        let mine = per_key.get(key).copied().unwrap_or(0);
        if mine >= self.max_per_key {
            return Err(StreamsFull::Key(mine));
        }
        if *total >= self.max {
            return Err(StreamsFull::Instance(*total));
        }
        *total += 1;
        per_key.insert(key.to_owned(), mine + 1);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            key: key.to_owned(),
        })
    }

    /// Streams open now.
    pub fn total(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

/// One open stream's place in [`StreamSlots`].
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, per_key) = &mut *open;
        *total -= 1;
        if let Some(n) = per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                per_key.remove(&self.key);
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
    use crate::domain::{Change, Note, TokenId, UnixTime};

    #[test]
    fn streams_are_capped_per_key_then_per_instance_and_freed_on_drop() {
        let slots = StreamSlots::new(3, 2);
        let a1 = slots.open("a").unwrap();
        let _a2 = slots.open("a").unwrap();
        assert_eq!(slots.open("a").unwrap_err(), StreamsFull::Key(2));
        let _b1 = slots.open("b").unwrap();
        assert_eq!(slots.open("b").unwrap_err(), StreamsFull::Instance(3));
        drop(a1);
        assert_eq!(slots.total(), 2);
        let _b2 = slots.open("b").unwrap();
        assert_eq!(slots.total(), 3);
    }

    #[test]
    fn an_event_is_one_frame_with_its_id_and_one_data_line() {
        let event = Event {
            id: EventId("42".into()),
            at: UnixTime::from_secs(1_700_000_000),
            change: Change::TokenRevoked {
                jti: TokenId::parse("t1").unwrap(),
                expires_at: UnixTime::from_secs(1_700_003_600),
            },
            actor: "admin:ops".into(),
            // Identifiers and notes refuse control characters (CR, LF); a
            // line separator is not one, and SSE does not split on it.
            reason: Some(Note::parse("line one\u{2028}data: forged").unwrap()),
        };
        let shared = SharedEvent::new(&event);
        assert_eq!(shared.id, event.id);
        let frame = String::from_utf8(shared.frame.to_vec()).unwrap();
        assert!(
            frame.starts_with("id: 42\nevent: revocation\ndata: {"),
            "{frame}"
        );
        assert!(frame.ends_with("}\n\n"));
        // Nothing in an event can add a field or end the frame early.
        assert_eq!(frame.matches('\n').count(), 4, "{frame}");
        let data = frame
            .lines()
            .nth(2)
            .unwrap()
            .strip_prefix("data: ")
            .unwrap();
        let back: Event = serde_json::from_str(data).unwrap();
        assert_eq!(back, event);
    }

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

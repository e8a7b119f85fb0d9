//! The hub: every audit event, once per instance, fanned out to the
//! `/v1/events` subscribers of this instance.
//!
//! One task per instance follows the store's audit log from where it
//! started ([`EventHub::follow`]): woken at once by a write made here or by
//! the store's wake-ups ([`wake_on_store`]: any instance's write on the
//! same Redis), and every `events.poll_interval` otherwise.
//!
//! Each event is serialised once, here, into the SSE frame every stream
//! writes ([`SharedEvent`]): a stream only compares an id and clones a
//! reference-counted buffer, so the cost of a write no longer grows with
//! the serialisation work times the number of open streams (2,000 streams
//! once cut the write rate twentyfold).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::domain::{Event, EventId, EventPage};
use crate::store::{RevocationStore, Store, StoreError};

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
    /// Where the events come from, and where subscribers catch up.
    store: Store,
    sender: broadcast::Sender<HubMessage>,
    wake: Notify,
    /// Cancelled when the instance begins to stop: streams end then, so
    /// that graceful shutdown does not wait `http.shutdown_timeout` for
    /// them (they never end by themselves).
    closing: CancellationToken,
}

impl EventHub {
    /// A hub of `store`'s events whose subscribers may fall `capacity`
    /// messages behind before they must catch up from the store.
    pub fn new(capacity: usize, store: Store) -> Arc<Self> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Arc::new(Self {
            store,
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

    /// The store the events come from.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// A write happened here: read the log now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Follows the store's audit log until `cancel`, broadcasting every
    /// event after the newest one at start. A store that fails is retried
    /// at the next poll; the position is kept.
    pub async fn follow(self: Arc<Self>, poll: Duration, cancel: CancellationToken) {
        let store = self.store.clone();
        let mut position: Option<EventId> = None;
        loop {
            if position.is_none() {
                position = match newest_event_id(&store).await {
                    Ok(newest) => Some(newest.unwrap_or_else(|| store.log_start())),
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
                        Ok(newest) => *at = newest.unwrap_or_else(|| store.log_start()),
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

/// How long one wait of [`wake_on_store`] blocks.
const WAKE_BLOCK: Duration = Duration::from_secs(1);

/// Wakes `hub` whenever the store says another writer may have recorded
/// an event ([`Store::event_wakeups`]; on Redis: one blocking `XREAD` on the
/// audit stream, on a dedicated connection), so that other instances'
/// events stream within milliseconds rather than at the next
/// `events.poll_interval` (which stays as the fallback while this is
/// down). Reconnects with backoff (100 ms doubling to 5 s).
pub async fn wake_on_store(hub: Arc<EventHub>, store: Store, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = wake_until_error(&hub, &store) => outcome,
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

async fn wake_until_error(hub: &EventHub, store: &Store) -> Result<(), StoreError> {
    let mut wakeups = store.event_wakeups(WAKE_BLOCK).await?;
    // Whatever was written while this connection was down.
    hub.wake();
    loop {
        if wakeups.wait().await? {
            hub.wake();
        }
    }
}

/// The newest event's id, `None` for an empty log.
///
/// # Errors
/// The store failed.
pub async fn newest_event_id(store: &Store) -> Result<Option<EventId>, StoreError> {
    let newest = store
        .events(&EventPage {
            before: None,
            limit: 1,
        })
        .await?;
    Ok(newest.into_iter().next().map(|event| event.id))
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

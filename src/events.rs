//! The event hub behind `GET /v1/events`: every revocation event, in id
//! order, to every subscriber, with resume and no store round trip per
//! subscriber for live events.
//!
//! - **One follower per instance** ([`follow`]) learns of new events
//!   (Redis: `XREAD BLOCK` on `{prefix}events` on one dedicated connection,
//!   so every instance sees every instance's events; embedded: a signal
//!   from the store after each commit), reads them with
//!   [`RevocationStore::events_after`] and fans them out on a
//!   [`broadcast`] channel.
//! - **A subscriber** ([`Subscription`]) subscribes to the channel first,
//!   then catches up from the store after the id it resumes from, then
//!   takes live events from the channel, dropping any id it already sent.
//!   Subscribing before reading makes the two overlap rather than leave a
//!   gap; dropping ids at or below the last one sent removes the overlap.
//! - **Falling behind** the channel (a slow subscriber, or the follower
//!   itself losing events it could not read in time) sends the subscriber
//!   back to the store from its last id; if the store no longer holds what
//!   comes after it, the subscriber is told to resync from the live set.
//!
//! Nothing here knows HTTP: [`Frame`]s are turned into Server-Sent Events
//! by `crate::http`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::domain::{Event, EventId};
use crate::metrics::Metrics;
use crate::store::{
    EmbeddedStore, EventsAfter, RedisSettings, RedisStore, RevocationStore, Store, StoreError,
};

/// Events read from the store per round trip, by the follower and by a
/// subscriber catching up.
const PAGE: usize = 500;

/// How long the follower waits for news before looking again anyway.
const WAIT: Duration = Duration::from_secs(1);

/// `[events]` settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSettings {
    /// Time between keep-alive comments on an idle stream.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Live events buffered per instance for subscribers; one that falls
    /// further behind re-reads from the store.
    pub buffer: usize,
}

/// What the follower fans out.
#[derive(Debug, Clone)]
enum Broadcast {
    Event(Arc<Event>),
    /// The follower could not read some events before the store dropped
    /// them: every subscriber must check its own position in the store.
    Lost,
}

/// One message of a subscriber's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// First message of a stream started without an id: the id to resume
    /// from later.
    Hello {
        last_event_id: EventId,
    },
    Event(Arc<Event>),
    /// The id resumed from is older than the store keeps: read the live
    /// set and resume from its `as_of`. Last message of its stream.
    Resync,
    /// Nothing happened for a while; keeps proxies from closing the stream.
    Keepalive,
}

/// The per-instance hub: a broadcast channel and what a subscriber needs.
pub struct EventHub {
    sender: broadcast::Sender<Broadcast>,
    store: Store,
    heartbeat: Duration,
    metrics: Metrics,
    /// Cancelled when the instance begins to stop: streams end then, so
    /// that graceful shutdown does not wait for them.
    closing: CancellationToken,
}

impl EventHub {
    pub fn new(
        store: Store,
        settings: &EventsSettings,
        metrics: Metrics,
        closing: CancellationToken,
    ) -> Self {
        Self {
            sender: broadcast::Sender::new(settings.buffer.max(1)),
            store,
            heartbeat: settings.heartbeat,
            metrics,
            closing,
        }
    }

    /// A subscription resuming after `after`, or, without one, starting
    /// with the newest event (announced in a [`Frame::Hello`]).
    ///
    /// The first read of the store happens here, so that a bad id or an
    /// unavailable store is an error before any stream begins.
    ///
    /// # Errors
    /// [`StoreError::UnknownEventId`] for an id the store never issued;
    /// [`StoreError::Unavailable`] when the store cannot be read.
    pub async fn subscribe(&self, after: Option<EventId>) -> Result<Subscription, StoreError> {
        let receiver = self.sender.subscribe();
        let mut queue = VecDeque::new();
        let after = match after {
            Some(after) => after,
            None => {
                let newest = self.store.last_event_id().await?;
                queue.push_back(Frame::Hello {
                    last_event_id: newest.clone(),
                });
                newest
            }
        };
        let mut subscription = Subscription {
            store: self.store.clone(),
            receiver,
            last: after,
            queue,
            caught_up: false,
            finished: false,
            heartbeat: heartbeat(self.heartbeat),
            closing: self.closing.clone(),
            metrics: self.metrics.clone(),
        };
        // Counted from here: dropping it, even on the error below, uncounts.
        self.metrics.events_subscribers.inc();
        subscription.catch_up().await?;
        Ok(subscription)
    }

    fn publish(&self, message: Broadcast) {
        // No subscriber is not an error: nobody is listening right now.
        let _ = self.sender.send(message);
    }
}

fn heartbeat(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// The position of a store-issued id in its store's order: embedded ids
/// are `n`, Redis ids `ms-seq`. `None` for anything else (never issued by
/// a store, so never compared).
fn order(id: &EventId) -> Option<(u64, u64)> {
    match id.0.split_once('-') {
        Some((ms, seq)) => Some((ms.parse().ok()?, seq.parse().ok()?)),
        None => Some((id.0.parse().ok()?, 0)),
    }
}

/// Whether `id` comes after `last`; an id that cannot be ordered is
/// delivered rather than dropped.
fn is_after(id: &EventId, last: &EventId) -> bool {
    match (order(id), order(last)) {
        (Some(id), Some(last)) => id > last,
        _ => true,
    }
}

/// One consumer's stream of [`Frame`]s.
pub struct Subscription {
    store: Store,
    receiver: broadcast::Receiver<Broadcast>,
    /// The last event id sent (or the id resumed from).
    last: EventId,
    /// Frames ready to send, oldest first.
    queue: VecDeque<Frame>,
    /// Whether the store has nothing after `last` that the channel may not
    /// carry: until then, events come from the store.
    caught_up: bool,
    finished: bool,
    heartbeat: tokio::time::Interval,
    closing: CancellationToken,
    metrics: Metrics,
}

impl Subscription {
    /// Reads one page after `last` from the store into the queue.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        match self.store.events_after(&self.last, PAGE).await? {
            EventsAfter::BehindRetention => {
                self.queue.push_back(Frame::Resync);
                self.caught_up = true;
            }
            EventsAfter::Events(events) => {
                self.caught_up = events.len() < PAGE;
                if let Some(newest) = events.last() {
                    self.last = newest.id.clone();
                }
                self.queue
                    .extend(events.into_iter().map(|e| Frame::Event(Arc::new(e))));
            }
        }
        Ok(())
    }

    /// The next frame; `None` when the stream is over (after a
    /// [`Frame::Resync`], at shutdown, or when the store failed while
    /// catching up: the consumer reconnects with its last id).
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                match &frame {
                    Frame::Event(_) => self.metrics.events_sent.inc(),
                    Frame::Resync => self.finished = true,
                    Frame::Hello { .. } | Frame::Keepalive => {}
                }
                return Some(frame);
            }
            if self.finished {
                return None;
            }
            if !self.caught_up {
                if let Err(err) = self.catch_up().await {
                    tracing::warn!(error.cause_chain = ?err, "an event stream could not catch up; closing it");
                    self.finished = true;
                }
                continue;
            }
            tokio::select! {
                () = self.closing.cancelled() => self.finished = true,
                _ = self.heartbeat.tick() => return Some(Frame::Keepalive),
                received = self.receiver.recv() => match received {
                    Ok(Broadcast::Event(event)) => {
                        if is_after(&event.id, &self.last) {
                            self.last = event.id.clone();
                            self.queue.push_back(Frame::Event(event));
                        }
                    }
                    Ok(Broadcast::Lost) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.caught_up = false;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.finished = true,
                },
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.events_subscribers.dec();
    }
}

/// Where the follower learns that there is something new to read.
pub enum Source {
    Embedded(EmbeddedStore),
    Redis {
        store: RedisStore,
        settings: RedisSettings,
    },
}

/// Keeps `hub` fed with every new event until `cancel`. Reconnects with
/// backoff (100 ms doubling to 5 s) when the store fails.
pub async fn follow(hub: Arc<EventHub>, source: Source, cancel: CancellationToken) {
    let mut position: Option<EventId> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = follow_once(&hub, &source, &mut position) => outcome,
        };
        if let Err(err) = outcome {
            if matches!(err, StoreError::UnknownEventId(_)) {
                // The audit log was reset below our position (a flushed
                // Redis): start again from its newest event, and let every
                // subscriber check its own position.
                position = None;
                hub.publish(Broadcast::Lost);
            }
            tracing::warn!(error.cause_chain = ?err, "the event hub cannot read new events; retrying");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        } else {
            backoff = Duration::from_millis(100);
        }
    }
}

/// Follows until the first error.
async fn follow_once(
    hub: &EventHub,
    source: &Source,
    position: &mut Option<EventId>,
) -> Result<(), StoreError> {
    enum Waiter {
        Embedded(tokio::sync::watch::Receiver<u64>),
        Redis(crate::store::EventsWaiter),
    }
    let mut waiter = match source {
        Source::Embedded(store) => Waiter::Embedded(store.appended()),
        Source::Redis { store, settings } => {
            Waiter::Redis(store.events_waiter(settings, WAIT).await?)
        }
    };
    let mut at = match position.take() {
        Some(at) => at,
        None => hub.store.last_event_id().await?,
    };
    loop {
        *position = Some(at.clone());
        // Read before waiting: what was written while (re)connecting.
        loop {
            match hub.store.events_after(&at, PAGE).await? {
                EventsAfter::Events(events) => {
                    let full = events.len() == PAGE;
                    for event in events {
                        at = event.id.clone();
                        hub.publish(Broadcast::Event(Arc::new(event)));
                    }
                    *position = Some(at.clone());
                    if !full {
                        break;
                    }
                }
                EventsAfter::BehindRetention => {
                    tracing::warn!("the event hub fell behind the audit log's retention");
                    hub.publish(Broadcast::Lost);
                    at = hub.store.last_event_id().await?;
                    *position = Some(at.clone());
                }
            }
        }
        match &mut waiter {
            Waiter::Embedded(appended) => {
                // A timeout is a harmless extra read; a closed channel
                // cannot happen while the store lives.
                let _ = tokio::time::timeout(WAIT, appended.changed()).await;
            }
            Waiter::Redis(waiter) => {
                waiter.wait(&at).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Change, Provenance, TokenId, UnixTime};
    use crate::store::{Backend, EmbeddedSettings};

    async fn hub_on_embedded(buffer: usize, dir: &std::path::Path) -> (EventHub, Store) {
        let store = EmbeddedStore::open(&EmbeddedSettings {
            path: dir.to_owned(),
            sweep_interval: Duration::from_secs(60),
            max_events: 1000,
        })
        .unwrap();
        let metrics = Metrics::new();
        let store = Store::new(Backend::Embedded(store), metrics.store.clone());
        let settings = EventsSettings {
            heartbeat: Duration::from_secs(60),
            buffer,
        };
        let hub = EventHub::new(store.clone(), &settings, metrics, CancellationToken::new());
        (hub, store)
    }

    async fn record(store: &Store, jti: &str) -> Event {
        let now = UnixTime::now();
        let change = Change::TokenRevoked {
            jti: TokenId::parse(jti).unwrap(),
            expires_at: UnixTime::from_secs(now.as_secs() + 3600),
        };
        let by = Provenance {
            actor: "admin:test".into(),
            reason: None,
        };
        store.apply(change, by, now).await.unwrap()
    }

    async fn next_event(subscription: &mut Subscription) -> EventId {
        match tokio::time::timeout(Duration::from_secs(5), subscription.next()).await {
            Ok(Some(Frame::Event(event))) => event.id.clone(),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_behind_the_channel_rereads_from_the_store_without_loss_or_duplicates() {
        // Arrange: a channel of one, a subscriber that reads nothing yet.
        let dir = tempfile::TempDir::new().unwrap();
        let (hub, store) = hub_on_embedded(1, dir.path()).await;
        let mut subscription = hub.subscribe(None).await.unwrap();
        assert!(matches!(
            subscription.next().await,
            Some(Frame::Hello { .. })
        ));

        // Act: five events fanned out while it does not read.
        let mut recorded = Vec::new();
        for i in 0..5 {
            let event = record(&store, &format!("t{i}")).await;
            hub.publish(Broadcast::Event(Arc::new(event.clone())));
            recorded.push(event.id);
        }

        // Assert: all five, in order, then an old one fanned out again is
        // not repeated while a new one is delivered.
        for id in &recorded {
            assert_eq!(&next_event(&mut subscription).await, id);
        }
        let again = store.events_after(&EventId("0".into()), 1).await.unwrap();
        let EventsAfter::Events(again) = again else {
            panic!("retained")
        };
        hub.publish(Broadcast::Event(Arc::new(again[0].clone())));
        let newer = record(&store, "t5").await;
        hub.publish(Broadcast::Event(Arc::new(newer.clone())));
        assert_eq!(next_event(&mut subscription).await, newer.id);
        assert_eq!(hub.metrics.events_subscribers.get(), 1);
        drop(subscription);
        assert_eq!(hub.metrics.events_subscribers.get(), 0);
    }

    #[tokio::test]
    async fn streams_end_when_the_instance_starts_to_stop() {
        let dir = tempfile::TempDir::new().unwrap();
        let (hub, _store) = hub_on_embedded(8, dir.path()).await;
        let mut subscription = hub.subscribe(None).await.unwrap();
        assert!(matches!(
            subscription.next().await,
            Some(Frame::Hello { .. })
        ));
        hub.closing.cancel();
        assert_eq!(subscription.next().await, None);
    }

    #[test]
    fn ids_of_both_stores_are_ordered_numerically() {
        let id = |s: &str| EventId(s.into());
        assert!(is_after(&id("10"), &id("9")));
        assert!(!is_after(&id("9"), &id("9")));
        assert!(is_after(&id("1764331613000-2"), &id("1764331613000-1")));
        assert!(is_after(&id("1764331613001-0"), &id("1764331613000-9")));
        assert!(!is_after(&id("1764331613000-0"), &id("1764331613000-0")));
        // Never issued by a store: delivered, not silently dropped.
        assert!(is_after(&id("x"), &id("9")));
    }
}

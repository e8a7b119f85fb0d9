//! One subscriber's stream: catch up from the store after the id the
//! client last saw, then follow the hub's live events, without a gap or a
//! duplicate.
//!
//! The first page of a resume is read before the stream starts
//! ([`EventHub::open_stream`]), so that a bad cursor and a store that is
//! down are answered at once; the rest, and then the live events, are
//! written by a task that ends when the client goes away. The stream
//! subscribes to the hub before it reads anything, and drops what it
//! already sent by comparing ids ([`is_after`]), so catch-up and live
//! delivery can overlap. A subscriber that falls behind the broadcast (or
//! a hub that fell behind the log) catches up from the store again; one
//! that the log no longer covers is told to resync.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::hub::{EventHub, HubMessage, SharedEvent, event_frame, is_after, newest_event_id};
use super::slots::StreamSlot;
use crate::domain::{Event, EventId};
use crate::metrics::Metrics;
use crate::store::{RevocationStore, Store, StoreError};

/// Events read from the store per catch-up step.
const CATCH_UP_PAGE: usize = 500;

/// Frames buffered between the writer task and the socket.
const SOCKET_BUFFER: usize = 64;

/// What the client should wait before reconnecting, in milliseconds.
const RETRY_MS: u64 = 2_000;

/// Why a stream cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The cursor is not shaped like any event id.
    #[error("`Last-Event-ID` is not an event id")]
    NotAnEventId,
    /// The cursor is shaped like an id, but not one this store writes.
    #[error("`Last-Event-ID` is not an event id of this revokd")]
    NotOurs,
    #[error(transparent)]
    Store(StoreError),
}

impl EventHub {
    /// Opens one subscriber's stream of SSE frames: every event after
    /// `after`, then live ones; without `after`, a `hello` naming the
    /// newest id, then live ones. When the log no longer holds everything
    /// after `after`, the stream is one `resync` frame. A `: keepalive`
    /// comment every `heartbeat`. `slot` is held until the stream ends.
    ///
    /// # Errors
    /// The cursor is not an event id of this store, or the store failed.
    pub async fn open_stream(
        self: &Arc<Self>,
        after: Option<String>,
        slot: StreamSlot,
        heartbeat: Duration,
        metrics: Metrics,
    ) -> Result<mpsc::Receiver<Bytes>, SubscribeError> {
        let store = self.store().clone();
        // Subscribed before anything is read, so nothing falls in between.
        let live = self.subscribe();

        let mut first = Vec::new();
        let (last, caught_up) = match after {
            Some(id) => {
                let after = EventId(id);
                if after.order().is_none() {
                    return Err(SubscribeError::NotAnEventId);
                }
                match store.events_after(&after, CATCH_UP_PAGE).await {
                    Err(StoreError::InvalidCursor) => return Err(SubscribeError::NotOurs),
                    Err(err) => return Err(SubscribeError::Store(err)),
                    Ok(None) => {
                        first.push(resync_frame());
                        return Ok(finished(first));
                    }
                    Ok(Some(events)) => {
                        let full = events.len() == CATCH_UP_PAGE;
                        let last = events.last().map_or(after, |e| e.id.clone());
                        first.extend(events.iter().map(event_frame));
                        (last, !full)
                    }
                }
            }
            None => {
                let newest = newest_event_id(&store)
                    .await
                    .map_err(SubscribeError::Store)?
                    .unwrap_or_else(|| store.log_start());
                first.push(hello_frame(&newest));
                (newest, true)
            }
        };

        let (tx, rx) = mpsc::channel(SOCKET_BUFFER);
        let stream = Subscriber {
            store,
            live,
            tx,
            last,
            metrics,
            heartbeat,
            closing: self.closing(),
            _slot: slot,
        };
        tokio::spawn(stream.run(first, caught_up));
        Ok(rx)
    }
}

/// A channel that yields `frames` and ends.
fn finished(frames: Vec<Bytes>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(frames.len().max(1));
    for frame in frames {
        let _ = tx.try_send(frame);
    }
    rx
}

/// One open stream.
struct Subscriber {
    store: Store,
    live: broadcast::Receiver<HubMessage>,
    tx: mpsc::Sender<Bytes>,
    /// The last event sent (or the position the stream started from).
    last: EventId,
    metrics: Metrics,
    heartbeat: Duration,
    /// The instance is stopping: end the stream (the client reconnects
    /// with its last id, to this instance once it is back, or another).
    closing: CancellationToken,
    /// This stream's place under `events.max_streams(_per_key)`, freed
    /// when the stream ends.
    _slot: StreamSlot,
}

/// Why a stream ends.
enum End {
    ClientGone,
    Resync,
    StoreFailed(StoreError),
}

impl Subscriber {
    async fn run(mut self, first: Vec<Bytes>, caught_up: bool) {
        self.metrics.events_subscribers.inc();
        let end = self.serve(first, caught_up).await;
        self.metrics.events_subscribers.dec();
        match end {
            End::ClientGone => {}
            End::Resync => {
                tracing::info!(after = %self.last, "an event stream fell behind the audit log; told to resync")
            }
            // The client reconnects with Last-Event-ID and resumes.
            End::StoreFailed(err) => {
                tracing::warn!(error.cause_chain = ?err, "an event stream ended: the store failed")
            }
        }
    }

    async fn serve(&mut self, first: Vec<Bytes>, caught_up: bool) -> End {
        for frame in first {
            if let Err(end) = self.send(frame).await {
                return end;
            }
        }
        if !caught_up && let Err(end) = self.catch_up().await {
            return end;
        }
        let mut beat =
            tokio::time::interval_at(tokio::time::Instant::now() + self.heartbeat, self.heartbeat);
        loop {
            let outcome = tokio::select! {
                _ = beat.tick() => self.send(Bytes::from_static(b": keepalive\n\n")).await,
                () = self.tx.closed() => Err(End::ClientGone),
                () = self.closing.cancelled() => Err(End::ClientGone),
                message = self.live.recv() => match message {
                    Ok(HubMessage::Event(event)) => self.send_shared(&event).await,
                    Ok(HubMessage::Gap) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up().await
                    }
                    Err(broadcast::error::RecvError::Closed) => Err(End::ClientGone),
                },
            };
            if let Err(end) = outcome {
                return end;
            }
        }
    }

    /// Everything after `last` from the store, up to its newest event.
    async fn catch_up(&mut self) -> Result<(), End> {
        loop {
            match self.store.events_after(&self.last, CATCH_UP_PAGE).await {
                Err(err) => return Err(End::StoreFailed(err)),
                Ok(None) => {
                    let _ = self.tx.send(resync_frame()).await;
                    return Err(End::Resync);
                }
                Ok(Some(events)) => {
                    let full = events.len() == CATCH_UP_PAGE;
                    for event in &events {
                        self.send_event(event).await?;
                    }
                    if !full {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Sends a live event (serialised once by the hub) unless it was
    /// already sent: a reference-counted clone of its frame, no work per
    /// stream beyond the id comparison.
    async fn send_shared(&mut self, event: &SharedEvent) -> Result<(), End> {
        if !is_after(&event.id, &self.last) {
            return Ok(());
        }
        self.send(event.frame.clone()).await?;
        self.last = event.id.clone();
        self.metrics.events_sent.inc();
        Ok(())
    }

    /// Sends `event` (read from the store to catch up) unless it was
    /// already sent.
    async fn send_event(&mut self, event: &Event) -> Result<(), End> {
        if !is_after(&event.id, &self.last) {
            return Ok(());
        }
        self.send(event_frame(event)).await?;
        self.last = event.id.clone();
        self.metrics.events_sent.inc();
        Ok(())
    }

    async fn send(&self, frame: Bytes) -> Result<(), End> {
        self.tx.send(frame).await.map_err(|_| End::ClientGone)
    }
}

fn hello_frame(newest: &EventId) -> Bytes {
    let data = serde_json::json!({ "last_event_id": newest.0 });
    Bytes::from(format!("retry: {RETRY_MS}\nevent: hello\ndata: {data}\n\n"))
}

fn resync_frame() -> Bytes {
    Bytes::from_static(b"event: resync\ndata: {\"reason\":\"behind_retention\"}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_carries_the_checkpoint() {
        let hello = String::from_utf8(hello_frame(&EventId("7-0".into())).to_vec()).unwrap();
        assert!(
            hello.contains("event: hello\ndata: {\"last_event_id\":\"7-0\"}\n\n"),
            "{hello}"
        );
        assert!(
            !hello.contains("\nid:"),
            "hello must not move the client's Last-Event-ID"
        );
    }
}

//! `GET /v1/events`: revocation events as Server-Sent Events, resumable.
//!
//! The first page of a resume is read before the response starts, so that
//! a bad cursor is a 400 and a store that is down a 503; the rest, and then
//! the live events of [`crate::events::EventHub`], are written by a task
//! that ends when the client goes away.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::auth::ClientKey;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use super::state::AppState;
use crate::domain::{Event, EventId};
use crate::events::{
    HubMessage, SharedEvent, StreamSlot, beginning, event_frame, is_after, newest_event_id,
};
use crate::metrics::Metrics;
use crate::store::{RevocationStore, Store, StoreError};

/// Events read from the store per catch-up step.
const CATCH_UP_PAGE: usize = 500;

/// Frames buffered between the writer task and the socket.
const SOCKET_BUFFER: usize = 64;

/// What the client should wait before reconnecting, in milliseconds.
const RETRY_MS: u64 = 2_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (as `Last-Event-ID`; the header wins).
    /// An id revokd handed out, never made up: `400` otherwise; empty is
    /// the same as none.
    after: Option<String>,
}

/// One Server-Sent Event as a client's parser hands it over (the fields of
/// the HTML standard's event stream): the schema of each event of
/// `GET /v1/events`, for the OpenAPI document only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SseEvent {
    /// `revocation`, `hello` or `resync`.
    #[schema(example = "revocation")]
    event: Option<String>,
    /// The event's JSON: an audit event for `revocation`,
    /// `{"last_event_id": …}` for `hello`, nothing for `resync`.
    data: Option<String>,
    /// The event id, for `Last-Event-ID` (on `revocation` events).
    id: Option<String>,
    /// Milliseconds a client waits before reconnecting (on `hello`).
    retry: Option<u64>,
}

/// Revocation events, live, as Server-Sent Events.
///
/// Every change to the revocations (`token_revoked`, `session_revoked`,
/// `subject_disabled`, `subject_enabled`, `subject_revoked_before`) is sent
/// as `event: revocation` with its id and the event's JSON (the shape of
/// `GET /v1/admin/events` items) as `data`, oldest first.
///
/// - With `Last-Event-ID` (or `after`): every event after that id, then
///   live ones. When the audit log no longer holds all of them (it keeps
///   about `max_events`), an `event: resync` is sent and the stream ends:
///   read the live set again (`GET /v1/revocations`, every page) and
///   follow from its `as_of`.
/// - Without: `event: hello` with `{"last_event_id": …}` (the newest id, a
///   checkpoint; with an empty log, the id before the first event), then
///   live events.
/// - A `: keepalive` comment every `events.heartbeat`.
///
/// An instance serves at most `events.max_streams` streams, and one key at
/// most `events.max_streams_per_key` (429 beyond, 503 beyond the former).
#[utoipa::path(
    tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^[\\t\\x20-\\x7E]*$", description = "Resume after this event id: one revokd handed out (`400` otherwise); empty is the same as none")),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "The id is not an event id of this revokd", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 429, description = "This key has `events.max_streams_per_key` streams open; close one (`Retry-After`)", body = ErrorBody),
        (status = 503, description = "Store unavailable, or `events.max_streams` streams are open on this instance; retry (`Retry-After`)", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[get("/v1/events")]
pub async fn get_events(
    client: ClientKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: QueryParams<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::invalid("`Last-Event-ID` is not text"))
        })
        .transpose()?;
    let cursor = header.or(query.0.after).filter(|id| !id.is_empty());
    let slot = state.streams.open(&client.0.name).map_err(|full| {
        tracing::debug!(key = %client.0.name, "event stream refused: {full}");
        ApiError::TooManyStreams(full)
    })?;
    let store = state.revocations.store().clone();
    let hub = Arc::clone(&state.hub);
    // Subscribed before anything is read, so nothing falls in between.
    let live = hub.subscribe();

    let mut first = Vec::new();
    let (last, caught_up) = match cursor {
        Some(id) => {
            let after = EventId(id);
            if after.order().is_none() {
                return Err(ApiError::invalid("`Last-Event-ID` is not an event id"));
            }
            match store.events_after(&after, CATCH_UP_PAGE).await {
                Err(StoreError::InvalidCursor) => {
                    return Err(ApiError::invalid(
                        "`Last-Event-ID` is not an event id of this revokd",
                    ));
                }
                Err(err) => return Err(ApiError::reading(err)),
                Ok(None) => {
                    first.push(resync_frame());
                    return Ok(stream_response(finished(first)));
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
                .map_err(ApiError::reading)?
                .unwrap_or_else(|| beginning(&store));
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
        metrics: state.metrics.clone(),
        heartbeat: state.events_heartbeat,
        closing: hub.closing(),
        _slot: slot,
    };
    tokio::spawn(stream.run(first, caught_up));
    Ok(stream_response(rx))
}

fn stream_response(mut frames: mpsc::Receiver<Bytes>) -> HttpResponse {
    let body = futures_util::stream::poll_fn(move |cx| {
        frames
            .poll_recv(cx)
            .map(|frame| frame.map(Ok::<_, std::convert::Infallible>))
    });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-store"))
        // nginx: pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
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

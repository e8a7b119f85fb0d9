//! `GET /v1/events`: revocation events as Server-Sent Events, resumable.
//!
//! The handler reads the cursor and takes a stream slot;
//! [`crate::events::EventHub::open_stream`] reads the first page of a
//! resume before the response starts (so that a bad cursor is a 400 and a
//! store that is down a 503) and hands over the frames, which a task of
//! its own writes until the client goes away.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::auth::ClientKey;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use super::state::AppState;
use crate::events::SubscribeError;

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
    let frames = state
        .hub
        .open_stream(cursor, slot, state.events_heartbeat, state.metrics.clone())
        .await
        .map_err(|err| match err {
            SubscribeError::NotAnEventId | SubscribeError::NotOurs => ApiError::invalid(err),
            SubscribeError::Store(err) => ApiError::reading(err),
        })?;
    Ok(stream_response(frames))
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

//! `GET /v1/events` and `GET /v1/revocations`: how a consumer (the Home
//! Assistant integration first) learns every revocation. Read the live set
//! once, then follow the event stream from its `as_of`; after a `resync`,
//! do the same again.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::auth::ClientKey;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use super::sse;
use super::state::AppState;
use crate::domain::{Change, EventId, UnixTime};

/// Largest page of `GET /v1/revocations`.
pub const MAX_LIVE_PAGE: usize = 1000;
const DEFAULT_LIVE_PAGE: usize = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this event id (the `id` of the last event received, or
    /// a live-set `as_of`). The `Last-Event-ID` header wins when both are
    /// given.
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// The previous page's `next_cursor`; absent for the first page.
    pub cursor: Option<String>,
    /// Revocations per page, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// A page of the live revocation set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevocationsPage {
    /// Live token and session revocations, disabled subjects and
    /// revoked-before marks, shaped like the changes that made them.
    pub revocations: Vec<Change>,
    /// Pass as `cursor` for the next page; `null` after the last page.
    pub next_cursor: Option<String>,
    /// The newest event id when this page was read (an id that precedes
    /// every event when none was ever recorded). Stream `GET /v1/events`
    /// after the *first* page's `as_of` to miss nothing.
    pub as_of: EventId,
}

/// The id to resume after: `Last-Event-ID`, else `?after=`; an empty value
/// counts as absent (an EventSource with no id yet sends none).
fn resume_id(req: &HttpRequest, query: Option<String>) -> Result<Option<EventId>, ApiError> {
    let header = match req.headers().get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid("`Last-Event-ID` is not an event id of this store"))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    Ok(header
        .filter(|id| !id.is_empty())
        .or(query.filter(|id| !id.is_empty()))
        .map(EventId))
}

/// A Server-Sent Events stream of every revocation, in order.
///
/// Each revocation is a message `id: <event id>`, `event: revocation`,
/// `data: <the event as JSON on one line>` (the items of
/// `GET /v1/admin/events`), in increasing id order.
///
/// - **Resume** with the `Last-Event-ID` header (or `?after=`): everything
///   after that id, then live events. Without either, only live events,
///   preceded by `event: hello` with `data: {"last_event_id": "<id>"}` to
///   checkpoint.
/// - **Resync**: when the id is older than the retained audit log, the
///   only message is `event: resync` with
///   `data: {"reason":"behind_retention"}`, and the stream ends: read
///   `GET /v1/revocations` and resume from its `as_of`.
/// - **Heartbeat**: a comment `: keepalive` every `events.heartbeat`.
///
/// The stream also ends when the instance stops; reconnect with the last
/// id received.
#[utoipa::path(
    tag = "events",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id; wins over `after`"),
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "The id is not an event id of this store (malformed, or newer than any event)", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 503, description = "The store cannot be read: retry later", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[get("/v1/events")]
pub async fn get_events(
    _caller: ClientKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    params: QueryParams<StreamParams>,
) -> Result<HttpResponse, ApiError> {
    let after = resume_id(&req, params.0.after)?;
    let subscription = state.events.subscribe(after).await?;
    let body = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let frame = subscription.next().await?;
        Some((
            Ok::<_, std::convert::Infallible>(sse::encode(&frame)),
            subscription,
        ))
    });
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .streaming(body))
}

/// The live revocation set, a page at a time.
///
/// Read every page (following `next_cursor`), then stream
/// `GET /v1/events` after the first page's `as_of`: together they hold
/// every revocation, whatever happens in between.
#[utoipa::path(
    tag = "events",
    params(LiveParams),
    responses(
        (status = 200, description = "A page of live revocations", body = RevocationsPage),
        (status = 400, description = "`limit` out of range or a `cursor` this listing did not hand out", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 503, description = "The store cannot be read: retry later", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[get("/v1/revocations")]
pub async fn get_revocations(
    _caller: ClientKey,
    state: web::Data<AppState>,
    params: QueryParams<LiveParams>,
) -> Result<HttpResponse, ApiError> {
    let LiveParams { cursor, limit } = params.0;
    let limit = limit.unwrap_or(DEFAULT_LIVE_PAGE);
    if !(1..=MAX_LIVE_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIVE_PAGE}"
        )));
    }
    let (as_of, page) = state
        .revocations
        .live_page(cursor.as_deref(), limit, UnixTime::now())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(RevocationsPage {
            revocations: page.revocations,
            next_cursor: page.next,
            as_of,
        }))
}

//! `GET /v1/revocations`: the live revocations, paged — what a consumer of
//! `/v1/events` reads when it starts, or when the stream tells it to resync.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::auth::ClientKey;
use super::error::{ApiError, ErrorBody};
use super::extract::QueryParams;
use super::state::AppState;
use crate::domain::{Change, ChangeKind, ChangeKinds, UnixTime};
use crate::events::newest_event_id;
use crate::store::{RevocationStore, StoreError};

const DEFAULT_PAGE: usize = 500;
const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// The previous page's `next_cursor`; omit (or leave empty) for the
    /// first page. Never made up: `400` for a value this revokd did not
    /// hand out.
    cursor: Option<String>,
    /// Revocations per page, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only these kinds, comma-separated (default: all). An app that
    /// knows its own token ids can ask for
    /// `session_revoked,subject_disabled,subject_revoked_before` and check
    /// its ids one by one instead of reading every token revocation.
    #[param(
        example = "session_revoked,subject_disabled,subject_revoked_before",
        pattern = "^(token_revoked|session_revoked|subject_disabled|subject_enabled|subject_revoked_before)(,(token_revoked|session_revoked|subject_disabled|subject_enabled|subject_revoked_before))*$"
    )]
    kinds: Option<String>,
}

/// One page of the live set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LivePageBody {
    /// Live revocations, as the changes that record them (the `kind`s of
    /// the event stream, without `subject_enabled`).
    revocations: Vec<Change>,
    /// Pass as `cursor` for the next page; `null` after the last.
    next_cursor: Option<String>,
    /// The newest event id before this page was read (with an empty log,
    /// the id before the first event). Read every page, then follow
    /// `/v1/events` with the first page's `as_of` as `Last-Event-ID`:
    /// nothing is missed (replayed events are harmless).
    as_of: String,
}

/// The live revocations, paged.
///
/// Token and session revocations, disabled subjects and revoked-before
/// marks that are in force now; expired and lifted ones are not listed.
#[utoipa::path(
    tag = "events",
    params(LiveParams),
    responses(
        (status = 200, description = "A page", body = LivePageBody),
        (status = 400, description = "`limit` out of range, an unknown kind in `kinds`, or `cursor` not one of this revokd's", body = ErrorBody),
        (status = 401, description = "No or wrong client key", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry", body = ErrorBody),
    ),
    security(("client_key" = []))
)]
#[get("/v1/revocations")]
pub async fn get_revocations(
    _client: ClientKey,
    state: web::Data<AppState>,
    params: QueryParams<LiveParams>,
) -> Result<HttpResponse, ApiError> {
    let LiveParams {
        cursor,
        limit,
        kinds,
    } = params.0;
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "`limit` must be between 1 and {MAX_PAGE}"
        )));
    }
    let kinds = match kinds {
        None => ChangeKinds::ALL,
        Some(text) => text.parse::<ChangeKinds>().map_err(|unknown| {
            ApiError::invalid(format!(
                "`kinds`: {unknown}; a comma-separated list of {}",
                ChangeKind::ALL.map(ChangeKind::as_str).join(", ")
            ))
        })?,
    };
    let store = state.revocations.store();
    let as_of = newest_event_id(store)
        .await
        .map_err(ApiError::reading)?
        .unwrap_or_else(|| store.log_start());
    let cursor = cursor.filter(|c| !c.is_empty());
    let page = match store
        .live_page(cursor.as_deref(), limit, kinds, UnixTime::now())
        .await
    {
        Err(StoreError::InvalidCursor) => {
            return Err(ApiError::invalid("`cursor` is not a cursor of this revokd"));
        }
        other => other.map_err(ApiError::reading)?,
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(LivePageBody {
            revocations: page.revocations,
            next_cursor: page.next,
            as_of: as_of.0,
        }))
}

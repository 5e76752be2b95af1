//! The event feed's routes: `GET /api/v1/events` (admin) and `GET /api/v1/bookings/{id}/events` (the
//! booking's owner, or an admin). See `crate::feed`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use infra::auth::Principal;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::access;
use crate::error::{ApiError, Result};
use crate::feed::params::{FeedParams, Start, parse};
use crate::feed::stream::{FeedEvent, stream};
use crate::state::AppState;

/// When the token that opened a stream stops being accepted (its `exp` and the leeway): the stream ends
/// then, since what let it in has ended. Behind the gateway that is the client's own token's end (the
/// gateway forwards its word with the same expiry, and ends its side sooner if the session ends).
fn token_end(state: &AppState, headers: &HeaderMap) -> Option<u64> {
    let token = infra::auth::bearer_token(headers)?;
    let claims = state.verifier.verify(token).ok()?;
    Some(claims.exp + infra::auth::LEEWAY_SECS + 1)
}

/// The feed routes.
pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![events; booking_events]
}

const STREAM: &str = "A `text/event-stream`: per event `id:` (its position), `event:` \
    (`<aggregate_type>.<event_type>`) and `data:` (a FeedEvent as JSON); `:` comment lines as heartbeats.";

/// Follow the event log (admin): every committed event in commit order, live. Resume with
/// `Last-Event-ID` or `?after=`; `?from=start` replays the log; filter by aggregate and type.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    params(FeedParams, ("Last-Event-ID" = Option<String>, Header, description = "the last event's id; the stream continues after it")),
    responses((status = 200, description = STREAM, content_type = "text/event-stream", body = FeedEvent),
        (status = 400, description = "`invalid_query`", body = infra::problem::Problem),
        (status = 401, body = infra::problem::Problem),
        (status = 403, description = "`forbidden`: admins only", body = infra::problem::Problem)))]
async fn events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    principal.require_admin().map_err(ApiError::Problem)?;
    let (start, filter) = parse(query.as_deref(), &headers, Start::End)?;
    let until = token_end(&state, &headers);
    stream(state, start, filter, until).await
}

/// Follow one booking's events: its story from the start (by default), then live. Its owner or an admin.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/events", tag = "events", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Last-Event-ID" = Option<String>, Header, description = "the last event's id; the stream continues after it")),
    responses((status = 200, description = STREAM, content_type = "text/event-stream", body = FeedEvent),
        (status = 400, description = "`invalid_query`", body = infra::problem::Problem),
        (status = 401, body = infra::problem::Problem),
        (status = 404, description = "`booking_not_found` (also someone else's)", body = infra::problem::Problem)))]
async fn booking_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    access::visible(&principal, access::owner(&state.pool, id).await?)?;
    let (start, mut filter) = parse(query.as_deref(), &headers, Start::Beginning)?;
    if filter.aggregate_type.is_some() || filter.aggregate_id.is_some() {
        return Err(ApiError::bad_query(
            "this stream is one booking's; aggregate filters are for /api/v1/events",
        ));
    }
    filter.aggregate_type = Some("booking".to_owned());
    filter.aggregate_id = Some(id.to_string());
    let until = token_end(&state, &headers);
    stream(state, start, filter, until).await
}

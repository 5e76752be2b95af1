//! The event feed: the log as server-sent events, in commit order. `GET /api/v1/events` (admin) and
//! `GET /api/v1/bookings/{id}/events` (the booking's owner, or an admin).
//!
//! Each event's `id:` is its position (`<tx_id>-<global_position>`); a client hands the last one back
//! as `Last-Event-ID` (or `?after=`) and the stream goes on right after it, with no gap and no duplicate,
//! across reconnects and restarts: the position is all the state there is. Reads use the same horizon as
//! every subscription (only transactions older than every one still running), so an event that commits
//! late is never skipped. A stream waits for the `events` insert notification (one listener per process
//! wakes every stream), or polls when the listener is down. Each stream reads a batch at a time into a
//! bounded buffer; a client that stops reading is disconnected by the server's write timeout, and holds
//! at most that buffer until then.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::event_log::{
    COMMIT_ORDER, EVENTS_CHANNEL, Position, SELECT_COLUMNS, StoredEvent, topic_matches,
};
use infra::supervisor::Heartbeat;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, Result};
use crate::state::AppState;

/// How streams read and wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FeedSettings {
    /// Events read per query.
    pub batch_size: i64,
    /// Events a stream holds for a client that is behind (then it waits for the client).
    pub buffer_events: usize,
    /// A comment line this often keeps idle connections (and the proxies on the way) open.
    pub heartbeat_secs: u64,
    /// How often a stream looks for new events when no notification woke it.
    pub poll_ms: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            batch_size: 256,
            buffer_events: 256,
            heartbeat_secs: 15,
            poll_ms: 1000,
        }
    }
}

/// The process-wide wake-up: bumped on every `events` insert notification.
#[derive(Debug)]
pub struct Hub {
    wake: watch::Sender<u64>,
    settings: FeedSettings,
}

impl Hub {
    /// A hub with these settings.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            wake: watch::Sender::new(0),
            settings,
        }
    }

    /// Listens for appended events until stopped (a supervised worker); streams poll while it is down.
    ///
    /// # Errors
    /// When the connection fails; the supervisor starts it again.
    pub async fn listen(
        &self,
        pool: &PgPool,
        beat: Heartbeat,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        beat.beat();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return Ok(());
                    }
                }
                _ = tick.tick() => beat.beat(),
                received = listener.try_recv() => match received? {
                    Some(_) => {
                        self.wake.send_modify(|n| *n = n.wrapping_add(1));
                        beat.beat();
                    }
                    None => anyhow::bail!("the notification connection was lost"),
                },
            }
        }
    }
}

/// Which events a stream carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    /// Routing-key patterns (`booking.*`, `flight.SeatsHeld`, `#`); empty: every type.
    types: Vec<String>,
}

impl Filter {
    fn accepts(&self, e: &StoredEvent) -> bool {
        self.types.is_empty() || {
            let key = e.routing_key();
            self.types.iter().any(|p| topic_matches(p, &key))
        }
    }
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Right after this position.
    After(Position),
    /// The beginning of the log.
    Beginning,
    /// The live end: events committed from now on.
    End,
}

/// The feed's query parameters (documentation; they are read from the raw query, `type` repeats).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by utoipa only.
struct FeedParams {
    /// Continue right after this position (an event's `id`); `Last-Event-ID` takes precedence.
    #[param(pattern = "^[0-9]{1,19}-[0-9]{1,19}$", example = "7421-1830")]
    after: Option<String>,
    /// `start` replays the log from its beginning; `end` (the default of `/events`) starts at the live end.
    #[param(inline)]
    from: Option<FromWhere>,
    /// Only this aggregate type (`flight`, `booking`, `airport`, `aircraft`).
    #[param(pattern = "^[a-z_]{1,32}$")]
    aggregate_type: Option<String>,
    /// Only this aggregate (with `aggregate_type`).
    #[param(max_length = 128)]
    aggregate_id: Option<String>,
    /// Only these types, `<aggregate>.<EventType>` patterns (`*` one word, `#` any); repeatable.
    #[param(
        rename = "type",
        pattern = "^[A-Za-z0-9_*#]+(\\.[A-Za-z0-9_*#]+)*$",
        max_length = 100
    )]
    r#type: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Read by utoipa only.
enum FromWhere {
    Start,
    End,
}

/// The `data:` of each event in the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedEvent {
    /// Its position in commit order (also the SSE `id`).
    pub position: String,
    /// Event id.
    pub event_id: Uuid,
    /// `flight`, `booking`, ...
    pub aggregate_type: String,
    /// The aggregate.
    pub aggregate_id: String,
    /// The aggregate's version after this event.
    pub sequence: i64,
    /// The event type (`BookingConfirmed`); the SSE `event` is `<aggregate_type>.<event_type>`.
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: String,
    /// The event.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Who and why: `user_id`, `role`, `correlation_id`, `causation_id`, `command`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// When it was appended.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl From<StoredEvent> for FeedEvent {
    fn from(e: StoredEvent) -> Self {
        Self {
            position: e.position().to_string(),
            event_id: e.event_id,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
        }
    }
}

/// The feed routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(booking_events))
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
    stream(state, start, filter).await
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
    crate::routes::bookings::visible(
        &principal,
        crate::routes::bookings::owner(&state.pool, id).await?,
    )?;
    let (start, mut filter) = parse(query.as_deref(), &headers, Start::Beginning)?;
    if filter.aggregate_type.is_some() || filter.aggregate_id.is_some() {
        return Err(ApiError::bad_query(
            "this stream is one booking's; aggregate filters are for /api/v1/events",
        ));
    }
    filter.aggregate_type = Some("booking".to_owned());
    filter.aggregate_id = Some(id.to_string());
    stream(state, start, filter).await
}

fn parse(query: Option<&str>, headers: &HeaderMap, default: Start) -> Result<(Start, Filter)> {
    let mut filter = Filter::default();
    let mut after = None;
    let mut from = None;
    let once = |slot: &Option<String>, key: &str| {
        if slot.is_some() {
            Err(ApiError::bad_query(format!("`{key}` is given twice")))
        } else {
            Ok(())
        }
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "after" => {
                once(&after, "after")?;
                after = Some(value);
            }
            "from" => {
                once(&from, "from")?;
                from = Some(value);
            }
            "aggregate_type" => {
                once(&filter.aggregate_type, "aggregate_type")?;
                if value.is_empty()
                    || value.len() > 32
                    || !value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    return Err(ApiError::bad_query(
                        "`aggregate_type` is a lower-case name such as `booking`",
                    ));
                }
                filter.aggregate_type = Some(value);
            }
            "aggregate_id" => {
                once(&filter.aggregate_id, "aggregate_id")?;
                if value.is_empty() || value.len() > 128 {
                    return Err(ApiError::bad_query("`aggregate_id` is 1 to 128 characters"));
                }
                filter.aggregate_id = Some(value);
            }
            "type" => {
                let word = |w: &str| {
                    !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'*' | b'#'))
                };
                if value.len() > 100 || !value.split('.').all(word) || filter.types.len() >= 20 {
                    return Err(ApiError::bad_query(
                        "`type` is up to 20 patterns such as `booking.*` or `flight.SeatsHeld`",
                    ));
                }
                filter.types.push(value);
            }
            other => {
                return Err(ApiError::bad_query(format!(
                    "unknown parameter `{other}`; the feed takes after, from, aggregate_type, aggregate_id and type"
                )));
            }
        }
    }
    if filter.aggregate_id.is_some() && filter.aggregate_type.is_none() {
        return Err(ApiError::bad_query("`aggregate_id` needs `aggregate_type`"));
    }
    let position = |raw: &str| {
        raw.parse::<Position>()
            .map_err(|e| ApiError::bad_query(format!("`{raw}` is not an event id: {e}")))
    };
    // An empty `Last-Event-ID` is none (a browser sends it before the first id).
    let resume = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_owned())
        .filter(|v| !v.is_empty());
    let start = match (resume, after, from.as_deref()) {
        (Some(id), _, _) => Start::After(position(&id)?),
        (None, Some(_), Some(_)) => {
            return Err(ApiError::bad_query("give `after` or `from`, not both"));
        }
        (None, Some(raw), None) => Start::After(position(&raw)?),
        (None, None, Some("start")) => Start::Beginning,
        (None, None, Some("end")) => Start::End,
        (None, None, Some(_)) => return Err(ApiError::bad_query("`from` is `start` or `end`")),
        (None, None, None) => default,
    };
    Ok((start, filter))
}

/// The last position under the horizon: the live end.
async fn live_end(pool: &PgPool) -> std::result::Result<Position, sqlx::Error> {
    let end: Option<Position> = sqlx::query_as(
        "SELECT tx_id::text::bigint AS tx_id, global_position FROM events \
         WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(end.unwrap_or_default())
}

/// Up to `limit` committed events after `after` that pass the aggregate filters, in commit order.
async fn read(
    pool: &PgPool,
    after: Position,
    filter: &Filter,
    limit: i64,
) -> std::result::Result<Vec<StoredEvent>, sqlx::Error> {
    // One statement per shape, so each keeps a plan that fits it: one aggregate's events come from the
    // primary key, not from a walk of the commit-order index.
    let only = match (&filter.aggregate_type, &filter.aggregate_id) {
        (Some(_), Some(_)) => "AND aggregate_type = $4 AND aggregate_id = $5",
        (Some(_), None) => "AND aggregate_type = $4",
        _ => "",
    };
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events \
         WHERE (tx_id, global_position) > ($1::bigint::text::xid8, $2) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) {only} \
         ORDER BY {COMMIT_ORDER} LIMIT $3"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(after.tx_id)
        .bind(after.global_position)
        .bind(limit);
    if let Some(kind) = &filter.aggregate_type {
        query = query.bind(kind.as_str());
        if let Some(id) = &filter.aggregate_id {
            query = query.bind(id.as_str());
        }
    }
    query.fetch_all(pool).await
}

async fn stream(state: AppState, start: Start, filter: Filter) -> Result<Response> {
    let from = match start {
        Start::After(p) => p,
        Start::Beginning => Position::default(),
        Start::End => live_end(&state.pool).await?,
    };
    let settings = state.feed.settings.clone();
    let (tx, rx) = mpsc::channel::<Event>(settings.buffer_events.max(1));
    tokio::spawn(follow(state, from, filter, tx));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    let sse = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(settings.heartbeat_secs.max(1))));
    let mut response = sse.into_response();
    // Proxies that buffer (nginx) pass this stream through as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Counts the open streams.
struct Client;

impl Client {
    fn open() -> Self {
        metrics::gauge!("feed_clients").increment(1.0);
        Self
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        metrics::gauge!("feed_clients").decrement(1.0);
    }
}

/// Reads the log after `at` into `tx` until the client goes, the server stops, or a read fails (the
/// client then reconnects with its last id). `tx` is bounded: a client that is behind holds this loop,
/// not memory.
async fn follow(state: AppState, mut at: Position, filter: Filter, tx: mpsc::Sender<Event>) {
    let _client = Client::open();
    let settings = &state.feed.settings;
    let mut wake = state.feed.wake.subscribe();
    let mut stopping = state.stopping.clone();
    let poll = Duration::from_millis(settings.poll_ms.max(10));
    // After a wake-up or a batch, look again soon and then less and less often: an event can be
    // committed but still under the horizon (an older transaction, maybe one that writes no events, is
    // still open), and no notification says when that transaction ends.
    let eager = Duration::from_millis(10).min(poll);
    let mut wait = poll;
    // The start position goes out first, as an id without data (which sets a client's last event id
    // without an event): a client that reconnects before any event arrives resumes from here, not from a
    // later live end, and misses nothing.
    if tx
        .send(Event::default().id(at.to_string()).comment("start"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        wake.borrow_and_update();
        let batch = match read(&state.pool, at, &filter, settings.batch_size.max(1)).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error.message = %e, "reading the feed failed; the stream ends");
                return;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = wake.changed() => wait = eager,
                () = tokio::time::sleep(wait) => wait = (wait * 2).min(poll),
                _ = stopping.changed() => {}
                () = tx.closed() => return,
            }
            continue;
        }
        wait = eager;
        let mut unsent = false;
        for e in batch {
            at = e.position();
            if !filter.accepts(&e) {
                unsent = true;
                continue;
            }
            unsent = false;
            let name = e.routing_key();
            let frame = match Event::default()
                .id(at.to_string())
                .event(name)
                .json_data(FeedEvent::from(e))
            {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::error!(error.message = %e, "an event did not serialize; the stream ends");
                    return;
                }
            };
            tokio::select! {
                sent = tx.send(frame) => if sent.is_err() {
                    return;
                },
                _ = stopping.changed() => return,
            }
            metrics::counter!("feed_events_sent_total").increment(1);
        }
        // Events the type filter passed over still move the client's position, so a reconnect does not
        // read them again.
        if unsent
            && tx
                .send(Event::default().id(at.to_string()).comment("skipped"))
                .await
                .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(last: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = last {
            h.insert("last-event-id", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_start_and_the_filters_are_read_and_bad_ones_refused() {
        let (start, filter) = parse(
            Some("type=booking.*&type=flight.SeatsHeld&aggregate_type=booking&aggregate_id=b1"),
            &headers(None),
            Start::End,
        )
        .unwrap();
        assert_eq!(start, Start::End);
        assert_eq!(filter.types, ["booking.*", "flight.SeatsHeld"]);
        assert_eq!(filter.aggregate_id.as_deref(), Some("b1"));
        let at = Position {
            tx_id: 12,
            global_position: 34,
        };
        assert_eq!(
            parse(Some("after=12-34"), &headers(None), Start::End)
                .unwrap()
                .0,
            Start::After(at)
        );
        // The header wins over the query (a reconnecting EventSource keeps its URL).
        assert_eq!(
            parse(Some("from=start"), &headers(Some("12-34")), Start::End)
                .unwrap()
                .0,
            Start::After(at)
        );
        assert_eq!(
            parse(Some("from=start"), &headers(None), Start::End)
                .unwrap()
                .0,
            Start::Beginning
        );
        for bad in [
            "after=12",
            "after=-1-2",
            "after=1-2-3",
            "after=99999999999999999999-1",
            "after=1-2&from=start",
            "from=middle",
            "type=booking..x",
            "type=booking.$",
            "aggregate_id=x",
            "aggregate_type=Booking",
            "limit=5",
            "after=1-1&after=2-2",
        ] {
            assert!(
                parse(Some(bad), &headers(None), Start::End).is_err(),
                "{bad} was taken"
            );
        }
        assert!(parse(None, &headers(Some("garbage")), Start::End).is_err());
        assert_eq!(
            parse(None, &headers(Some("")), Start::End).unwrap().0,
            Start::End
        );
    }
}

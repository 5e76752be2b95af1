//! One client's stream: a task reads the log after its position into a bounded buffer, which the SSE
//! response drains. It ends when the client goes, the server stops, or a read fails.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use infra::amqp::EventMessage;
use infra::event_log::{Position, StoredEvent};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::params::{Filter, Start};
use super::read;
use crate::error::Result;
use crate::state::AppState;

/// The `data:` of each event in the feed: the event as it travels on the broker, with its position.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedEvent {
    /// Its position in commit order (also the SSE `id`).
    pub position: String,
    /// The event, as on the broker (`event_type`: the SSE `event` is `<aggregate_type>.<event_type>`).
    #[serde(flatten)]
    pub event: EventMessage,
}

impl From<StoredEvent> for FeedEvent {
    fn from(e: StoredEvent) -> Self {
        Self {
            position: e.position().to_string(),
            event: EventMessage::from(e),
        }
    }
}

/// The SSE response of a stream from `start` that carries what `filter` passes, ending at Unix second
/// `until` (when the token that opened it expires).
///
/// # Errors
/// When the live end cannot be read.
pub async fn stream(
    state: AppState,
    start: Start,
    filter: Filter,
    until: Option<u64>,
) -> Result<Response> {
    let from = match start {
        Start::After(p) => p,
        Start::Beginning => Position::default(),
        Start::End => read::live_end(&state.pool).await?,
    };
    let settings = state.feed.settings().clone();
    let (tx, rx) = mpsc::channel::<Event>(settings.buffer_events.max(1));
    tokio::spawn(follow(state, from, filter, tx));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    let left = until.map(|u| Duration::from_secs(u.saturating_sub(now)));
    let ends = async move {
        match left {
            Some(left) => tokio::time::sleep(left).await,
            None => std::future::pending().await,
        }
        metrics::counter!("feed_streams_ended_total", "reason" => "token").increment(1);
    };
    let events = futures::StreamExt::take_until(events, Box::pin(ends));
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
    let settings = state.feed.settings();
    let mut wake = state.feed.subscribe();
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
        let batch = match read::read(&state.pool, at, &filter, settings.batch_size.max(1)).await {
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

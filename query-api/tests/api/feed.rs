//! The event feed: commit order under concurrent writers and a late commit, resuming exactly after an
//! id (also on another server), filters, who may follow what, and a reader that stops reading.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use infra::auth::Role;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

/// An open event stream.
struct Feed {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    /// The last `id:` seen, from an event or an id-only block (the stream's start position).
    last_id: Option<String>,
}

impl Feed {
    async fn open(app: &TestApp, base: &str, path: &str, token: &str, last: Option<&str>) -> Self {
        let mut request = app.client.get(format!("{base}{path}")).bearer_auth(token);
        if let Some(id) = last {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
            last_id: None,
        }
    }

    /// The next event within `within`, skipping heartbeats; `None` when none came.
    async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if !id.is_empty() {
                    self.last_id = Some(id.clone());
                }
                if data.is_empty() {
                    continue; // a heartbeat, or a position without an event
                }
                return Some(Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Sse> {
        let mut got = Vec::new();
        while got.len() < n {
            // The horizon is cluster-wide: other tests' transactions can hold events back a while.
            let next = self.next(Duration::from_secs(20)).await;
            got.push(next.unwrap_or_else(|| panic!("only {} of {n} events came", got.len())));
        }
        got
    }
}

async fn append(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    kind: &str,
) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ($1, $2, $3, $4, '1.0', '{\"n\": 1}', '{\"user_id\": null, \"role\": \"system\"}')",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(kind)
    .execute(pool)
    .await
    .unwrap();
}

/// Every event of this test's database as the feed must order them: commit order.
async fn log_order(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tx_id::text || '-' || global_position FROM events ORDER BY tx_id, global_position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_feed_is_in_commit_order_and_waits_for_a_transaction_that_commits_late() {
    let app = spawn_app().await;
    let pool = &app.db.pool;
    let mut feed = Feed::open(&app, &app.query, "/api/v1/events", &app.admin, None).await;

    // A transaction takes its id (and its place in commit order) first and commits last.
    let mut late = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('booking', 'late', 1, 'Late', '1.0', '{}', '{}')",
    )
    .execute(&mut *late)
    .await
    .unwrap();
    // Meanwhile four writers commit 25 events each.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for n in 1..=25 {
                    append(&pool, "flight", &format!("w{w}"), n, "Written").await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Nothing passes the open transaction: what committed after it waits for it.
    assert!(
        feed.next(Duration::from_millis(700)).await.is_none(),
        "an event was sent before an earlier transaction committed"
    );
    late.commit().await.unwrap();
    let got = feed.take(101).await;
    let ids: Vec<String> = got.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        ids,
        log_order(pool).await,
        "the feed's order is the commit order"
    );
    assert_eq!(got[0].data["aggregate_id"], "late");
    assert_eq!(got[0].event, "booking.Late");
    assert_eq!(got[1].event, "flight.Written");
    let first = &got[1].data;
    assert_eq!(first["aggregate_type"], "flight");
    assert_eq!(first["event_type"], "Written");
    assert_eq!(first["position"], got[1].id);
    assert_eq!(first["metadata"]["role"], "system");
    assert!(first["recorded_at"].is_string() && first["sequence"].is_i64());
    assert!(
        feed.next(Duration::from_millis(300)).await.is_none(),
        "a duplicate"
    );
}

#[tokio::test]
async fn resuming_after_an_event_gives_the_next_one_onward_also_on_a_restarted_server() {
    let app = spawn_app().await;
    let pool = &app.db.pool;
    for n in 1..=10 {
        append(pool, "flight", "f1", n, "SeatsHeld").await;
        append(pool, "booking", "b1", n, "BookingPlaced").await;
        append(pool, "booking", "b2", n, "BookingConfirmed").await;
    }
    let all = log_order(pool).await;
    assert_eq!(all.len(), 30);
    let mut feed = Feed::open(
        &app,
        &app.query,
        "/api/v1/events?from=start",
        &app.admin,
        None,
    )
    .await;
    let first = feed.take(10).await;
    drop(feed);
    // Reconnect with the tenth id: the eleventh onward, no gap, no duplicate.
    let mut feed = Feed::open(
        &app,
        &app.query,
        "/api/v1/events",
        &app.admin,
        Some(&first[9].id),
    )
    .await;
    let next = feed.take(10).await;
    drop(feed);
    let ids: Vec<String> = first.iter().chain(&next).map(|e| e.id.clone()).collect();
    assert_eq!(ids, all[..20]);
    // Another server (a restart): the position is all the state there is.
    let restarted = app.another_query().await;
    let path = format!("/api/v1/events?after={}", next[9].id);
    let mut feed = Feed::open(&app, &restarted, &path, &app.admin, None).await;
    let rest: Vec<String> = feed.take(10).await.into_iter().map(|e| e.id).collect();
    assert_eq!(rest, all[20..]);
    assert!(feed.next(Duration::from_millis(300)).await.is_none());
    // The same by the header, as a browser's reconnect sends it.
    let mut feed = Feed::open(
        &app,
        &restarted,
        "/api/v1/events",
        &app.admin,
        Some(&next[9].id),
    )
    .await;
    let rest: Vec<String> = feed.take(10).await.into_iter().map(|e| e.id).collect();
    assert_eq!(rest, all[20..]);

    // A filtered stream resumes after the last position it passed, matched or not.
    let path = "/api/v1/events?type=booking.BookingConfirmed";
    let start = format!("{path}&from=start");
    let mut feed = Feed::open(&app, &app.query, &start, &app.admin, None).await;
    let got = feed.take(5).await;
    let resume = feed.last_id.clone().expect("a position");
    drop(feed);
    let mut feed = Feed::open(&app, &restarted, path, &app.admin, Some(&resume)).await;
    let got: Vec<i64> = got
        .iter()
        .chain(&feed.take(5).await)
        .map(|e| e.data["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    assert!(feed.next(Duration::from_millis(300)).await.is_none());

    // Filters: by type pattern (repeatable), by aggregate.
    let path = "/api/v1/events?from=start&type=flight.*&type=booking.BookingConfirmed";
    let mut feed = Feed::open(&app, &app.query, path, &app.admin, None).await;
    let got = feed.take(20).await;
    assert!(
        got.iter()
            .all(|e| e.event == "flight.SeatsHeld" || e.event == "booking.BookingConfirmed")
    );
    assert!(feed.next(Duration::from_millis(300)).await.is_none());
    let path = "/api/v1/events?from=start&aggregate_type=booking&aggregate_id=b1";
    let mut feed = Feed::open(&app, &app.query, path, &app.admin, None).await;
    let got = feed.take(10).await;
    assert!(got.iter().all(|e| e.data["aggregate_id"] == "b1"));
    let sequences: Vec<i64> = got
        .iter()
        .map(|e| e.data["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=10).collect::<Vec<_>>());
    assert!(feed.next(Duration::from_millis(300)).await.is_none());

    // From the live end (the default): only what is appended after.
    let mut feed = Feed::open(&app, &app.query, "/api/v1/events", &app.admin, None).await;
    append(pool, "flight", "f1", 11, "SeatsReleased").await;
    let got = feed.take(1).await;
    assert_eq!(got[0].event, "flight.SeatsReleased");
    // A client that drops before any event came still resumes where it started: the stream's first
    // block carries its start position as an id.
    let mut feed = Feed::open(&app, &app.query, "/api/v1/events", &app.admin, None).await;
    assert!(feed.next(Duration::from_millis(500)).await.is_none());
    let start = feed.last_id.clone().expect("the start position");
    drop(feed);
    append(pool, "flight", "f1", 12, "SeatsReleased").await;
    let mut feed = Feed::open(&app, &app.query, "/api/v1/events", &app.admin, Some(&start)).await;
    let got = feed.take(1).await;
    assert_eq!(
        got[0].data["sequence"], 12,
        "the event committed while away"
    );

    // Bad positions and parameters are 400 problems.
    for path in [
        "/api/v1/events?after=nope",
        "/api/v1/events?from=middle",
        "/api/v1/events?type=booking..x",
        "/api/v1/events?limit=3",
    ] {
        let (status, body) = app.get(path, Some(&app.admin)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_query", "{path}: {body}");
    }
}

#[tokio::test]
async fn customers_follow_only_their_own_bookings() {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + chrono::Duration::days(9),
            (50_000, 20_000),
            aircraft,
        )
        .await;
    let booking = app.book(&app.customer, flight, &["10A"]).await;
    let id = booking["id"].as_str().unwrap();

    let (status, body) = app.get("/api/v1/events", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.get("/api/v1/events", Some(&app.customer)).await;
    assert_eq!(
        (status.as_u16(), &body["code"]),
        (403, &Value::from("forbidden"))
    );

    // The owner gets the booking's story from its start, then what happens to it live.
    let path = format!("/api/v1/bookings/{id}/events");
    let mut feed = Feed::open(&app, &app.query, &path, &app.customer, None).await;
    let placed = feed.take(1).await;
    assert_eq!(placed[0].event, "booking.BookingPlaced");
    assert_eq!(placed[0].data["aggregate_id"], id);
    app.pay(&app.customer, &booking).await;
    let paid = feed.next(Duration::from_secs(20)).await.unwrap();
    assert_eq!(paid.data["aggregate_id"], id);
    assert!(paid.event.starts_with("booking."), "{paid:?}");

    // Someone else's booking does not exist for them; an admin may follow any.
    let other = app.token(Uuid::new_v4(), Role::Customer);
    let (status, body) = app.get(&path, Some(&other)).await;
    assert_eq!(
        (status.as_u16(), &body["code"]),
        (404, &Value::from("booking_not_found"))
    );
    let mut feed = Feed::open(&app, &app.query, &path, &app.admin, None).await;
    assert_eq!(feed.take(1).await[0].event, "booking.BookingPlaced");
    let (status, _) = app
        .get(
            &format!("/api/v1/bookings/{}/events", Uuid::new_v4()),
            Some(&app.admin),
        )
        .await;
    assert_eq!(status, 404);
}

/// The server's count of connections it closed because the client stopped reading.
async fn write_timeouts(app: &TestApp, base: &str) -> u64 {
    let text = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("http_write_timeouts_total "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_and_holds_only_a_bounded_buffer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let pool = &app.db.pool;
    // 4,000 events of 4 KiB: 16 MiB, far more than socket buffers and the stream's buffer hold.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'flight', 'big', n, 'Padded', '1.0', jsonb_build_object('pad', repeat('x', 4096)), '{}' \
         FROM generate_series(1, 4000) AS n",
    )
    .execute(pool)
    .await
    .unwrap();
    let base = app.query_writing_within(1000).await;
    let before = write_timeouts(&app, &base).await;
    let host = base.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /api/v1/events?from=start HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\r\n",
        app.admin
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0_u8; 512];
    let n = stream.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    // Then it stops reading. Within a few seconds the server gives up on it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while write_timeouts(&app, &base).await <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled client was never cut"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What reached it before the cut is what the buffers on the way held, not the log: the rest was
    // never read from the database for it.
    let mut total = n;
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(k)) => total += k,
            Err(_) => panic!("the connection stayed open after the cut"),
        }
    }
    assert!(
        total < 16 * 1024 * 1024 / 2,
        "{total} bytes reached a client that had stopped reading"
    );
}

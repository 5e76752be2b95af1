//! The cache after a Redis fault: flushed, or back from an older snapshot, it may miss but never serve a
//! seat map or a search page older than one already served.

use chrono::{Duration, Utc};
use redis::AsyncCommands;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// Every key of this test (its own prefix), as `(key, DUMP bytes)`.
async fn snapshot(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> Vec<(String, Vec<u8>)> {
    let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
    let mut out = Vec::new();
    for key in keys {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(redis)
            .await
            .unwrap();
        out.push((key, dump));
    }
    out
}

/// Deletes every key of this test (never the rest of the server's).
async fn flush(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis.del(keys).await.unwrap();
    }
}

async fn restore(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    dumps: &[(String, Vec<u8>)],
) {
    flush(redis, prefix).await;
    for (key, dump) in dumps {
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(dump.as_slice())
            .arg("REPLACE")
            .query_async(redis)
            .await
            .unwrap();
    }
}

fn held(map: &Value) -> usize {
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "held")
        .count()
}

async fn reads(app: &TestApp, flight: uuid::Uuid) -> (i64, usize, i64) {
    let (_, map) = app
        .get(&format!("/api/v1/flights/{flight}/seats"), None)
        .await;
    let (_, page) = app.get("/api/v1/flights?destination=JFK", None).await;
    let seats_left = page["flights"][0]["seats_left"].as_i64().unwrap();
    (map["version"].as_i64().unwrap(), held(&map), seats_left)
}

#[tokio::test]
async fn reads_never_go_back_after_redis_is_flushed_or_restored_from_an_older_snapshot() {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(5),
            (1000, 100),
            aircraft,
        )
        .await;
    let client = redis::Client::open(app.redis.url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = app.redis.key_prefix.clone();

    app.book(&app.customer, flight, &["10A"]).await;
    app.project().await;
    let old = reads(&app, flight).await;
    // Read twice: the second is served from the cache.
    assert_eq!(reads(&app, flight).await, old);
    let old_snapshot = snapshot(&mut redis, &prefix).await;
    assert!(
        old_snapshot.iter().any(|(k, _)| k.contains("seatmap:")),
        "the seat map was not cached: {:?}",
        old_snapshot.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert!(old_snapshot.iter().any(|(k, _)| k.contains("search:")));

    app.book(&app.customer, flight, &["10B", "10C"]).await;
    app.project().await;
    let new = reads(&app, flight).await;
    assert!(
        new.0 > old.0,
        "the seat map did not move: {old:?} then {new:?}"
    );
    assert_eq!(new.1, old.1 + 2);
    assert_eq!(new.2, old.2 - 2);
    assert_eq!(reads(&app, flight).await, new, "a cached read differs");

    // Redis comes back from the older snapshot: the old entries are there again, and still not served.
    restore(&mut redis, &prefix, &old_snapshot).await;
    for _ in 0..3 {
        assert_eq!(
            reads(&app, flight).await,
            new,
            "a read went back in time after a restore"
        );
    }
    // Redis restarts empty.
    flush(&mut redis, &prefix).await;
    for _ in 0..3 {
        assert_eq!(
            reads(&app, flight).await,
            new,
            "a read changed after a flush"
        );
    }
    flush(&mut redis, &prefix).await;
}

async fn search_keys(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis.keys(format!("{prefix}search:*")).await.unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_booking_invalidates_the_cached_searches_of_its_route_only() {
    let app = spawn_app().await;
    app.airports(&[
        ("CDG", "Europe/Paris"),
        ("JFK", "America/New_York"),
        ("LHR", "Europe/London"),
    ])
    .await;
    let aircraft = app.aircraft().await;
    let departure = Utc::now() + Duration::days(5);
    let jfk = app
        .flight("AF1", ("CDG", "JFK"), departure, (1000, 100), aircraft)
        .await;
    app.flight("AF2", ("CDG", "LHR"), departure, (1000, 100), aircraft)
        .await;
    app.project().await;
    let client = redis::Client::open(app.redis.url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = app.redis.key_prefix.clone();
    let route = |to: &str| format!("/api/v1/flights?origin=CDG&destination={to}");
    let seats_left = |page: &Value| page["flights"][0]["seats_left"].as_i64().unwrap();

    let (_, jfk_before) = app.get(&route("JFK"), None).await;
    let (_, lhr_before) = app.get(&route("LHR"), None).await;
    let (_, everywhere_before) = app.get("/api/v1/flights?origin=CDG", None).await;
    let cached = search_keys(&mut redis, &prefix).await;
    assert_eq!(cached.len(), 3, "{cached:?}");

    app.book(&app.customer, jfk, &["10A"]).await;
    app.project().await;
    let (_, jfk_after) = app.get(&route("JFK"), None).await;
    let (_, lhr_after) = app.get(&route("LHR"), None).await;
    let (_, everywhere_after) = app.get("/api/v1/flights?origin=CDG", None).await;
    assert_eq!(seats_left(&jfk_after), seats_left(&jfk_before) - 1);
    assert_eq!(lhr_after, lhr_before);
    assert_ne!(
        everywhere_after, everywhere_before,
        "a search over every route is not fresh"
    );
    // The LHR page was served from its old key; the JFK page and the search over every route are new.
    let now = search_keys(&mut redis, &prefix).await;
    let new: Vec<&String> = now.iter().filter(|k| !cached.contains(k)).collect();
    assert_eq!(new.len(), 2, "{cached:?} then {now:?}");
    flush(&mut redis, &prefix).await;
}

//! The event log against a real Postgres: commit-safe order, rollbacks, concurrency, checkpoints, locks.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use infra::event_log::{Position, Subscription, read_after};
use infra::testing::TestDatabase;
use sqlx::{Acquire, PgConnection};
use uuid::Uuid;

/// Appends like postgres-es does: only its seven columns.
async fn append(conn: &mut PgConnection, aggregate_id: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('test', $1, $2, 'Happened', '1.0', '{}', '{}')",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .execute(conn)
    .await
    .unwrap();
}

/// Reads everything after `after` once every appended row is past the snapshot horizon. The horizon is
/// cluster-wide, so a transaction open in another test's database delays it briefly.
async fn read_settled(pool: &sqlx::PgPool, after: Position) -> Vec<infra::event_log::StoredEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let settled: bool = sqlx::query_scalar(
            "SELECT COALESCE(pg_snapshot_xmin(pg_current_snapshot()) > (SELECT max(tx_id) FROM events), true)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if settled {
            return read_after(pool, after, 10_000).await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the snapshot horizon never passed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_event_that_commits_after_a_later_one_is_not_skipped() {
    let db = TestDatabase::create(4).await;
    let mut slow = db.pool.acquire().await.unwrap();
    let mut slow_tx = slow.begin().await.unwrap();
    append(&mut slow_tx, "slow", 1).await; // takes the lower global_position
    let mut fast = db.pool.acquire().await.unwrap();
    append(&mut fast, "fast", 1).await; // autocommits, higher position

    // While the slow transaction is open nothing after it may be read, or its event would be skipped.
    let seen = read_after(&db.pool, Position::default(), 100)
        .await
        .unwrap();
    assert!(seen.is_empty(), "read past an open transaction: {seen:?}");

    slow_tx.commit().await.unwrap();
    let seen = read_settled(&db.pool, Position::default()).await;
    let ids: Vec<_> = seen.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["slow", "fast"]);
    let after = read_settled(&db.pool, seen[1].position()).await;
    assert!(after.is_empty());
}

#[tokio::test]
async fn a_late_commit_after_the_reader_moved_on_is_still_read() {
    let db = TestDatabase::create(4).await;
    let mut conn = db.pool.acquire().await.unwrap();
    append(&mut conn, "first", 1).await;
    let first = read_settled(&db.pool, Position::default()).await;
    assert_eq!(first.len(), 1);
    let checkpoint = first[0].position();

    let mut late = db.pool.acquire().await.unwrap();
    let mut late_tx = late.begin().await.unwrap();
    append(&mut late_tx, "late", 1).await;
    append(&mut conn, "quick", 1).await;
    late_tx.commit().await.unwrap();

    let rest = read_settled(&db.pool, checkpoint).await;
    let ids: HashSet<_> = rest.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["late", "quick"]));
}

#[tokio::test]
async fn a_rolled_back_append_is_never_seen() {
    let db = TestDatabase::create(4).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    append(&mut tx, "ghost", 1).await;
    tx.rollback().await.unwrap();
    append(&mut conn, "real", 1).await;

    let seen = read_settled(&db.pool, Position::default()).await;
    let ids: Vec<_> = seen.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["real"]);
}

#[tokio::test]
async fn the_same_sequence_cannot_be_appended_twice() {
    let db = TestDatabase::create(2).await;
    let mut conn = db.pool.acquire().await.unwrap();
    append(&mut conn, "a", 1).await;
    let clash = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('test', 'a', 1, 'Happened', '1.0', '{}', '{}')",
    )
    .execute(&mut *conn)
    .await;
    let err = clash.unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().code().as_deref(),
        Some("23505")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_each_read_exactly_once_in_aggregate_order() {
    const WRITERS: usize = 8;
    const EACH: i64 = 500;
    let db = TestDatabase::create(12).await;

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let pool = db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            // Spread each writer over a few aggregates and mix single and batched commits.
            let mut sequences: HashMap<String, i64> = HashMap::new();
            let mut i = 0;
            while i < EACH {
                let batch = 1 + (i % 3).min(EACH - i - 1);
                let mut tx = conn.begin().await.unwrap();
                for _ in 0..batch {
                    let id = format!("w{w}-a{}", i % 4);
                    let seq = sequences.entry(id.clone()).or_default();
                    *seq += 1;
                    append(&mut tx, &id, *seq).await;
                    i += 1;
                }
                tx.commit().await.unwrap();
            }
        }));
    }

    // Tail the log while the writers run.
    let mut checkpoint = Position::default();
    let mut seen_ids = HashSet::new();
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    let total = WRITERS * EACH as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen_ids.len() < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reader stalled at {}",
            seen_ids.len()
        );
        let batch = read_after(&db.pool, checkpoint, 256).await.unwrap();
        if batch.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        for e in &batch {
            assert!(e.position() > checkpoint, "order went backwards");
            checkpoint = e.position();
            assert!(
                seen_ids.insert(e.event_id),
                "event {} read twice",
                e.event_id
            );
            let prev = last_seq
                .insert(e.aggregate_id.clone(), e.sequence)
                .unwrap_or(0);
            assert_eq!(e.sequence, prev + 1, "{} out of order", e.aggregate_id);
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(read_settled(&db.pool, checkpoint).await.is_empty());
    assert_eq!(seen_ids.len(), total);
}

#[tokio::test]
async fn a_checkpoint_saved_in_a_rolled_back_transaction_does_not_move() {
    let db = TestDatabase::create(2).await;
    let sub = Subscription::new(format!("sub-{}", Uuid::new_v4()));
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(
        sub.checkpoint(&mut conn).await.unwrap(),
        Position::default()
    );

    let moved = Position {
        tx_id: 42,
        global_position: 7,
    };
    let mut tx = conn.begin().await.unwrap();
    sub.save_checkpoint(&mut tx, moved).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        sub.checkpoint(&mut conn).await.unwrap(),
        Position::default()
    );

    let mut tx = conn.begin().await.unwrap();
    sub.save_checkpoint(&mut tx, moved).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(sub.checkpoint(&mut conn).await.unwrap(), moved);
}

#[tokio::test]
async fn lag_counts_the_events_after_the_checkpoint() {
    let db = TestDatabase::create(2).await;
    let sub = Subscription::new("lagging");
    let mut conn = db.pool.acquire().await.unwrap();
    for seq in 1..=3 {
        append(&mut conn, "a", seq).await;
    }
    let lag = sub.lag(&db.pool).await.unwrap();
    assert_eq!(lag.events_behind, 3);
    assert!(lag.oldest_age.is_some());

    let events = read_settled(&db.pool, Position::default()).await;
    sub.save_checkpoint(&mut conn, events[1].position())
        .await
        .unwrap();
    assert_eq!(sub.lag(&db.pool).await.unwrap().events_behind, 1);
}

#[tokio::test]
async fn only_one_instance_holds_a_subscription_and_a_standby_takes_over() {
    let db = TestDatabase::create(4).await;
    let sub = Subscription::new("relay");
    let mut active = sub
        .try_lock(&db.pool)
        .await
        .unwrap()
        .expect("first instance locks");
    let active_pid = active.backend_pid().await.unwrap();
    for _ in 0..3 {
        assert!(
            sub.try_lock(&db.pool).await.unwrap().is_none(),
            "a second instance locked too"
        );
    }
    // The active instance dies: its session ends and the lock goes with it. The server notices the
    // closed socket asynchronously, so the standby polls with a deadline.
    drop(active);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut standby = loop {
        if let Some(lock) = sub.try_lock(&db.pool).await.unwrap() {
            break lock;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "standby never took over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_ne!(standby.backend_pid().await.unwrap(), active_pid);
    let holders: i64 =
        // This database's locks only: the server is shared with other tests and with `scripts/run`.
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(holders, 1);
}

/// A commit-order read walks the `events_commit_order` index from the checkpoint and stops at the
/// limit. It used to sort the whole rest of the log on every read (its `ORDER BY tx_id` meant the
/// bigint output column, not the indexed xid8), which made a rebuild or a relay behind by a million
/// events read a million rows per batch. With sorting priced out, a plan that still sorts is one the
/// index cannot serve.
#[tokio::test]
async fn a_commit_order_read_walks_the_index_instead_of_sorting_the_log() {
    let db = TestDatabase::create(2).await;
    let mut conn = db.pool.acquire().await.unwrap();
    for i in 1..=50 {
        append(&mut conn, &format!("a{}", i % 5), i).await;
    }
    sqlx::query("ANALYZE events")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SET enable_sort = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN {}", infra::event_log::read_after_sql()))
            .bind(0_i64)
            .bind(0_i64)
            .bind(10_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("events_commit_order") && !plan.contains("Sort"),
        "a commit-order read does not walk the index:\n{plan}"
    );
    // And it reads in that order.
    let settled = read_settled(&db.pool, Position::default()).await;
    let positions: Vec<Position> = settled.iter().map(|e| e.position()).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions.len(), 50);
    assert_eq!(positions, sorted);
}

//! The services' pool: no ping in front of a busy pool's statements, but a connection left idle while
//! its session ended is found out before it is handed out.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

use std::time::Duration;

use infra::testing::TestDatabase;

#[tokio::test]
async fn a_connection_whose_session_ended_while_idle_is_replaced_before_use() {
    let db = TestDatabase::create(1).await;
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // End the pooled connection's session from outside, as a Postgres restart or an admin would.
    let admin = TestDatabase::create(1).await;
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(&admin.pool)
        .await
        .unwrap();
    assert!(ended);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // The one connection sat idle past the ping threshold: it is pinged, found dead and replaced, so
    // the statement succeeds on a new session instead of failing.
    let second: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_ne!(first, second);
}

//! The backoff's SQL form, evaluated by Postgres: the delay a set-aside row gets is the Rust formula's.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

use std::time::Duration;

use infra::backoff::Backoff;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn the_sql_delay_stays_between_half_the_ceiling_and_the_ceiling_as_failures_grow() {
    let mut conn = PgConnection::connect_with(&infra::testing::admin_options())
        .await
        .unwrap();
    let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(600));
    for failures in [0_i32, 1, 5, 9, 10, 1_000] {
        let sql = format!(
            "SELECT {} FROM generate_series(1, 50)",
            backoff.sql_seconds("$1")
        );
        let delays: Vec<f64> = sqlx::query_scalar(&sql)
            .bind(failures)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let ceiling = backoff.ceiling(failures as u32).as_secs_f64();
        assert!(
            delays.iter().all(|d| *d >= ceiling / 2.0 && *d <= ceiling),
            "{failures} failures: {delays:?} outside [{}, {ceiling}]",
            ceiling / 2.0
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "no jitter: {delays:?}"
        );
    }
}

//! `/readyz`: ready when Postgres answers and the sweeper and payment recovery are healthy; each worker's
//! lag is the work due for it (holds past their deadline, payment steps due).

use axum::extract::State;
use axum::response::IntoResponse;

use crate::state::AppState;

/// 200 when the database answers and no worker is stuck, 503 otherwise; every worker's state.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let due: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
        "SELECT (SELECT count(*) FROM hold_deadlines WHERE hold_until < now()), \
         (SELECT count(*) FROM payments WHERE status IN ('authorizing', 'authorized', 'voiding', 'pending') \
            AND next_attempt_at <= now())",
    )
    .fetch_one(&state.pool)
    .await;
    let mut report = state.workers.report();
    match &due {
        Ok((holds, payments)) => {
            for w in &mut report.workers {
                match w.name.as_str() {
                    "sweeper" => w.lag = Some(*holds),
                    "payment_recovery" => w.lag = Some(*payments),
                    _ => {}
                }
            }
        }
        Err(e) => tracing::warn!(error.message = %e, "not ready: database"),
    }
    report.readiness(due.is_ok(), serde_json::Map::new())
}

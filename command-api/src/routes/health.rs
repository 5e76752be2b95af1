//! `/readyz`: ready when Postgres answers and the sweeper and payment recovery are healthy.

use axum::extract::State;
use axum::response::IntoResponse;

use crate::state::AppState;

/// 200 when the database answers and no worker is stuck, 503 otherwise; every worker's state.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await;
    if let Err(e) = &database {
        tracing::warn!(error.message = %e, "not ready: database");
    }
    state
        .workers
        .report()
        .readiness(database.is_ok(), serde_json::Map::new())
}

//! Readiness: Postgres and both consumers.

use axum::extract::State;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Ready when Postgres answers and both consumers are consuming (not stuck in a message).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    state
        .workers
        .report()
        .readiness(database, serde_json::Map::new())
}

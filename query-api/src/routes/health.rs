//! `/readyz`: ready when Postgres answers; reports whether Redis does (the service works without it) and
//! the feed's listener (down, event streams poll: `degraded`).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

/// 200 when the database answers, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let redis = if state.cache.ping().await {
        "up"
    } else {
        "down"
    };
    let database = match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error.message = %e, "not ready: database");
            false
        }
    };
    let mut extra = serde_json::Map::new();
    extra.insert("redis".into(), redis.into());
    state.workers.report().readiness(database, extra)
}

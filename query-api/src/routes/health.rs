//! `/readyz`: ready when Postgres answers; reports whether Redis does (the service works without it).

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
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready", "database": "up", "redis": redis})),
        ),
        Err(e) => {
            tracing::warn!(error.message = %e, "not ready: database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(
                    serde_json::json!({"status": "not_ready", "database": "down", "redis": redis}),
                ),
            )
        }
    }
}

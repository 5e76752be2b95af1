//! `/readyz`: ready when Postgres answers; reports whether Redis does (the service works without it), the
//! feed's listener (down, event streams poll: `degraded`) and the read replica when one is set (down:
//! `degraded`, reads fall back to the primary; up: how far its replay is behind, in seconds since the
//! last transaction it replayed).

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
    // A replica that is down or hangs slows reads (every read falls back to the primary after at most
    // `REPLICA_READ`): degraded. Its lag is reported, not judged: it also grows while the primary is idle.
    let replica = if state.replica {
        let lag: Result<Option<f64>, _> = AppState::bounded(
            sqlx::query_scalar(
                "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
            )
            .fetch_one(&state.read),
        )
        .await;
        match lag {
            Ok(lag) => {
                extra.insert(
                    "replica".into(),
                    serde_json::json!({"status": "up", "replay_lag_secs": lag}),
                );
                true
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "degraded: the read replica");
                extra.insert("replica".into(), serde_json::json!({"status": "down"}));
                false
            }
        }
    } else {
        true
    };
    let (status, mut body) = state.workers.report().readiness(database, extra);
    if !replica && body["status"] == "ready" {
        body["status"] = "degraded".into();
    }
    (status, body)
}

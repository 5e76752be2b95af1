//! Building and running the projector: one worker per projection, plus health, readiness (with lag)
//! and metrics over HTTP.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use infra::cache::Cache;
use infra::event_log::{Subscription, run_subscription};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::projections::Projection;
use crate::relay::Relay;
use crate::worker::Worker;

/// Past this age of the oldest unprocessed event, the projector reports not ready.
const MAX_READY_LAG: Duration = Duration::from_secs(30);

/// A bound projector.
pub struct Application {
    listener: TcpListener,
    router: Router,
    workers: Vec<Worker>,
    relay: Arc<Relay>,
    pool: PgPool,
    poll: Duration,
    port: u16,
}

#[derive(Clone)]
struct HealthState {
    pool: PgPool,
}

impl Application {
    /// Connects and binds.
    ///
    /// # Errors
    /// Bad settings, busy port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = infra::db::pool(&settings.database).context("database settings")?;
        Self::build_with(settings, pool).await
    }

    /// Like [`Application::build`] with a given pool.
    ///
    /// # Errors
    /// Busy port.
    pub async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let cache = Arc::new(Cache::new(&settings.redis));
        let workers = Projection::ALL
            .into_iter()
            .map(|p| {
                Worker::new(
                    pool.clone(),
                    p,
                    cache.clone(),
                    settings.projector.batch_size,
                )
            })
            .collect();
        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
        let port = listener.local_addr()?.port();
        let relay = Arc::new(Relay::new(
            pool.clone(),
            settings.amqp.clone(),
            settings.projector.batch_size,
        ));
        let router = Router::new()
            .route("/readyz", get(readyz))
            .with_state(HealthState { pool: pool.clone() });
        Ok(Self {
            relay,
            pool,
            router: infra::http::serve_stack(router, &settings.http),
            listener,
            workers,
            poll: settings.projector.poll_interval(),
            port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(infra::shutdown::shutdown_signal()).await
    }

    /// Runs until `stop` resolves.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(false);
        let mut handles: Vec<_> = self
            .workers
            .into_iter()
            .map(|w| tokio::spawn(w.run(self.poll, rx.clone())))
            .collect();
        let (relay, pool, poll, stop_relay) =
            (self.relay.clone(), self.pool.clone(), self.poll, rx.clone());
        handles.push(tokio::spawn(async move {
            let subscription = relay.subscription().clone();
            run_subscription(&pool, &subscription, poll, stop_relay, || {
                relay.process_next_batch()
            })
            .await;
            relay.disconnect().await;
        }));
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                stop.await;
                let _ = tx.send(true);
            })
            .await
            .context("serving HTTP")?;
        for handle in handles {
            let _ = handle.await;
        }
        Ok(())
    }
}

/// Ready when Postgres answers and no projection is more than [`MAX_READY_LAG`] behind.
async fn readyz(State(state): State<HealthState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let mut lags = serde_json::Map::new();
    let mut ready = true;
    let names = Projection::ALL
        .map(|p| p.name())
        .into_iter()
        .chain([crate::relay::SUBSCRIPTION]);
    for name in names {
        match Subscription::new(name).lag(&state.pool).await {
            Ok(lag) => {
                let age = lag.oldest_age.unwrap_or_default();
                metrics::gauge!("projection_lag_events", "subscription" => name)
                    .set(lag.events_behind as f64);
                metrics::gauge!("projection_lag_seconds", "subscription" => name)
                    .set(age.as_secs_f64());
                ready &= age <= MAX_READY_LAG;
                lags.insert(
                    name.to_owned(),
                    serde_json::json!({"events_behind": lag.events_behind, "oldest_age_seconds": age.as_secs_f64()}),
                );
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "not ready: database");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(serde_json::json!({"status": "not_ready", "database": "down"})),
                );
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if ready { "ready" } else { "lagging" };
    (
        status,
        axum::Json(serde_json::json!({"status": word, "lag": lags})),
    )
}

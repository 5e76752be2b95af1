//! Building and running the projector: one supervised worker per projection and the relay, plus health,
//! readiness (every worker's state, and the lag) and metrics over HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use infra::event_log::{Subscription, run_subscription};
use infra::startup::{Launch, Service};
use infra::supervisor::{Registry, Spec, Supervisor};
use sqlx::PgPool;

use crate::config::Settings;
use crate::projections::Projection;
use crate::relay::Relay;
use crate::worker::Worker;

/// Past this age of the oldest unprocessed event, the projector reports not ready.
const MAX_READY_LAG: Duration = Duration::from_secs(30);

/// A bound projector.
pub struct Application {
    service: Service,
    workers: Vec<Worker>,
    relay: Arc<Relay>,
    pool: PgPool,
    poll: Duration,
    stuck_after: Duration,
}

#[derive(Clone)]
struct HealthState {
    pool: PgPool,
    workers: Registry,
}

impl Launch for Application {
    type Settings = Settings;
    const NAME: &'static str = "the projector";

    async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let workers = Projection::ALL
            .into_iter()
            .map(|p| Worker::new(pool.clone(), p, settings.projector.batch_size))
            .collect();
        let relay = Arc::new(Relay::new(
            pool.clone(),
            settings.amqp.clone(),
            settings.projector.relay_batch_size,
        ));
        let supervisor = Supervisor::new();
        let router = Router::new()
            .route("/readyz", get(readyz))
            .with_state(HealthState {
                pool: pool.clone(),
                workers: supervisor.registry(),
            });
        let router = infra::http::serve_stack(router, &settings.http);
        Ok(Self {
            service: Service::bind(&settings.http, router, supervisor).await?,
            relay,
            pool,
            stuck_after: settings.projector.stuck_after(),
            workers,
            poll: settings.projector.poll_interval(),
        })
    }

    fn service(&self) -> &Service {
        &self.service
    }

    /// Runs until `stop` resolves: every projection and the relay under one supervisor, which stops
    /// them at a batch boundary when `stop` resolves.
    async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let supervisor = self.service.supervisor();
        let poll = self.poll;
        for worker in self.workers {
            let worker = Arc::new(worker);
            let name = format!("projection:{}", worker.subscription().name());
            supervisor.spawn(Spec::critical(name, self.stuck_after), move |beat, stop| {
                let worker = worker.clone();
                async move { worker.run(poll, stop, &beat).await }
            });
        }
        let (relay, pool) = (self.relay, self.pool);
        supervisor.spawn(
            Spec::degrading("relay", self.stuck_after),
            move |beat, stop| {
                let (relay, pool) = (relay.clone(), pool.clone());
                async move {
                    let subscription = relay.subscription().clone();
                    let result = run_subscription(&pool, &subscription, poll, stop, &beat, || {
                        relay.process_next_batch()
                    })
                    .await;
                    relay.disconnect().await;
                    result
                }
            },
        );
        self.service.run_until(stop).await
    }
}

impl Application {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.service.port()
    }
}

/// Ready when Postgres answers, no critical worker is stuck and no projection is more than
/// [`MAX_READY_LAG`] behind; `degraded` (still 200) when only the relay is in trouble.
async fn readyz(State(state): State<HealthState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let mut lags = serde_json::Map::new();
    let mut report = state.workers.report();
    let mut ready = report.ready;
    let mut degraded = report.degraded;
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
                if age > MAX_READY_LAG {
                    if name == crate::relay::SUBSCRIPTION {
                        degraded = true;
                    } else {
                        ready = false;
                    }
                }
                let worker = if name == crate::relay::SUBSCRIPTION {
                    name.to_owned()
                } else {
                    format!("projection:{name}")
                };
                if let Some(w) = report.workers.iter_mut().find(|w| w.name == worker) {
                    w.lag = Some(lag.events_behind);
                }
                lags.insert(
                    name.to_owned(),
                    serde_json::json!({"events_behind": lag.events_behind, "oldest_age_seconds": age.as_secs_f64()}),
                );
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "not ready: database");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(
                        serde_json::json!({"status": "not_ready", "database": "down", "workers": report.workers}),
                    ),
                );
            }
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = match (ready, degraded) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    (
        status,
        axum::Json(
            serde_json::json!({"status": word, "database": "up", "lag": lags, "workers": report.workers}),
        ),
    )
}

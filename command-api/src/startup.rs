//! Building and running the command API: pool, migrations, aggregates, router, and the two workers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::middleware;
use axum::routing::get;
use infra::settings::HttpSettings;
use infra::startup::{Launch, Service};
use infra::supervisor::{Heartbeat, Spec, Supervisor};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::idempotency::idempotency;
use crate::payments::{
    PaymentProvider, PaymentSettings, ProviderKind, StripeProvider, TestCardProvider,
};
use crate::process::{Outcome, close, expiry, recovery};
use crate::routes;
use crate::state::AppState;

/// A bound, ready-to-run command API.
pub struct Application {
    service: Service,
    state: AppState,
}

impl Launch for Application {
    type Settings = Settings;
    const NAME: &'static str = "the command API";

    async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let payments = provider(&settings.payments)?;
        Self::build_from(settings, pool, Arc::new(SystemClock), payments).await
    }

    fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until `stop` resolves, with the sweeper and payment recovery under the supervisor.
    async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let bound = stuck_bound(state.booking.sweep_interval());
        self.service
            .supervisor()
            .spawn(Spec::critical("sweeper", bound), move |beat, stop| {
                let state = state.clone();
                async move {
                    let interval = state.booking.sweep_interval();
                    run_worker(&beat, interval, stop, || expiry::sweep_once(&state, 100)).await
                }
            });
        let state = self.state.clone();
        let bound = stuck_bound(state.booking.close_interval());
        self.service
            .supervisor()
            .spawn(Spec::critical("closer", bound), move |beat, stop| {
                let state = state.clone();
                async move {
                    let interval = state.booking.close_interval();
                    run_worker(&beat, interval, stop, || close::close_due(&state, 20)).await
                }
            });
        let state = self.state.clone();
        let bound = stuck_bound(state.booking.recovery_interval());
        self.service.supervisor().spawn(
            Spec::critical("payment_recovery", bound),
            move |beat, stop| {
                let state = state.clone();
                async move {
                    let interval = state.booking.recovery_interval();
                    run_worker(&beat, interval, stop, || {
                        recovery::recover_once(&state, 100)
                    })
                    .await
                }
            },
        );
        self.service.run_until(stop).await
    }
}

impl Application {
    /// Like [`Launch::build_with`] with a given clock and payment provider (tests).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_from(
        settings: Settings,
        pool: PgPool,
        clock: Arc<dyn Clock>,
        payments: Arc<dyn PaymentProvider>,
    ) -> anyhow::Result<Self> {
        infra::db::MIGRATOR
            .run(&pool)
            .await
            .context("running migrations")?;
        let verifier = infra::startup::verifier(&settings.auth)?;
        let supervisor = Supervisor::new();
        let mut state = AppState::new(pool, verifier, clock, payments, settings.booking.clone());
        state.workers = supervisor.registry();
        let router = router(state.clone(), &settings.http);
        let service = Service::bind(&settings.http, router, supervisor).await?;
        Ok(Self { service, state })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The shared state (tests drive the workers' steps with it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves without the background workers.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_without_workers(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.service.run_without_workers(stop).await
    }
}

/// The provider `settings` select. (Production refuses the test cards before this, with its other
/// refusals: see `Settings::production_findings`.)
///
/// # Errors
/// Stripe without its key, or with roots that cannot be read.
pub fn provider(settings: &PaymentSettings) -> anyhow::Result<Arc<dyn PaymentProvider>> {
    match settings.provider {
        ProviderKind::Test => Ok(Arc::new(TestCardProvider::default())),
        ProviderKind::Stripe => Ok(Arc::new(StripeProvider::new(settings)?)),
    }
}

/// The whole HTTP surface: `/api/v1/...`, `/openapi.json`, health and metrics.
pub fn router(state: AppState, http: &HttpSettings) -> Router {
    let api = routes::api().layer(middleware::from_fn_with_state(state.clone(), idempotency));
    infra::startup::api_router(api, get(routes::health::readyz), state, http)
}

/// A worker whose step finishes in well under this (a pass of at most 100 items) is stuck past it.
fn stuck_bound(interval: Duration) -> Duration {
    (interval * 10).max(Duration::from_secs(30))
}

/// Runs `step` until stopped: again at once after work, after `interval` when idle. A failed step ends
/// the run with its error (the supervisor counts it and starts again after a backoff).
async fn run_worker<F, Fut>(
    beat: &Heartbeat,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    step: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = crate::error::Result<Outcome>>,
{
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let pause = match step().await? {
            Outcome::Processed(_) => Duration::ZERO,
            Outcome::Idle => interval,
        };
        beat.beat();
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

//! Building and running the query API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use infra::cache::Cache;
use infra::settings::HttpSettings;
use infra::startup::{Launch, Service};
use infra::supervisor::{Spec, Supervisor};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::config::Settings;
use crate::feed::hub::Hub;
use crate::routes;
use crate::state::AppState;

/// Longest a read waits for a replica connection before it falls back to the primary.
const REPLICA_ACQUIRE: std::time::Duration = std::time::Duration::from_secs(1);

/// A bound query API.
pub struct Application {
    service: Service,
    feed: Arc<Hub>,
    pool: PgPool,
    stopping: watch::Sender<bool>,
}

impl Launch for Application {
    type Settings = Settings;
    const NAME: &'static str = "the query API";

    async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let verifier = infra::startup::verifier(&settings.auth)?;
        let supervisor = Supervisor::new();
        let feed = Arc::new(Hub::new(settings.feed.clone()));
        let (stopping, stopping_rx) = watch::channel(false);
        let replica = settings
            .database
            .read_connect_options()
            .context("DATABASE_READ_URL")?
            .map(|options| {
                // A read given up on (see `REPLICA_REPORT`) stops on the replica too.
                let timeout = crate::state::REPLICA_REPORT.as_millis().to_string();
                let options = options.options([("statement_timeout", timeout)]);
                // A replica that is down must not hold a read for the primary's acquire timeout
                // before the read falls back: a second at most.
                infra::db::options(&settings.database)
                    .acquire_timeout(settings.database.acquire_timeout().min(REPLICA_ACQUIRE))
                    .connect_lazy_with(options)
            });
        let state = AppState {
            pool: pool.clone(),
            replica: replica.is_some(),
            read: replica.unwrap_or_else(|| pool.clone()),
            cache: Arc::new(Cache::new(&settings.redis)),
            verifier,
            ttl: settings.cache.clone(),
            search_generations: Arc::default(),
            seat_map_versions: Arc::default(),
            feed: feed.clone(),
            stopping: stopping_rx,
            workers: supervisor.registry(),
        };
        let service =
            Service::bind(&settings.http, router(state, &settings.http), supervisor).await?;
        Ok(Self {
            service,
            feed,
            pool,
            stopping,
        })
    }

    fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until `stop` resolves, with the feed's listener under the supervisor.
    async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (feed, pool) = (self.feed, self.pool);
        // A stopped feed listener only slows the streams down to polling.
        self.service.supervisor().spawn(
            Spec::degrading("feed-listener", Duration::from_secs(30)),
            move |beat, stop| {
                let (feed, pool) = (feed.clone(), pool.clone());
                async move { feed.listen(&pool, beat, stop).await }
            },
        );
        let stopping = self.stopping;
        let stop = async move {
            stop.await;
            // Event streams end now, so their connections drain like any other.
            let _ = stopping.send(true);
        };
        self.service.run_until(stop).await
    }
}

impl Application {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.service.port()
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState, http: &HttpSettings) -> Router {
    infra::startup::api_router(routes::api(), get(routes::health::readyz), state, http)
}

//! Building and running the notifier: the email and webhook consumers, and the HTTP API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use infra::amqp::AmqpSettings;
use infra::startup::{Launch, Service};
use infra::supervisor::{Spec, Supervisor};
use sqlx::PgPool;

use crate::config::Settings;
use crate::consumer::{self, Handler};
use crate::email::{EmailHandler, Mailer};
use crate::routes;
use crate::state::AppState;
use crate::webhooks::{Outbound, WebhookHandler};

/// A bound notifier.
pub struct Application {
    service: Service,
    email: Arc<EmailHandler>,
    webhooks: Arc<WebhookHandler>,
    state: AppState,
    delays: Vec<u32>,
}

impl Launch for Application {
    type Settings = Settings;
    const NAME: &'static str = "the notifier";

    async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let verifier = infra::startup::verifier(&settings.auth)?;
        let outbound = Outbound::new(
            settings.retry.webhook_timeout(),
            settings.webhooks.allow_private_destinations,
            settings.webhooks.ca_file.as_deref(),
        )
        .context("building the webhook client")?;
        let mailer = Mailer::new(&settings.smtp).context("SMTP settings")?;
        let delays = settings.retry.delays().context("APP_RETRY__DELAYS_MS")?;
        let supervisor = Supervisor::new();
        let state = AppState {
            pool: pool.clone(),
            verifier,
            outbound: outbound.clone(),
            amqp: settings.amqp.clone(),
            workers: supervisor.registry(),
        };
        let router = infra::startup::api_router(
            routes::api(),
            get(routes::health::readyz),
            state.clone(),
            &settings.http,
        );
        let service = Service::bind(&settings.http, router, supervisor).await?;
        Ok(Self {
            service,
            email: Arc::new(EmailHandler::new(pool.clone(), mailer)),
            webhooks: Arc::new(WebhookHandler::new(pool, outbound)),
            state,
            delays,
        })
    }

    fn service(&self) -> &Service {
        &self.service
    }

    /// Runs until `stop` resolves, the email and webhook consumers under the supervisor.
    async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let supervisor = self.service.supervisor();
        spawn_consumer(supervisor, self.email, &self.state.amqp, &self.delays);
        spawn_consumer(supervisor, self.webhooks, &self.state.amqp, &self.delays);
        self.service.run_until(stop).await
    }
}

impl Application {
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.service.port()
    }
}

/// A consumer with nothing to do beats every second; one silent for this long is stuck in a message.
const STUCK_AFTER: Duration = Duration::from_secs(60);

fn spawn_consumer<H: Handler>(
    supervisor: &mut Supervisor,
    handler: Arc<H>,
    amqp: &AmqpSettings,
    delays: &[u32],
) {
    let (amqp, delays) = (amqp.clone(), delays.to_vec());
    let spec = Spec::critical(format!("consumer:{}", handler.name()), STUCK_AFTER);
    supervisor.spawn(spec, move |beat, stop| {
        let (handler, amqp, delays) = (handler.clone(), amqp.clone(), delays.clone());
        async move {
            consumer::run(handler, amqp, delays, beat, stop)
                .await
                .map_err(anyhow::Error::from)
        }
    });
}

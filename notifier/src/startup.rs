//! Building and running the notifier: the email and webhook consumers, and the HTTP API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use infra::amqp::AmqpSettings;
use infra::auth::JwtVerifier;
use infra::settings::HttpSettings;
use infra::supervisor::{Spec, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::consumer::{self, Handler};
use crate::email::{EmailHandler, Mailer};
use crate::routes;
use crate::state::AppState;
use crate::webhooks::{Outbound, WebhookHandler};

/// A bound notifier.
pub struct Application {
    listener: TcpListener,
    router: Router,
    email: Arc<EmailHandler>,
    webhooks: Arc<WebhookHandler>,
    state: AppState,
    delays: Vec<u32>,
    supervisor: Supervisor,
    http: HttpSettings,
    port: u16,
}

/// In production (`APP_ENVIRONMENT=production`), refuses the development key pair and default
/// credentials, before anything connects; `airline all` runs the same check.
///
/// # Errors
/// Every finding, when running as production.
pub fn refuse_development_defaults(settings: &Settings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let dev = infra::production::dev_key_dir();
    infra::production::refuse_development_defaults(
        "the notifier",
        &[
            ("DATABASE_URL", settings.database.url.expose_secret()),
            ("AMQP_URL", &settings.amqp.url),
        ],
        &infra::production::verifying_key(&settings.auth),
        &[dev.as_path()],
    )
}

impl Application {
    /// Connects and binds.
    ///
    /// # Errors
    /// Bad settings, busy port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        refuse_development_defaults(&settings)?;
        let pool = infra::db::pool(&settings.database).context("database settings")?;
        Self::build_with(settings, pool).await
    }

    /// Like [`Application::build`] with a given pool.
    ///
    /// # Errors
    /// Bad settings, busy port.
    pub async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let auth = &settings.auth;
        let verifier = JwtVerifier::new(&auth.public_key()?, &auth.issuer, &auth.audience)
            .context("loading the token public key")?;
        let outbound = Outbound::new(
            settings.retry.webhook_timeout(),
            settings.webhooks.allow_private_destinations,
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
        let (api, openapi) = routes::api().split_for_parts();
        let app = Router::new()
            .merge(api)
            .route("/readyz", get(routes::health::readyz))
            .route(
                "/openapi.json",
                get(move || std::future::ready(axum::Json(openapi.clone()))),
            )
            .with_state(state.clone());
        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            router: infra::http::serve_stack(app, &settings.http),
            listener,
            email: Arc::new(EmailHandler::new(pool.clone(), mailer)),
            webhooks: Arc::new(WebhookHandler::new(pool, outbound)),
            state,
            delays,
            supervisor,
            http: settings.http.clone(),
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
        let bound = self.http.shutdown_timeout();
        self.run_until(infra::shutdown::shutdown_signal_within(bound))
            .await
    }

    /// Runs until `stop` resolves, the email and webhook consumers under a supervisor.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut supervisor = self.supervisor;
        spawn_consumer(&mut supervisor, self.email, &self.state.amqp, &self.delays);
        spawn_consumer(
            &mut supervisor,
            self.webhooks,
            &self.state.amqp,
            &self.delays,
        );
        infra::serve::serve_with_workers(self.listener, self.router, &self.http, stop, supervisor)
            .await
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

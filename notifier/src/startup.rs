//! Building and running the notifier: the email and webhook consumers, and the HTTP API.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use infra::auth::JwtVerifier;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::consumer;
use crate::email::{EmailHandler, Mailer};
use crate::routes::{self, AppState};
use crate::webhooks::WebhookHandler;

/// A bound notifier.
pub struct Application {
    listener: TcpListener,
    router: Router,
    email: Arc<EmailHandler>,
    webhooks: Arc<WebhookHandler>,
    state: AppState,
    delays: Vec<u32>,
    port: u16,
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
    /// Bad settings, busy port.
    pub async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let auth = &settings.auth;
        let verifier = JwtVerifier::new(&auth.public_key()?, &auth.issuer, &auth.audience)
            .context("loading the token public key")?;
        let client = reqwest::Client::builder()
            .timeout(settings.retry.webhook_timeout())
            .build()
            .context("building the webhook client")?;
        let mailer = Mailer::new(&settings.smtp).context("SMTP settings")?;
        let delays = settings.retry.delays().context("APP_RETRY__DELAYS_MS")?;
        let state = AppState {
            pool: pool.clone(),
            verifier,
            client: client.clone(),
            amqp: settings.amqp.clone(),
            connected: vec![
                ("email", Arc::new(AtomicBool::new(false))),
                ("webhooks", Arc::new(AtomicBool::new(false))),
            ],
        };
        let (api, openapi) = routes::api().split_for_parts();
        let app = Router::new()
            .merge(api)
            .route(
                "/admin/dead-letters/{consumer}",
                get(routes::list_dead_letters),
            )
            .route(
                "/admin/dead-letters/{consumer}/requeue",
                post(routes::requeue_dead_letters),
            )
            .route("/readyz", get(routes::readyz))
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
            webhooks: Arc::new(WebhookHandler::new(pool, client)),
            state,
            delays,
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
        let flags = &self.state.connected;
        let consumers = [
            tokio::spawn(consumer::run(
                self.email,
                self.state.amqp.clone(),
                self.delays.clone(),
                flags[0].1.clone(),
                rx.clone(),
            )),
            tokio::spawn(consumer::run(
                self.webhooks,
                self.state.amqp.clone(),
                self.delays,
                flags[1].1.clone(),
                rx,
            )),
        ];
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                stop.await;
                let _ = tx.send(true);
            })
            .await
            .context("serving HTTP")?;
        for consumer in consumers {
            let _ = consumer.await;
        }
        Ok(())
    }
}

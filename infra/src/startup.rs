//! The start-up every service shares: bind the listener, serve the router with the shared stack and
//! graceful shutdown, run the service's workers under its supervisor, and a `main` that loads the
//! settings, builds the service and runs it until SIGINT/SIGTERM. Each service configures it with its
//! own state, routes and workers; nothing here knows which service it runs.

use anyhow::Context;
use axum::Router;
use axum::routing::{MethodRouter, get};
use sqlx::PgPool;
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::JwtVerifier;
use crate::settings::{HttpSettings, ServiceSettings, TokenSettings};
use crate::supervisor::Supervisor;

/// A service bound to its port, with its router and the supervisor its workers will run under.
pub struct Service {
    listener: TcpListener,
    router: Router,
    http: HttpSettings,
    supervisor: Supervisor,
    port: u16,
}

impl Service {
    /// Binds `http`'s host and port (port 0: any free one) for `router`, which already carries the
    /// serving stack ([`crate::http::serve_stack`]).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        http: &HttpSettings,
        router: Router,
        supervisor: Supervisor,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((http.host.as_str(), http.port))
            .await
            .with_context(|| format!("binding {}:{}", http.host, http.port))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            router,
            http: http.clone(),
            supervisor,
            port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How it listens (its shutdown bound among the rest).
    pub fn http(&self) -> &HttpSettings {
        &self.http
    }

    /// The supervisor, to spawn the service's workers before it runs.
    pub fn supervisor(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }

    /// Serves until `stop` resolves, the supervisor's workers beside it; both stop within one bound.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::serve::serve_with_workers(
            self.listener,
            self.router,
            &self.http,
            stop,
            self.supervisor,
        )
        .await
    }

    /// Serves until `stop` resolves, without running any worker (tests drive the workers' steps).
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_without_workers(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::serve::serve(self.listener, self.router, &self.http, stop).await
    }
}

/// An API's router: its documented routes, `GET /readyz`, and `GET /openapi.json` (the document of
/// those routes), with `state`, inside the shared serving stack.
pub fn api_router<S>(
    api: OpenApiRouter<S>,
    readyz: MethodRouter<S>,
    state: S,
    http: &HttpSettings,
) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    let (api, openapi) = api.split_for_parts();
    let app = Router::new()
        .merge(api)
        .route("/readyz", readyz)
        .route(
            "/openapi.json",
            get(move || std::future::ready(axum::Json(openapi.clone()))),
        )
        .with_state(state);
    crate::http::serve_stack(app, http)
}

/// The verifier of the gateway's tokens, from the API's token settings.
///
/// # Errors
/// A missing or unreadable public key.
pub fn verifier(tokens: &TokenSettings) -> anyhow::Result<JwtVerifier> {
    JwtVerifier::new(&tokens.public_key()?, &tokens.issuer, &tokens.audience)
        .context("loading the token public key")
}

/// A service that can be started on its own: what its binary, `airline <service>` and `airline all`
/// run.
pub trait Launch: Sized + Send + 'static {
    /// Its settings.
    type Settings: ServiceSettings;
    /// How logs and refusals name it (`the command API`).
    const NAME: &'static str;

    /// Builds it on `pool` (its own, or one `airline all` shares) and binds its port.
    fn build_with(
        settings: Self::Settings,
        pool: PgPool,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// The bound service.
    fn service(&self) -> &Service;

    /// Runs until `stop` resolves, its workers beside it.
    fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// In production (`APP_ENVIRONMENT=production`), refuses the development key pair and default
    /// credentials, before anything connects; `airline all` runs the same check.
    ///
    /// # Errors
    /// Every finding, when running as production.
    fn refuse_development_defaults(settings: &Self::Settings) -> anyhow::Result<()> {
        let dev = crate::production::dev_key_dir();
        let (keys, dev_dirs) = match settings.tokens() {
            Some(tokens) => (
                crate::production::verifying_key(tokens),
                vec![dev.as_path()],
            ),
            None => (Vec::new(), Vec::new()),
        };
        crate::production::refuse_development_defaults(
            Self::NAME,
            &settings.urls(),
            &keys,
            (&dev_dirs, settings.production_findings()),
        )
    }

    /// Refuses development defaults in production, connects with its own pool, builds and binds.
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>> + Send {
        async move {
            Self::refuse_development_defaults(&settings)?;
            let pool = crate::db::pool(settings.database()).context("database settings")?;
            Self::build_with(settings, pool).await
        }
    }

    /// Runs until SIGINT/SIGTERM, then drains within the shutdown bound.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>> + Send {
        let bound = self.service().http().shutdown_timeout();
        self.run_until(crate::shutdown::shutdown_signal_within(bound))
    }
}

/// Loads `A`'s settings, builds it and runs it until SIGINT/SIGTERM.
///
/// # Errors
/// Bad settings, or what building or running it fails with.
pub async fn launch<A: Launch>() -> anyhow::Result<()> {
    let settings =
        A::Settings::load().with_context(|| format!("loading the settings of {}", A::NAME))?;
    let app = A::build(settings)
        .await
        .with_context(|| format!("starting {}", A::NAME))?;
    tracing::info!(port = app.service().port(), "{} listening", A::NAME);
    app.run_until_stopped().await
}

/// A service binary's `main`: telemetry as `target` with `filter` by default, then [`launch`].
///
/// # Errors
/// As [`launch`].
pub async fn main<A: Launch>(target: &str, filter: &str) -> anyhow::Result<()> {
    crate::telemetry::init(target, filter);
    launch::<A>().await
}

/// A resource's documented routes: `api_routes![a, b; c]` is
/// `OpenApiRouter::new().routes(routes!(a, b)).routes(routes!(c))`, handlers of one path grouped by
/// commas and paths separated by semicolons. The caller depends on `utoipa-axum`.
#[macro_export]
macro_rules! api_routes {
    ($($($handler:ident),+);+ $(;)?) => {
        ::utoipa_axum::router::OpenApiRouter::new()
            $(.routes(::utoipa_axum::routes!($($handler),+)))+
    };
}

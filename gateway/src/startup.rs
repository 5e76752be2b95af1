//! Building and running the gateway.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use infra::auth::{JwtSigner, JwtVerifier};
use infra::cache::Cache;
use infra::problem::Problem;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::config::Settings;
use crate::rate_limit::rate_limit;
use crate::routes;
use crate::state::AppState;

/// The gateway's own part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(info(title = "Airline API"), tags((name = "auth")))]
struct GatewayDoc;

/// A bound gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    http: infra::settings::HttpSettings,
    port: u16,
}

impl Application {
    /// Connects, loads or generates keys, binds.
    ///
    /// # Errors
    /// Bad settings, development keys in production, busy port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = infra::db::pool(&settings.database).context("database settings")?;
        Self::build_with(settings, pool).await
    }

    /// Like [`Application::build`] with a given pool.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let private = crate::keys::private_key(&settings)?;
        let public = infra::auth::public_key_of(&private).context("the token private key")?;
        let auth = &settings.auth;
        let state = AppState {
            pool,
            redis: Arc::new(Cache::new(&settings.redis)),
            signer: JwtSigner::new(&private).context("the token private key")?,
            verifier: JwtVerifier::new(&public, &auth.issuer, &auth.audience)?,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            token_ttl_secs: auth.token_ttl_secs,
            // Idle upstream connections are dropped before the upstreams' own idle timeout closes them, so
            // a request never goes out on a connection the other side is closing (a 502).
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .pool_idle_timeout(settings.http.header_timeout() / 2)
                .build()
                .context("building the upstream client")?,
            upstreams: settings.upstreams.clone(),
            limits: settings.rate_limits.clone(),
        };
        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            router: router(state, &settings),
            http: settings.http.clone(),
            listener,
            port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let bound = self.http.shutdown_timeout();
        self.run_until(infra::shutdown::shutdown_signal_within(bound))
            .await
    }

    /// Serves until `stop` resolves.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        infra::serve::serve(self.listener, self.router, &self.http, stop).await
    }
}

fn router(state: AppState, settings: &Settings) -> Router {
    let (own, own_doc) = OpenApiRouter::with_openapi(GatewayDoc::openapi())
        .merge(routes::auth::router())
        .split_for_parts();
    let app = Router::new()
        .merge(own)
        .route("/api/v1/{*rest}", any(crate::proxy::forward))
        .route("/readyz", get(routes::health::readyz))
        .route(
            "/openapi.json",
            get(move |s: State<AppState>| routes::docs::openapi(s, own_doc.clone())),
        )
        .merge(SwaggerUi::new("/docs").config(Config::from("/openapi.json")))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    let app = infra::http::serve_stack(app, &settings.http);
    match cors(&settings.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    }
}

/// A present bearer token must be valid here already (401 otherwise); the verified principal rides in
/// the request extensions to the rate limiter, and the header goes on to the APIs, which verify again.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let token = infra::auth::bearer_token(req.headers());
        match token.map(|t| state.verifier.verify(t)) {
            Some(Ok(claims)) => {
                req.extensions_mut().insert(infra::auth::Principal {
                    user_id: claims.sub,
                    role: claims.role,
                });
            }
            _ => {
                return Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the token is invalid or expired",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

fn cors(origins: &str) -> Option<CorsLayer> {
    let origins = origins.trim();
    if origins.is_empty() {
        return None;
    }
    let allow = if origins == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .split(',')
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(tower_http::cors::Any)
            .allow_headers(tower_http::cors::Any)
            .expose_headers(tower_http::cors::Any),
    )
}

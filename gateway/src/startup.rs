//! Building and running the gateway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get};
use infra::auth::{JwtSigner, JwtVerifier};
use infra::cache::Cache;
use infra::problem::Problem;
use infra::settings::ServiceSettings;
use infra::startup::{Launch, Service};
use infra::supervisor::{Spec, Supervisor};
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::client::{TrustedProxies, client_ip};
use crate::config::Settings;
use crate::rate_limit::rate_limit;
use crate::routes;
use crate::routes::table::{BadPath, ROUTES, check_path};
use crate::sessions::{Grant, Grants};
use crate::state::AppState;

/// The gateway's own part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(info(title = "Airline API"), tags((name = "auth"), (name = "admin")))]
struct GatewayDoc;

/// A bound gateway.
pub struct Application {
    service: Service,
    grants: Arc<Grants>,
}

impl Launch for Application {
    type Settings = Settings;
    const NAME: &'static str = "the gateway";

    /// In production (`APP_ENVIRONMENT=production`), refuses the development key pair and default
    /// credentials, before anything connects; `airline all` runs the same check.
    ///
    /// # Errors
    /// Every finding, when running as production.
    fn refuse_development_defaults(settings: &Settings) -> anyhow::Result<()> {
        use secrecy::ExposeSecret;
        let auth = &settings.auth;
        let key = match (&auth.private_key_pem, &auth.private_key_file) {
            (Some(pem), _) => vec![infra::production::Key::Pem(pem.expose_secret())],
            (None, Some(file)) => vec![infra::production::Key::File(file)],
            (None, None) => Vec::new(),
        };
        let dev = auth.dev_key_dir();
        if settings.is_production() {
            let found = infra::production::findings(&settings.urls(), &key, &[dev.as_path()]);
            anyhow::ensure!(
                found.is_empty(),
                "the gateway refuses to start in production: {}",
                found.join("; ")
            );
        }
        Ok(())
    }

    async fn build_with(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let private = crate::keys::private_key(&settings)?;
        let public = infra::auth::public_key_of(&private).context("the token private key")?;
        let auth = &settings.auth;
        let supervisor = Supervisor::new();
        let grants = Arc::new(Grants::new(pool.clone()));
        let state = AppState {
            grants,
            workers: supervisor.registry(),
            refresh_ttl_secs: auth.refresh_ttl_secs,
            pool,
            redis: Arc::new(Cache::new(&settings.redis)),
            signer: JwtSigner::new(&private).context("the token private key")?,
            verifier: JwtVerifier::new(&public, &auth.issuer, &auth.audience)?,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            internal_audience: auth.internal_audience.clone(),
            token_ttl_secs: auth.token_ttl_secs,
            // Idle upstream connections are dropped before the upstreams' own idle timeout closes them, so
            // a request never goes out on a connection the other side is closing (a 502).
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .pool_idle_timeout(settings.http.header_timeout() / 2)
                .build()
                .context("building the upstream client")?,
            upstreams: settings.upstreams.clone(),
            turns: Arc::default(),
            limits: settings.rate_limits.clone(),
            login_throttle: settings.login_throttle.clone(),
            body_limit_bytes: settings.http.body_limit_bytes,
        };
        let grants = state.grants.clone();
        let proxies = TrustedProxies::parse(&settings.http.trusted_proxies)
            .map_err(anyhow::Error::msg)
            .context("APP_HTTP__TRUSTED_PROXIES")?;
        let service = Service::bind(
            &settings.http,
            router(state, &settings, Arc::new(proxies)),
            supervisor,
        )
        .await?;
        Ok(Self { service, grants })
    }

    fn service(&self) -> &Service {
        &self.service
    }

    /// Serves until `stop` resolves, with the session listener under the supervisor.
    async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grants = self.grants;
        self.service.supervisor().spawn(
            Spec::degrading("session-listener", Duration::from_secs(30)),
            move |beat, stop| {
                let grants = grants.clone();
                async move { grants.listen(beat, stop).await }
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

fn router(state: AppState, settings: &Settings, proxies: Arc<TrustedProxies>) -> Router {
    let (own, own_doc) = OpenApiRouter::with_openapi(GatewayDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::health::router())
        .split_for_parts();
    let app = Router::new()
        .merge(own)
        .merge(proxied())
        .route("/readyz", get(routes::health::readyz))
        .route(
            "/openapi.json",
            get(move |s: State<AppState>| routes::docs::openapi(s, own_doc.clone())),
        )
        .merge(SwaggerUi::new("/docs").config(Config::from("/openapi.json")))
        .merge(routes::console::router())
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(proxies, client_ip))
        .with_state(state);
    // Around the shared stack, so that it also guards the fallback (a path no route matches).
    let app =
        infra::http::serve_stack(app, &settings.http).layer(middleware::from_fn(refuse_bad_paths));
    let token = settings.metrics_token.clone();
    let app = app.layer(middleware::from_fn(move |req: Request, next: Next| {
        let token = token.clone();
        async move { guard_metrics(token.as_ref(), req, next).await }
    }));
    match cors(&settings.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    }
}

/// The routes of the allow-list, each to its upstream. A path in the table with another method is 405
/// with `Allow` (axum's method router), any other path 404.
fn proxied() -> Router<AppState> {
    let mut by_path: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for route in ROUTES {
        let Ok(filter) = MethodFilter::try_from(route.method()) else {
            continue;
        };
        let upstream = route.upstream;
        let handler = move |State(state): State<AppState>, req: Request| {
            crate::proxy::forward(state, upstream, req)
        };
        let methods = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(route.path, methods.on(filter, handler));
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// Refuses, before anything else reads it, a path that a URL parser on the way could read as another
/// one: dot segments in any spelling, encoded slashes and backslashes, NUL and control characters, and
/// over-long paths.
async fn refuse_bad_paths(req: Request, next: Next) -> Response {
    let detail = match check_path(req.uri().path()) {
        Ok(()) => return next.run(req).await,
        Err(BadPath::TooLong) => "the path is too long",
        Err(BadPath::DotSegment) => "the path holds a `.` or `..` segment",
        Err(BadPath::BadCharacter) => {
            "the path holds an encoded slash, a backslash, a control character or a broken escape"
        }
    };
    metrics::counter!("gateway_bad_paths_total").increment(1);
    Problem::new(StatusCode::BAD_REQUEST, "bad_path", detail).into_response()
}

/// A present bearer token must be valid here already (401 otherwise), and its session must still grant
/// something: a token of an ended session or a disabled account is 401 from the next request on. What is
/// forwarded is not the client's token but the gateway's word for this request: the same subject,
/// session and expiry, the account's current role, and the internal audience, which is the only one the
/// services behind accept. So a client's token sent straight to a service is refused there, and every
/// service enforces the role the account has now. The principal rides in the request extensions to the
/// rate limiter.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // The routes that take credentials in the body ignore a bearer header: a client that always sends
    // its (by then expired) access token must still be able to refresh or sign in again.
    const CREDENTIAL_ROUTES: [&str; 3] = [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ];
    if !req.headers().contains_key(header::AUTHORIZATION)
        || CREDENTIAL_ROUTES.contains(&req.uri().path())
    {
        return next.run(req).await;
    }
    let unauthorized = |detail: &str| {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_owned()).into_response()
    };
    let token = infra::auth::bearer_token(req.headers());
    let Some(Ok(mut claims)) = token.map(|t| state.verifier.verify(t)) else {
        return unauthorized("the token is invalid or expired");
    };
    let Some(sid) = claims.sid else {
        return unauthorized("the token belongs to no session; sign in again");
    };
    let role = match state.grants.current(sid, claims.sub).await {
        Ok(Grant::Active(role)) => role,
        Ok(Grant::Revoked) => {
            return unauthorized("the session has ended or the account is disabled; sign in again");
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "checking a session failed");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry later",
            )
            .into_response();
        }
    };
    let signed_as = |claims: &infra::auth::Claims| {
        let token = state.signer.sign(claims).ok()?;
        HeaderValue::from_str(&format!("Bearer {token}")).ok()
    };
    let internal_error = || {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side",
        )
        .into_response()
    };
    // The gateway's own routes read the header: one whose role changed is re-signed with the current
    // role (same expiry and session).
    if role != claims.role {
        claims.role = role;
        let Some(value) = signed_as(&claims) else {
            return internal_error();
        };
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
    // The services behind get the gateway's word instead, in the internal audience.
    let mut forwarded = claims.clone();
    forwarded.aud.clone_from(&state.internal_audience);
    let Some(forwarded) = signed_as(&forwarded) else {
        return internal_error();
    };
    req.extensions_mut()
        .insert(crate::proxy::ForwardedToken(forwarded));
    req.extensions_mut().insert(infra::auth::Principal {
        user_id: claims.sub,
        role,
        account_since: claims.acc,
    });
    req.extensions_mut().insert(crate::proxy::StreamGrant {
        session: sid,
        user: claims.sub,
        role,
        expires_at: claims.exp,
    });
    next.run(req).await
}

/// The gateway's port is public: its `/metrics` (in `airline all`, every service's, one recorder) is
/// for a loopback client or one holding the configured metrics token, anyone else gets 404; its
/// `/readyz` tells anyone else only the overall status, not each upstream's workers.
async fn guard_metrics(
    token: Option<&secrecy::SecretString>,
    req: Request,
    next: Next,
) -> Response {
    use secrecy::ExposeSecret;
    let path = req.uri().path();
    if path != "/metrics" && path != "/readyz" {
        return next.run(req).await;
    }
    let loopback = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback());
    let bearer = infra::auth::bearer_token(req.headers());
    let holds_token = token.is_some_and(|t| {
        bearer.is_some_and(|b| {
            let (a, b) = (t.expose_secret().as_bytes(), b.as_bytes());
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
        })
    });
    if loopback || holds_token {
        return next.run(req).await;
    }
    if path == "/metrics" {
        return Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response();
    }
    let (parts, body) = next.run(req).await.into_parts();
    let report = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let status = serde_json::from_slice::<serde_json::Value>(&report)
        .ok()
        .and_then(|r| r.get("status").cloned())
        .unwrap_or_else(|| "unknown".into());
    let mut response = axum::Json(serde_json::json!({"status": status})).into_response();
    *response.status_mut() = parts.status;
    response
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

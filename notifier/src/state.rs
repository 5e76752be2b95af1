//! What every handler can reach.

use axum::extract::FromRef;
use infra::amqp::AmqpSettings;
use infra::auth::JwtVerifier;
use sqlx::PgPool;

use crate::webhooks::Outbound;

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Calls webhook endpoints.
    pub outbound: Outbound,
    /// The broker.
    pub amqp: AmqpSettings,
    /// The consumers' health.
    pub workers: infra::supervisor::Registry,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

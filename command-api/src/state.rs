//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::JwtVerifier;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::BookingSettings;
use crate::executor::Executor;
use crate::payments::PaymentProvider;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// Decides and commits every command.
    pub executor: Arc<Executor>,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Payments.
    pub payments: Arc<dyn PaymentProvider>,
    /// Booking process knobs.
    pub booking: BookingSettings,
    /// The background workers' health (empty when they run elsewhere).
    pub workers: infra::supervisor::Registry,
}

impl AppState {
    /// The state for a pool.
    pub fn new(
        pool: PgPool,
        verifier: JwtVerifier,
        clock: Arc<dyn Clock>,
        payments: Arc<dyn PaymentProvider>,
        booking: BookingSettings,
    ) -> Self {
        Self {
            executor: Arc::new(
                Executor::new(pool.clone(), booking.max_attempts)
                    .with_max_held_seats(booking.max_held_seats, booking.max_held_seats_per_client)
                    .with_new_account_cap(booking.new_accounts.max_held_seats_per_flight)
                    .with_bounds(booking.queue.max_per_lane, booking.queue.max_total),
            ),
            pool,
            verifier,
            clock,
            payments,
            booking,
            workers: infra::supervisor::Registry::default(),
        }
    }
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

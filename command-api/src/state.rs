//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::aircraft::Aircraft;
use domain::airport::Airport;
use domain::booking::Booking;
use domain::flight::Flight;
use infra::auth::JwtVerifier;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::clock::Clock;
use crate::config::BookingSettings;
use crate::executor::Aggregates;
use crate::payments::PaymentProvider;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// A few connections whose commits do not wait for the WAL flush, for bookkeeping rows that a later
    /// synchronous commit (an event append) makes durable anyway.
    pub side: PgPool,
    /// Flights.
    pub flights: Arc<Aggregates<Flight>>,
    /// Bookings.
    pub bookings: Arc<Aggregates<Booking>>,
    /// Airports.
    pub airports: Arc<Aggregates<Airport>>,
    /// Aircraft types.
    pub aircraft: Arc<Aggregates<Aircraft>>,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Payments.
    pub payments: Arc<dyn PaymentProvider>,
    /// Booking process knobs.
    pub booking: BookingSettings,
}

impl AppState {
    /// The state for a pool: one command runner per aggregate type, and the side pool.
    pub fn new(
        pool: PgPool,
        verifier: JwtVerifier,
        clock: Arc<dyn Clock>,
        payments: Arc<dyn PaymentProvider>,
        booking: BookingSettings,
    ) -> Self {
        let attempts = booking.max_attempts;
        let side_options = (*pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let side = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_lazy_with(side_options);
        Self {
            flights: Arc::new(Aggregates::new(pool.clone(), attempts)),
            bookings: Arc::new(Aggregates::new(pool.clone(), attempts)),
            airports: Arc::new(Aggregates::new(pool.clone(), attempts)),
            aircraft: Arc::new(Aggregates::new(pool.clone(), attempts)),
            pool,
            side,
            verifier,
            clock,
            payments,
            booking,
        }
    }
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

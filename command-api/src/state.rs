//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use domain::aircraft::Aircraft;
use domain::airport::Airport;
use domain::booking::Booking;
use domain::flight::Flight;
use infra::auth::JwtVerifier;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::config::BookingSettings;
use crate::executor::Aggregates;
use crate::payments::PaymentProvider;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
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

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

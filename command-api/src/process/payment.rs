//! The money steps around the booking decisions: closing an authorization that did not go through,
//! capturing a committed one, paying back a refund; each recorded as an event with its ledger row in one
//! commit, and each safe to repeat (payment recovery repeats them after a crash).

use domain::booking::{Booking, BookingCommand};
use domain::values::{BookingId, FlightId, Label, Money};
use uuid::Uuid;

use crate::error::{ApiError, Result};
use crate::executor::{CommandMeta, StreamKey, WorkingSet};
use crate::payments::{self, Attempt, Authorization, LedgerError, PaymentError};
use crate::state::AppState;

/// A declined or unanswered authorization: the ledger row is closed (declined) or voided, so nothing
/// stays reserved on the card.
pub(super) async fn abandon(state: &AppState, attempt: &Attempt, e: &PaymentError) {
    let result = match e {
        PaymentError::Declined => payments::move_row(
            &state.pool,
            attempt.payment_id,
            ("authorizing", "declined"),
            Some("declined"),
        )
        .await
        .map(drop)
        .map_err(anyhow::Error::from),
        PaymentError::Unavailable => {
            payments::void(&state.pool, &*state.payments, attempt, "authorizing").await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error.message = %e, "could not close an authorization attempt; recovery does");
    }
}

/// An authorization committed with its booking, to capture.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The booking.
    pub booking: BookingId,
    /// Its flight.
    pub flight: FlightId,
    /// The ledger row: its key, reference and amount.
    pub attempt: Attempt,
}

/// Captures an authorization committed with its booking and records it: a `PaymentCaptured` event and
/// the ledger row `captured`, in one commit. Safe to repeat (recovery does, after a crash).
///
/// # Errors
/// Provider unavailable; store failures.
pub async fn capture(state: &AppState, meta: &CommandMeta, c: &Captured) -> Result<()> {
    crate::crash_point!("pay.before_capture");
    let receipt = state
        .payments
        .capture(c.attempt.authorization())
        .await
        .map_err(payment_problem)?;
    let now = state.clock.now();
    let (payment_id, amount, booking_key) = (
        c.attempt.payment_id,
        c.attempt.amount,
        c.booking.to_string(),
    );
    let decide = move |ws: &mut WorkingSet| {
        let record = BookingCommand::RecordCapture {
            reference: Label::parse(&receipt.reference)?,
            amount,
            now,
        };
        // Recorded already (the same step ran twice): the ledger moved with that event.
        if !ws
            .execute::<Booking>(&booking_key, "RecordCapture", record)?
            .is_empty()
        {
            ws.move_payment(payment_id, ("authorized", "captured"), None)?;
        }
        Ok(())
    };
    let meta = CommandMeta {
        claim: None,
        ..meta.clone()
    };
    match state
        .executor
        .run(StreamKey::seats_of(c.flight), meta, decide)
        .await
    {
        Err(e)
            if payments::status(&state.pool, payment_id).await? == Some("captured".to_owned()) =>
        {
            tracing::debug!(error.message = %e, "captured meanwhile by another worker");
            Ok(())
        }
        other => other,
    }
}

/// A refund due, to pay back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundDue {
    /// Ledger row of the refund.
    pub payment_id: Uuid,
    /// Its provider key.
    pub provider_key: String,
    /// The captured authorization's provider key.
    pub authorization_key: String,
    /// Its provider reference.
    pub authorization_reference: Option<String>,
    /// Its card token.
    pub authorization_card_token: Option<String>,
    /// Its amount, minor units (same currency).
    pub authorization_amount_minor: i64,
    /// The booking.
    pub booking_id: Uuid,
    /// Its flight.
    pub flight_id: Uuid,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// The flight whose offload it pays back; none: the booking's cancellation.
    pub offload_flight_id: Option<Uuid>,
}

/// Pays a refund back and records it: a `RefundIssued` event and the ledger row `refunded`, in one
/// commit. Safe to repeat.
///
/// # Errors
/// Provider unavailable; store failures.
pub async fn refund(state: &AppState, meta: &CommandMeta, due: &RefundDue) -> Result<()> {
    crate::crash_point!("refund.before_refund");
    let currency = domain::values::Currency::parse(&due.currency)?;
    let amount = Money::try_new(due.amount_minor, currency)?;
    let authorization = Authorization {
        key: &due.authorization_key,
        reference: due.authorization_reference.as_deref(),
        card_token: due.authorization_card_token.as_deref(),
        amount: Money::try_new(due.authorization_amount_minor, currency)?,
    };
    let receipt = state
        .payments
        .refund(&due.provider_key, authorization, amount)
        .await
        .map_err(payment_problem)?;
    let now = state.clock.now();
    let (payment_id, booking_key) = (due.payment_id, due.booking_id.to_string());
    let offload = due.offload_flight_id;
    let decide = move |ws: &mut WorkingSet| {
        let record = BookingCommand::RecordRefund {
            reference: Label::parse(&receipt.reference)?,
            amount,
            offload: offload.map(FlightId::from_uuid),
            now,
        };
        // Recorded already (the same step ran twice): the ledger moved with that event.
        if !ws
            .execute::<Booking>(&booking_key, "RecordRefund", record)?
            .is_empty()
        {
            let reference = Some(receipt.reference.clone());
            ws.move_payment(payment_id, ("pending", "refunded"), reference)?;
        }
        Ok(())
    };
    let flight = FlightId::from_uuid(due.flight_id);
    match state
        .executor
        .run(StreamKey::seats_of(flight), meta.clone(), decide)
        .await
    {
        Err(e)
            if payments::status(&state.pool, payment_id).await? == Some("refunded".to_owned()) =>
        {
            tracing::debug!(error.message = %e, "refunded meanwhile by another worker");
            Ok(())
        }
        other => other,
    }
}

pub(super) fn ledger_problem(e: LedgerError) -> ApiError {
    match e {
        LedgerError::InProgress => infra::problem::Problem::new(
            axum::http::StatusCode::CONFLICT,
            "payment_in_progress",
            "another payment of this booking is in progress; retry later",
        )
        .into(),
        LedgerError::Store(e) => e.into(),
    }
}

pub(super) fn payment_problem(e: PaymentError) -> ApiError {
    use axum::http::StatusCode;
    let (status, code) = match e {
        PaymentError::Declined => (StatusCode::PAYMENT_REQUIRED, "payment_declined"),
        PaymentError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "payment_provider_unavailable",
        ),
    };
    infra::problem::Problem::new(status, code, e.to_string()).into()
}

/// Pays back `booking`'s pending refunds now (its cancellation's, its offloads'), if its payment is
/// captured (recovery does it otherwise).
pub(super) async fn settle_refund(
    state: &AppState,
    meta: &CommandMeta,
    booking: BookingId,
) -> Result<()> {
    let due: Vec<RefundDue> = sqlx::query_as(payments::REFUNDS_DUE_FOR_BOOKING)
        .bind(booking.as_uuid())
        .fetch_all(&state.pool)
        .await?;
    let meta = CommandMeta {
        claim: None,
        ..meta.clone()
    };
    for due in due {
        refund(state, &meta, &due).await?;
    }
    Ok(())
}

/// Pays back the refunds due on `bookings` (after their flight was cancelled); recovery retries what
/// fails.
pub async fn settle_refunds(state: &AppState, meta: &CommandMeta, bookings: &[BookingId]) {
    for booking in bookings {
        if let Err(e) = settle_refund(state, meta, *booking).await {
            tracing::warn!(error.message = %e, booking_id = %booking, "refund failed; recovery retries it");
        }
    }
}

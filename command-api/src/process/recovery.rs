//! Payment recovery: finishes or undoes what a crash left in the payments ledger.
//! - An authorization still `authorizing` (or `voiding`) well after it started never got its commit:
//!   it is voided at the provider.
//! - An authorization `authorized` (committed with its booking) but not captured is captured, and the
//!   capture recorded as an event.
//! - A refund `pending` whose payment is captured is paid back, and recorded as an event.
//!
//! Each row is retried until the provider answers; a row that fails is counted and set aside with a
//! growing delay, and never stops the pass.

use domain::values::{BookingId, FlightId};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::Outcome;
use super::payment::{self, Captured, RefundDue};
use crate::error::Result;
use crate::executor::CommandMeta;
use crate::payments::ledger::ATTEMPT_COLUMNS;
use crate::payments::{self, Attempt};
use crate::state::AppState;

/// One pass over the ledger, at most `limit` rows of each kind.
///
/// # Errors
/// Store failures reading the ledger; a failing row is set aside instead.
pub async fn recover_once(state: &AppState, limit: i64) -> Result<Outcome> {
    let after = state.booking.payment_recovery_after().as_secs_f64();
    let meta = CommandMeta::system(format!("payment-recovery-{}", Uuid::now_v7()));
    let stale = sqlx::query(&format!(
        "SELECT {ATTEMPT_COLUMNS}, status FROM payments \
         WHERE kind = 'authorization' AND status IN ('authorizing', 'voiding') \
           AND updated_at < now() - make_interval(secs => $1) AND next_attempt_at <= now() \
         ORDER BY updated_at LIMIT $2",
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let mut done = 0;
    for row in stale {
        let (attempt, status): (Attempt, String) =
            (Attempt::from_row(&row)?, row.try_get("status")?);
        let result = payments::void(&state.pool, &*state.payments, &attempt, &status).await;
        done += settle(state, attempt.payment_id, result.map_err(|e| e.to_string())).await?;
    }
    let uncaptured = sqlx::query(&format!(
        "SELECT {ATTEMPT_COLUMNS}, booking_id, flight_id FROM payments \
         WHERE kind = 'authorization' AND status = 'authorized' \
           AND updated_at < now() - make_interval(secs => $1) AND next_attempt_at <= now() \
         ORDER BY updated_at LIMIT $2",
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    for row in uncaptured {
        let c = Captured {
            booking: BookingId::from_uuid(row.try_get("booking_id")?),
            flight: FlightId::from_uuid(row.try_get("flight_id")?),
            attempt: Attempt::from_row(&row)?,
        };
        let result = payment::capture(state, &meta, &c).await;
        done += settle(
            state,
            c.attempt.payment_id,
            result.map_err(|e| e.cause_chain()),
        )
        .await?;
    }
    let refunds: Vec<RefundDue> = sqlx::query_as(payments::REFUNDS_DUE)
        .bind(after)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?;
    for due in refunds {
        let result = payment::refund(state, &meta, &due).await;
        done += settle(state, due.payment_id, result.map_err(|e| e.cause_chain())).await?;
    }
    Ok(if done == 0 {
        Outcome::Idle
    } else {
        Outcome::Processed(done)
    })
}

/// Counts a row done, or sets it aside with its error.
async fn settle(
    state: &AppState,
    payment_id: Uuid,
    result: std::result::Result<(), String>,
) -> Result<usize> {
    match result {
        Ok(()) => Ok(1),
        Err(e) => {
            metrics::counter!("payment_recovery_failures_total").increment(1);
            tracing::warn!(payment_id = %payment_id, error.message = %e, "payment step failed; set aside");
            if let Err(aside) = payments::set_aside(&state.pool, payment_id, &e).await {
                tracing::warn!(payment_id = %payment_id, error.message = %aside, "could not set a payment step aside");
            }
            Ok(0)
        }
    }
}

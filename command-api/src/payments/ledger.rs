//! The payments ledger (table `payments`): every authorization attempt is written before the provider
//! is called and moved on by the commit that uses it, so that recovery can finish (capture, refund) or
//! undo (void) whatever a crash left.

use std::time::Duration;

use domain::values::{BookingId, Currency, FlightId, Money};
use infra::backoff::Backoff;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{Authorization, PaymentProvider};

/// The columns an [`Attempt`] is read from.
pub const ATTEMPT_COLUMNS: &str =
    "payment_id, provider_key, provider_reference, card_token, amount_minor, currency";

/// An authorization attempt in the ledger.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Ledger id.
    pub payment_id: Uuid,
    /// The key the provider deduplicates by.
    pub provider_key: String,
    /// The provider's reference, once recorded.
    pub provider_reference: Option<String>,
    /// The card token it was made with (rows from before it was kept have none).
    pub card_token: Option<String>,
    /// The amount.
    pub amount: Money,
}

impl Attempt {
    /// The authorization as a provider is asked about it.
    pub fn authorization(&self) -> Authorization<'_> {
        Authorization {
            key: &self.provider_key,
            reference: self.provider_reference.as_deref(),
            card_token: self.card_token.as_deref(),
            amount: self.amount,
        }
    }
}

impl<'r> sqlx::FromRow<'r, PgRow> for Attempt {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let decode = |e: domain::values::ValueError| sqlx::Error::Decode(Box::new(e));
        let currency = Currency::parse(row.try_get("currency")?).map_err(decode)?;
        Ok(Self {
            payment_id: row.try_get("payment_id")?,
            provider_key: row.try_get("provider_key")?,
            provider_reference: row.try_get("provider_reference")?,
            card_token: row.try_get("card_token")?,
            amount: Money::try_new(row.try_get("amount_minor")?, currency).map_err(decode)?,
        })
    }
}

/// Why an authorization could not start.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Another payment of this booking is being authorized.
    #[error("another payment of this booking is in progress")]
    InProgress,
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Records a new authorization attempt (`authorizing`) before the provider is called, so that a crash
/// after the call leaves a row for recovery to void. A retry of the same request (`scope`: principal and
/// Idempotency-Key) after a crash carries on with its attempt, which the provider answers the same.
///
/// # Errors
/// [`LedgerError::InProgress`] when another request is authorizing this booking.
pub async fn begin_authorization(
    pool: &PgPool,
    (booking, flight): (BookingId, FlightId),
    (card_token, amount): (&str, Money),
    scope: Option<&str>,
) -> Result<Attempt, LedgerError> {
    if let Some(scope) = scope {
        let resumed: Option<Attempt> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payments \
             WHERE booking_id = $1 AND status = 'authorizing' AND request_scope = $2",
        ))
        .bind(booking.as_uuid())
        .bind(scope)
        .fetch_optional(pool)
        .await?;
        if let Some(attempt) = resumed {
            return Ok(attempt);
        }
    }
    let payment_id = Uuid::now_v7();
    let inserted: Result<Attempt, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO payments (payment_id, booking_id, flight_id, kind, attempt, amount_minor, currency, status, \
                               provider_key, request_scope, card_token) \
         SELECT $1, $2, $3, 'authorization', n, $4, $5, 'authorizing', format('auth-%s-%s', $2, n), $6, $7 \
         FROM (SELECT coalesce(max(attempt), 0) + 1 AS n FROM payments WHERE booking_id = $2 AND kind = 'authorization') a \
         RETURNING {ATTEMPT_COLUMNS}",
    ))
    .bind(payment_id)
    .bind(booking.as_uuid())
    .bind(flight.as_uuid())
    .bind(amount.amount_minor())
    .bind(amount.currency().as_str())
    .bind(scope)
    .bind(card_token)
    .fetch_one(pool)
    .await;
    match inserted {
        Ok(attempt) => Ok(attempt),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Err(LedgerError::InProgress)
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves ledger row `payment_id` from `from` to `to` on its own (outside a decision); whether it did.
///
/// # Errors
/// Store failures.
pub async fn move_row(
    pool: &PgPool,
    payment_id: Uuid,
    (from, to): (&str, &str),
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE payments SET status = $3, last_error = coalesce($4, last_error), updated_at = now() \
         WHERE payment_id = $1 AND status = $2",
    )
    .bind(payment_id)
    .bind(from)
    .bind(to)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// Releases an authorization whose commit did not happen: `authorizing` → `voiding` → void at the
/// provider → `voided`. A row already moved on (committed, or voided by recovery) is left alone.
///
/// # Errors
/// Store failures; provider failures (the row stays `voiding` for recovery).
pub async fn void(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    attempt: &Attempt,
    from: &str,
) -> Result<(), anyhow::Error> {
    if from != "voiding" && !move_row(pool, attempt.payment_id, (from, "voiding"), None).await? {
        return Ok(());
    }
    provider.void(attempt.authorization()).await?;
    move_row(pool, attempt.payment_id, ("voiding", "voided"), None).await?;
    metrics::counter!("payments_voided_total").increment(1);
    Ok(())
}

/// The refunds due: pending, their authorization captured, with what paying them back needs.
macro_rules! refunds_due {
    () => {
        "SELECT r.payment_id, r.provider_key, a.provider_key AS authorization_key, \
        a.provider_reference AS authorization_reference, a.card_token AS authorization_card_token, \
        a.amount_minor AS authorization_amount_minor, r.booking_id, r.flight_id, r.amount_minor, r.currency, \
        r.offload_flight_id \
     FROM payments r JOIN payments a \
       ON a.booking_id = r.booking_id AND a.kind = 'authorization' AND a.status = 'captured' \
     WHERE r.kind = 'refund' AND r.status = 'pending'"
    };
}

/// Refunds due (pending, their authorization captured), with what paying them back needs; `$1` is
/// the booking.
pub const REFUNDS_DUE_FOR_BOOKING: &str = concat!(refunds_due!(), " AND r.booking_id = $1");

/// Refunds due that have waited `$1` seconds, at most `$2`, for recovery.
pub const REFUNDS_DUE: &str = concat!(
    refunds_due!(),
    " AND r.updated_at < now() - make_interval(secs => $1) AND r.next_attempt_at <= now() LIMIT $2"
);

/// A ledger row's status, if the row exists.
///
/// # Errors
/// Store failures.
pub async fn status(pool: &PgPool, payment_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_optional(pool)
        .await
}

/// A ledger row's step that failed is retried about 1 s later, doubling per failure up to 5 min.
const LEDGER_RETRIES: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// Sets a ledger row aside after a failed step: counted, with its error, retried later (capped
/// exponential delay).
///
/// # Errors
/// Store failures.
pub async fn set_aside(pool: &PgPool, payment_id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    let delay = LEDGER_RETRIES.sql_seconds("tries");
    sqlx::query(&format!(
        "UPDATE payments SET tries = tries + 1, last_error = $2, \
             next_attempt_at = now() + make_interval(secs => {delay}) \
         WHERE payment_id = $1",
    ))
    .bind(payment_id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

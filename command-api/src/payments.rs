//! The payment port and the payments ledger.
//!
//! A [`PaymentProvider`] authorizes, captures, voids and refunds, each call deduplicated by the provider
//! key it is given (derived from the booking and the attempt), so any step can be retried after a crash
//! without charging twice. [`TestCardProvider`] is the built-in provider: `tok_visa`, `tok_mastercard`
//! and `tok_amex` succeed, `tok_unavailable` fails as if the provider could not be reached, every other
//! token is declined. It records nothing but its call log; the ledger (table `payments`) is ours.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::values::{BookingId, FlightId, Money};
use infra::backoff::Backoff;
use sqlx::PgPool;
use uuid::Uuid;

/// A future a provider returns.
pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PaymentError>> + Send + 'a>>;

/// The provider's answer to a successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's reference, kept on the booking.
    pub reference: String,
}

/// Why a payment call did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was declined.
    #[error("the card was declined")]
    Declined,
    /// The provider could not be reached, or did not answer.
    #[error("the payment provider is unavailable")]
    Unavailable,
}

/// Takes payments. Every call is idempotent by `key`: the same key gives the same outcome.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Authorizes (reserves) `amount` on the card behind `card_token`.
    ///
    /// # Errors
    /// [`PaymentError::Declined`], [`PaymentError::Unavailable`].
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        card_token: &'a str,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt>;

    /// Captures the authorization made under `key`.
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn capture<'a>(&'a self, key: &'a str, amount: Money) -> ProviderFuture<'a, Receipt>;

    /// Releases the authorization made under `key` (a no-op when none was made).
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn void<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, ()>;

    /// Pays `amount` back from the capture of the authorization `authorization_key`.
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization_key: &'a str,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt>;
}

/// Tokens the test provider accepts.
pub const TEST_CARDS: [&str; 3] = ["tok_visa", "tok_mastercard", "tok_amex"];
/// The token the test provider treats as "provider unreachable".
pub const UNAVAILABLE_CARD: &str = "tok_unavailable";

/// One call the test provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCall {
    /// An authorization.
    Authorize(String),
    /// A capture.
    Capture(String),
    /// A void.
    Void(String),
    /// A refund.
    Refund(String, i64),
}

/// The built-in provider; see the module docs. References derive from the keys, so repeated calls
/// answer the same.
#[derive(Debug, Clone, Default)]
pub struct TestCardProvider {
    calls: Arc<Mutex<Vec<ProviderCall>>>,
}

impl TestCardProvider {
    /// The calls answered so far, oldest first.
    pub fn calls(&self) -> Vec<ProviderCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn log(&self, call: ProviderCall) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

impl PaymentProvider for TestCardProvider {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        card_token: &'a str,
        _amount: Money,
    ) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            if card_token == UNAVAILABLE_CARD {
                return Err(PaymentError::Unavailable);
            }
            if !TEST_CARDS.contains(&card_token) {
                return Err(PaymentError::Declined);
            }
            self.log(ProviderCall::Authorize(key.to_owned()));
            Ok(Receipt {
                reference: format!("auth_{key}"),
            })
        })
    }

    fn capture<'a>(&'a self, key: &'a str, _amount: Money) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            self.log(ProviderCall::Capture(key.to_owned()));
            Ok(Receipt {
                reference: format!("cap_{key}"),
            })
        })
    }

    fn void<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            self.log(ProviderCall::Void(key.to_owned()));
            Ok(())
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        _authorization_key: &'a str,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            self.log(ProviderCall::Refund(key.to_owned(), amount.amount_minor()));
            Ok(Receipt {
                reference: format!("ref_{key}"),
            })
        })
    }
}

/// An authorization attempt in the ledger.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    /// Ledger id.
    pub payment_id: Uuid,
    /// The key the provider deduplicates by.
    pub provider_key: String,
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
    amount: Money,
    scope: Option<&str>,
) -> Result<Attempt, LedgerError> {
    if let Some(scope) = scope {
        let resumed: Option<Attempt> = sqlx::query_as(
            "SELECT payment_id, provider_key FROM payments \
             WHERE booking_id = $1 AND status = 'authorizing' AND request_scope = $2",
        )
        .bind(booking.as_uuid())
        .bind(scope)
        .fetch_optional(pool)
        .await?;
        if let Some(attempt) = resumed {
            return Ok(attempt);
        }
    }
    let payment_id = Uuid::now_v7();
    let inserted: Result<Attempt, sqlx::Error> = sqlx::query_as(
        "INSERT INTO payments (payment_id, booking_id, flight_id, kind, attempt, amount_minor, currency, status, \
                               provider_key, request_scope) \
         SELECT $1, $2, $3, 'authorization', n, $4, $5, 'authorizing', format('auth-%s-%s', $2, n), $6 \
         FROM (SELECT coalesce(max(attempt), 0) + 1 AS n FROM payments WHERE booking_id = $2 AND kind = 'authorization') a \
         RETURNING payment_id, provider_key",
    )
    .bind(payment_id)
    .bind(booking.as_uuid())
    .bind(flight.as_uuid())
    .bind(amount.amount_minor())
    .bind(amount.currency().as_str())
    .bind(scope)
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
    provider.void(&attempt.provider_key).await?;
    move_row(pool, attempt.payment_id, ("voiding", "voided"), None).await?;
    metrics::counter!("payments_voided_total").increment(1);
    Ok(())
}

/// The refunds due: pending, their authorization captured, with what paying them back needs.
macro_rules! refunds_due {
    () => {
        "SELECT r.payment_id, r.provider_key, a.provider_key AS authorization_key, \
        r.booking_id, r.flight_id, r.amount_minor, r.currency \
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

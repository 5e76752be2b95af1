//! The payment port. Payments are recorded, not charged: [`TestCardProvider`] accepts the documented test
//! card tokens and declines everything else, so the decline path exists and is tested. A real acquirer
//! would implement [`PaymentProvider`] the same way.

use std::future::Future;
use std::pin::Pin;

use domain::values::{BookingId, Money};

/// A successful authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The provider's reference, kept on the booking.
    pub reference: String,
}

/// Why a payment did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was declined.
    #[error("the card was declined")]
    Declined,
    /// The provider could not be reached.
    #[error("the payment provider is unavailable")]
    Unavailable,
}

/// Takes payments.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Authorises `amount` on the card behind `card_token` for `booking`.
    ///
    /// # Errors
    /// [`PaymentError::Declined`], [`PaymentError::Unavailable`].
    fn authorize<'a>(
        &'a self,
        booking: BookingId,
        card_token: &'a str,
        amount: Money,
    ) -> Pin<Box<dyn Future<Output = Result<Authorization, PaymentError>> + Send + 'a>>;
}

/// Accepts `tok_visa`, `tok_mastercard` and `tok_amex`; declines every other token.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestCardProvider;

/// Tokens the test provider accepts.
pub const TEST_CARDS: [&str; 3] = ["tok_visa", "tok_mastercard", "tok_amex"];

impl PaymentProvider for TestCardProvider {
    fn authorize<'a>(
        &'a self,
        booking: BookingId,
        card_token: &'a str,
        amount: Money,
    ) -> Pin<Box<dyn Future<Output = Result<Authorization, PaymentError>> + Send + 'a>> {
        Box::pin(async move {
            if TEST_CARDS.contains(&card_token) {
                Ok(Authorization {
                    reference: format!(
                        "test_{}_{}_{}",
                        booking.as_uuid().simple(),
                        amount.amount_minor(),
                        card_token
                    ),
                })
            } else {
                Err(PaymentError::Declined)
            }
        })
    }
}

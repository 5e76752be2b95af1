//! The payment port, its two providers and the payments ledger.
//!
//! A [`PaymentProvider`] authorizes, captures, voids and refunds, each call deduplicated by the provider
//! key it is given (derived from the booking and the attempt), so any step can be retried after a crash
//! without charging twice. Two providers implement it:
//! - [`StripeProvider`], Stripe's PaymentIntents API (`APP_PAYMENTS__PROVIDER=stripe`);
//! - [`TestCardProvider`], the built-in one for development and tests, which moves no money and which
//!   production refuses to start with.
//!
//! The ledger (table `payments`, [`ledger`]) is ours: every attempt is written before the provider is
//! called, so recovery can finish or undo what a crash left.

use std::future::Future;
use std::pin::Pin;

use domain::values::Money;

pub mod ledger;
pub mod settings;
mod stripe;
mod test_card;

pub use ledger::{
    Attempt, LedgerError, REFUNDS_DUE, REFUNDS_DUE_FOR_BOOKING, begin_authorization, move_row,
    set_aside, status, void,
};
pub use settings::{PaymentSettings, ProviderKind};
pub use stripe::StripeProvider;
pub use test_card::{ProviderCall, TEST_CARDS, TestCardProvider, UNAVAILABLE_CARD};

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
    /// The provider could not be reached, did not answer in time, or failed.
    #[error("the payment provider is unavailable")]
    Unavailable,
}

/// An authorization as the ledger knows it: everything a provider needs to find it again.
#[derive(Debug, Clone, Copy)]
pub struct Authorization<'a> {
    /// The key it was made under.
    pub key: &'a str,
    /// The provider's reference, once its answer was recorded; `None` when a crash or a lost answer
    /// came between the call and the record.
    pub reference: Option<&'a str>,
    /// The card token it was made with, to ask for it again under the same key.
    pub card_token: Option<&'a str>,
    /// Its amount.
    pub amount: Money,
}

/// Takes payments. Every call is idempotent by its key: the same key gives the same outcome.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Authorizes (reserves) `amount` on the card behind `card_token`, under `key`.
    ///
    /// # Errors
    /// [`PaymentError::Declined`], [`PaymentError::Unavailable`].
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        card_token: &'a str,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt>;

    /// Captures the whole of `authorization`.
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn capture<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, Receipt>;

    /// Releases `authorization` (a no-op when none was made under its key).
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn void<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, ()>;

    /// Pays `amount` back, under `key`, from the capture of `authorization`.
    ///
    /// # Errors
    /// [`PaymentError::Unavailable`].
    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: Authorization<'a>,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt>;
}

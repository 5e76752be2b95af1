//! The built-in provider for development and tests: `tok_visa`, `tok_mastercard` and `tok_amex`
//! succeed, `tok_unavailable` fails as if the provider could not be reached, every other token is
//! declined. It moves no money and records nothing but its call log. Production refuses to start with it.

use std::sync::{Arc, Mutex};

use domain::values::Money;

use super::{Authorization, PaymentError, PaymentProvider, ProviderFuture, Receipt};

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

    fn capture<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, Receipt> {
        let key = authorization.key;
        Box::pin(async move {
            self.log(ProviderCall::Capture(key.to_owned()));
            Ok(Receipt {
                reference: format!("cap_{key}"),
            })
        })
    }

    fn void<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, ()> {
        let key = authorization.key;
        Box::pin(async move {
            self.log(ProviderCall::Void(key.to_owned()));
            Ok(())
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        _authorization: Authorization<'a>,
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

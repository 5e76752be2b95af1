//! The Stripe adapter against a fake Stripe over HTTPS (its own test CA, trusted through
//! `APP_PAYMENTS__CA_FILE`): book, pay, cancel and refund end to end; card errors as declines; a
//! provider that fails, hangs or loses its answers as 503 with nothing left reserved once recovery ran;
//! and every call deduplicated by its key, so a retried call never charges twice.

use std::sync::Arc;
use std::time::Duration;

use command_api::payments::{PaymentError, PaymentProvider, StripeProvider};
use command_api::process::{Outcome, recovery};
use command_api::state::AppState;
use domain::booking::BookingStatus;
use domain::values::{Currency, Money};
use serde_json::{Value, json};
use testkit::stripe::{FakeStripe, Mode};

use crate::helpers::{Response, TestApp, spawn_app, start_with};

/// A command API paying through `fake`, its calls bounded by `timeout`.
struct StripeApp {
    app: TestApp,
    fake: FakeStripe,
    address: String,
    state: AppState,
}

async fn stripe_app(timeout: Duration) -> StripeApp {
    let app = spawn_app().await;
    let fake = FakeStripe::start().await;
    let settings = fake.settings(timeout);
    let provider = Arc::new(StripeProvider::new(&settings).unwrap());
    let keys = (app.public_pem.as_str(), &app.clock);
    let (address, state) = start_with(&app.db, keys, 4, provider, |s| s.payments = settings).await;
    StripeApp {
        app,
        fake,
        address,
        state,
    }
}

impl StripeApp {
    async fn booking(&self) -> Value {
        let flight = self.app.scheduled_flight().await;
        let body = testkit::bodies::booking(flight, &["10A", "10B"], "Hopper");
        let url = format!("{}/api/v1/bookings", self.address);
        let booked = self
            .app
            .send(
                self.app
                    .client
                    .post(url)
                    .bearer_auth(&self.app.customer)
                    .json(&body),
            )
            .await;
        assert_eq!(booked.status, 201, "{}", booked.json());
        booked.json()
    }

    async fn pay(&self, booking: &Value, card: &str) -> Response {
        let url = format!("{}{}", self.address, testkit::bodies::payment_path(booking));
        let body = json!({"card_token": card, "amount": booking["total"]});
        let request = self
            .app
            .client
            .post(url)
            .bearer_auth(&self.app.customer)
            .json(&body);
        self.app.send(request).await
    }

    async fn cancel(&self, booking: &Value) -> Response {
        let url = format!(
            "{}/api/v1/bookings/{}/cancel",
            self.address,
            booking["id"].as_str().unwrap()
        );
        let request = self.app.client.post(url).bearer_auth(&self.app.customer);
        self.app.send(request).await
    }

    async fn ledger(&self) -> Vec<(String, String)> {
        sqlx::query_as("SELECT kind, status FROM payments ORDER BY created_at")
            .fetch_all(&self.app.db.pool)
            .await
            .unwrap()
    }

    /// The provider reference the booking's `event` recorded.
    async fn reference(&self, booking: &str, event: &str) -> String {
        sqlx::query_scalar(
            "SELECT payload->$2->>'reference' FROM events \
             WHERE aggregate_type = 'booking' AND aggregate_id = $1 AND event_type = $2",
        )
        .bind(booking)
        .bind(event)
        .fetch_one(&self.app.db.pool)
        .await
        .unwrap()
    }

    /// Runs recovery until it has nothing left to do.
    async fn recover(&self) {
        while recovery::recover_once(&self.state, 10).await.unwrap() != Outcome::Idle {}
    }

    async fn assert_verified(&self) {
        let report = airline::verify::run(&self.app.db.pool, Duration::ZERO)
            .await
            .unwrap();
        assert!(report.is_clean(), "{report}");
    }

    /// Every call carried a key, and none was refused for reusing a key with other parameters.
    fn assert_every_call_keyed(&self) {
        for call in self.fake.calls() {
            assert!(call.idempotency_key.is_some(), "{call:?}");
        }
    }
}

fn status(state: &domain::booking::BookingState) -> BookingStatus {
    state.status
}

#[tokio::test]
async fn stripe_books_pays_cancels_and_refunds_end_to_end() {
    let s = stripe_app(Duration::from_secs(5)).await;
    let booking = s.booking().await;
    let total = booking["total"]["amount_minor"].as_i64().unwrap();
    let paid = s.pay(&booking, "pm_card_visa").await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    assert_eq!(paid.json()["status"], "confirmed");
    let intents = s.fake.intents();
    assert_eq!(intents.len(), 1, "{intents:?}");
    let intent = &intents[0];
    assert_eq!(
        paid.json()["payment_reference"].as_str(),
        Some(intent.id.as_str())
    );
    assert_eq!(
        (
            intent.status.as_str(),
            intent.amount,
            intent.amount_captured,
            intent.currency.as_str()
        ),
        ("succeeded", total, total, "eur")
    );
    let id = booking["id"].as_str().unwrap();
    assert!(s.reference(id, "PaymentCaptured").await.starts_with("ch_"));

    let cancelled = s.cancel(&booking).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    // Within 24 hours of booking a refundable fare is refunded in full.
    assert_eq!(s.fake.refunds(), [(intent.id.clone(), total)]);
    assert_eq!(
        status(&s.app.booking_state(id).await),
        BookingStatus::Cancelled
    );
    assert!(s.reference(id, "RefundIssued").await.starts_with("re_"));
    assert_eq!(
        s.ledger().await,
        [
            ("authorization".to_owned(), "captured".to_owned()),
            ("refund".to_owned(), "refunded".to_owned())
        ]
    );
    s.assert_every_call_keyed();
    s.assert_verified().await;
}

#[tokio::test]
async fn stripe_card_errors_are_declines_and_reserve_nothing() {
    let s = stripe_app(Duration::from_secs(5)).await;
    let booking = s.booking().await;
    for card in [
        "pm_card_chargeDeclined",
        "pm_card_authenticationRequired",
        "not-a-payment-method",
    ] {
        s.pay(&booking, card)
            .await
            .assert_problem(402, "payment_declined");
    }
    let id = booking["id"].as_str().unwrap();
    assert_eq!(status(&s.app.booking_state(id).await), BookingStatus::Held);
    let left: Vec<String> = s.fake.intents().into_iter().map(|i| i.status).collect();
    assert_eq!(
        left,
        ["requires_payment_method", "canceled"],
        "the declined intent holds nothing; the one needing 3-D Secure was released"
    );
    let statuses: Vec<String> = s.ledger().await.into_iter().map(|(_, st)| st).collect();
    assert_eq!(statuses, ["declined", "declined", "declined"]);
    // The same customer pays with a good card afterwards.
    let paid = s.pay(&booking, "pm_card_mastercard").await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    s.assert_every_call_keyed();
    s.assert_verified().await;
}

#[tokio::test]
async fn stripe_failing_hanging_or_losing_answers_is_503_and_recovery_releases_the_rest() {
    let s = stripe_app(Duration::from_millis(400)).await;
    let booking = s.booking().await;
    for mode in [Mode::Fail, Mode::Hang, Mode::LoseAnswers] {
        s.fake.set_mode(mode);
        s.pay(&booking, "pm_card_visa")
            .await
            .assert_problem(503, "payment_provider_unavailable");
        s.fake.set_mode(Mode::Normal);
        s.recover().await;
    }
    let statuses: Vec<String> = s.ledger().await.into_iter().map(|(_, st)| st).collect();
    assert_eq!(statuses, ["voided", "voided", "voided"]);
    // Only the attempt whose answer was lost reached Stripe; recovery found that very intent again
    // under its key (no second one) and released it. The others were made by recovery's own ask under
    // their keys, and released.
    let intents = s.fake.intents();
    assert_eq!(intents.len(), 3, "{intents:?}");
    assert!(
        intents
            .iter()
            .all(|i| i.status == "canceled" && i.captures == 0),
        "{intents:?}"
    );
    assert!(
        s.fake.calls().iter().any(|c| c.replayed),
        "the lost answer was replayed"
    );
    let id = booking["id"].as_str().unwrap();
    assert_eq!(status(&s.app.booking_state(id).await), BookingStatus::Held);
    s.assert_every_call_keyed();
    s.assert_verified().await;
}

#[tokio::test]
async fn stripe_captures_and_refunds_that_failed_are_finished_by_recovery_once() {
    let s = stripe_app(Duration::from_secs(5)).await;
    let booking = s.booking().await;
    let total = booking["total"]["amount_minor"].as_i64().unwrap();
    s.fake.fail_calls_ending(Some("/capture"));
    // The booking is confirmed: its authorization committed; the capture is owed.
    let paid = s.pay(&booking, "pm_card_visa").await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    assert_eq!(s.ledger().await[0].1, "authorized");
    s.fake.fail_calls_ending(Some("/v1/refunds"));
    s.recover().await;
    let cancelled = s.cancel(&booking).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    assert_eq!(s.ledger().await[1].1, "pending");
    assert!(s.fake.refunds().is_empty());
    s.fake.fail_calls_ending(None);
    s.recover().await;
    let intent = &s.fake.intents()[0];
    assert_eq!((intent.captures, intent.amount_captured), (1, total));
    assert_eq!(s.fake.refunds(), [(intent.id.clone(), total)]);
    let statuses: Vec<String> = s.ledger().await.into_iter().map(|(_, st)| st).collect();
    assert_eq!(statuses, ["captured", "refunded"]);
    s.assert_every_call_keyed();
    s.assert_verified().await;
}

#[tokio::test]
async fn stripe_answers_a_repeated_key_as_the_first_call_and_charges_once() {
    let fake = FakeStripe::start().await;
    let provider = StripeProvider::new(&fake.settings(Duration::from_millis(400))).unwrap();
    let amount = Money::try_new(12_000, Currency::parse("JPY").unwrap()).unwrap();
    let first = provider
        .authorize("auth-k-1", "pm_card_visa", amount)
        .await
        .unwrap();
    let again = provider
        .authorize("auth-k-1", "pm_card_visa", amount)
        .await
        .unwrap();
    assert_eq!(first, again);
    let authorization = command_api::payments::Authorization {
        key: "auth-k-1",
        reference: Some(&first.reference),
        card_token: Some("pm_card_visa"),
        amount,
    };
    // The capture goes through, but its answer is lost: the caller sees "unavailable" and retries.
    fake.set_mode(Mode::LoseAnswers);
    assert_eq!(
        provider.capture(authorization).await,
        Err(PaymentError::Unavailable)
    );
    fake.set_mode(Mode::Normal);
    let captured = provider.capture(authorization).await.unwrap();
    assert!(captured.reference.starts_with("ch_"), "{captured:?}");
    let intents = fake.intents();
    assert_eq!(intents.len(), 1);
    assert_eq!(
        (
            intents[0].captures,
            intents[0].amount_captured,
            intents[0].currency.as_str()
        ),
        (1, 12_000, "jpy")
    );
    let replays = fake.calls().iter().filter(|c| c.replayed).count();
    assert_eq!(replays, 2, "{:?}", fake.calls());
    // A wrong key is refused by Stripe: unavailable, never a decline the customer would be told of.
    let mut wrong = fake.settings(Duration::from_millis(400));
    wrong.stripe_api_key = Some("sk_test_wrong".to_owned().into());
    let refused = StripeProvider::new(&wrong).unwrap();
    assert_eq!(
        refused.authorize("auth-k-2", "pm_card_visa", amount).await,
        Err(PaymentError::Unavailable)
    );
}

#[tokio::test]
async fn stripe_is_refused_over_a_certificate_it_does_not_trust() {
    let fake = FakeStripe::start().await;
    let mut untrusting = fake.settings(Duration::from_secs(2));
    untrusting.ca_file = None;
    let provider = StripeProvider::new(&untrusting).unwrap();
    let amount = Money::try_new(100, Currency::parse("EUR").unwrap()).unwrap();
    assert_eq!(
        provider.authorize("auth-k-3", "pm_card_visa", amount).await,
        Err(PaymentError::Unavailable)
    );
    assert!(
        fake.calls().is_empty(),
        "a request crossed an untrusted TLS handshake"
    );
}

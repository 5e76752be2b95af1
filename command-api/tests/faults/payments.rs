//! The payment steps' faults, each run twice: through the test cards, and through the Stripe adapter
//! against the fake Stripe over HTTPS. A crash at each step boundary leaves the same ledger, the same
//! calls to the provider after the restart, and `verify` clean; through Stripe the fake's own books
//! show it too (one intent per attempt, captured at most once, refunded once).

use std::sync::Arc;
use std::time::Duration;

use command_api::payments::{PaymentProvider, ProviderCall, StripeProvider, TestCardProvider};
use command_api::state::AppState;
use fail::FailScenario;
use serde_json::{Value, json};
use testkit::stripe::FakeStripe;

use crate::helpers::{self, TestApp, spawn_app, start_with};
use crate::{assert_consistent, booking_status, ledger, pay_with_key, recover};

/// Which provider a test pays through.
#[derive(Debug, Clone, Copy)]
enum Via {
    TestCard,
    Stripe,
}

/// What a provider was asked to do that moved (or released) money; a repeated call that Stripe
/// answered from its idempotency record is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Authorize,
    Capture,
    Void,
    Refund,
}

/// A command API paying through one provider, and the fake when that provider is Stripe.
struct Rig {
    app: TestApp,
    address: String,
    fake: Option<FakeStripe>,
}

/// An instance started on the rig's database, as after a restart, and where its provider's record
/// of calls began.
struct Restarted {
    address: String,
    state: AppState,
    card: Option<TestCardProvider>,
    since: usize,
}

impl Rig {
    async fn new(via: Via) -> Self {
        let app = spawn_app().await;
        let mut rig = Self {
            address: app.address.clone(),
            app,
            fake: match via {
                Via::TestCard => None,
                Via::Stripe => Some(FakeStripe::start().await),
            },
        };
        if rig.fake.is_some() {
            rig.address = rig.restart().await.address;
        }
        rig
    }

    /// A new instance on the same database, paying through the same provider.
    async fn restart(&self) -> Restarted {
        let keys = (self.app.public_pem.as_str(), &self.app.clock);
        let (provider, card, settings): (Arc<dyn PaymentProvider>, _, _) = match &self.fake {
            None => {
                let card = TestCardProvider::default();
                (Arc::new(card.clone()), Some(card), None)
            }
            Some(fake) => {
                let settings = fake.settings(Duration::from_secs(5));
                let stripe = StripeProvider::new(&settings).unwrap();
                (Arc::new(stripe), None, Some(settings))
            }
        };
        let since = self.fake.as_ref().map_or(0, |f| f.calls().len());
        let (address, state) = start_with(&self.app.db, keys, 4, provider, |s| {
            if let Some(settings) = settings {
                s.payments = settings;
            }
        })
        .await;
        Restarted {
            address,
            state,
            card,
            since,
        }
    }

    /// What the provider was asked since `restarted` started.
    fn asked(&self, restarted: &Restarted) -> Vec<Asked> {
        match (&self.fake, &restarted.card) {
            (Some(fake), _) => fake.calls()[restarted.since..]
                .iter()
                .filter(|c| !c.replayed)
                .map(|c| match c.path.as_str() {
                    "/v1/payment_intents" => Asked::Authorize,
                    "/v1/refunds" => Asked::Refund,
                    p if p.ends_with("/capture") => Asked::Capture,
                    p if p.ends_with("/cancel") => Asked::Void,
                    p => panic!("an unexpected call to the fake Stripe: {p}"),
                })
                .collect(),
            (None, Some(card)) => card
                .calls()
                .iter()
                .map(|c| match c {
                    ProviderCall::Authorize(..) => Asked::Authorize,
                    ProviderCall::Capture(..) => Asked::Capture,
                    ProviderCall::Void(..) => Asked::Void,
                    ProviderCall::Refund(..) => Asked::Refund,
                })
                .collect(),
            (None, None) => unreachable!("a test-card restart keeps its provider"),
        }
    }

    /// Through Stripe: the fake holds exactly these intents' statuses (oldest first), none captured
    /// twice, and `refunds` refunds.
    fn assert_stripe_books(&self, statuses: &[&str], refunds: usize) {
        let Some(fake) = &self.fake else { return };
        let intents = fake.intents();
        let mut seen: Vec<&str> = intents.iter().map(|i| i.status.as_str()).collect();
        let mut expected = statuses.to_vec();
        seen.sort_unstable();
        expected.sort_unstable();
        assert_eq!(seen, expected, "{intents:?}");
        assert!(intents.iter().all(|i| i.captures <= 1), "{intents:?}");
        assert_eq!(fake.refunds().len(), refunds, "{:?}", fake.refunds());
    }

    /// A flight, and a booking of seat 10A on it.
    async fn book(&self) -> (uuid::Uuid, Value) {
        let flight = self.app.scheduled_flight().await;
        let booked = self.app.book(&self.app.customer, flight, &["10A"]).await;
        assert_eq!(booked.status, 201, "{}", booked.json());
        (flight, booked.json())
    }

    async fn cancel(&self, booking: &Value) -> helpers::Response {
        let id = booking["id"].as_str().unwrap();
        let request = self
            .app
            .client
            .post(format!("{}/api/v1/bookings/{id}/cancel", self.address))
            .bearer_auth(&self.app.customer)
            .json(&json!({}));
        self.app.send(request).await
    }
}

/// Each body runs as two tests: through the test cards, and through Stripe.
macro_rules! through_both {
    ($body:ident: $card:ident, $stripe:ident) => {
        #[tokio::test]
        async fn $card() {
            $body(Via::TestCard).await;
        }

        #[tokio::test]
        async fn $stripe() {
            $body(Via::Stripe).await;
        }
    };
}

through_both!(crash_after_authorizing:
    a_crash_after_authorizing_leaves_an_authorization_that_recovery_voids,
    through_stripe_a_crash_after_authorizing_leaves_an_intent_that_recovery_cancels);

async fn crash_after_authorizing(via: Via) {
    let scenario = FailScenario::setup();
    let rig = Rig::new(via).await;
    let (_, booking) = rig.book().await;
    fail::cfg("pay.after_authorize", "return").unwrap();
    let crashed = pay_with_key(&rig.app, &rig.address, &booking, "pay-1").await;
    assert_eq!(crashed.status, 500);
    fail::remove("pay.after_authorize");
    assert_eq!(
        ledger(&rig.app).await,
        [("authorization".into(), "authorizing".into())]
    );
    rig.assert_stripe_books(&["requires_capture"], 0);

    let restarted = rig.restart().await;
    recover(&restarted.state).await;
    assert_eq!(
        ledger(&rig.app).await,
        [("authorization".into(), "voided".into())]
    );
    // Through Stripe the intent's id was never recorded: recovery asks again under the same key,
    // which answers the same intent, and cancels it.
    assert_eq!(rig.asked(&restarted), [Asked::Void]);
    rig.assert_stripe_books(&["canceled"], 0);
    let id = booking["id"].as_str().unwrap();
    assert_eq!(
        booking_status(&restarted.state, id).await.status,
        domain::booking::BookingStatus::Held
    );
    assert_consistent(&rig.app).await;

    // The customer pays again: a new attempt, confirmed and captured.
    let paid = pay_with_key(&rig.app, &restarted.address, &booking, "pay-2").await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    rig.assert_stripe_books(&["canceled", "succeeded"], 0);
    assert_consistent(&rig.app).await;
    scenario.teardown();
}

through_both!(failed_commit:
    a_commit_that_fails_voids_the_authorization_at_once,
    through_stripe_a_commit_that_fails_cancels_the_intent_at_once);

async fn failed_commit(via: Via) {
    let scenario = FailScenario::setup();
    let rig = Rig::new(via).await;
    let (flight, booking) = rig.book().await;
    fail::cfg("executor.before_commit", "return").unwrap();
    let failed = pay_with_key(&rig.app, &rig.address, &booking, "pay-1").await;
    fail::remove("executor.before_commit");
    assert_eq!(failed.status, 500);
    assert_eq!(
        ledger(&rig.app).await,
        [("authorization".into(), "voided".into())]
    );
    rig.assert_stripe_books(&["canceled"], 0);
    let seat = rig
        .app
        .flight_state(flight)
        .await
        .seat_status(helpers::seat("10A"));
    assert_eq!(seat, domain::flight::SeatStatus::Held);
    assert_consistent(&rig.app).await;
    scenario.teardown();
}

through_both!(crash_after_commit:
    a_crash_after_the_commit_is_answered_by_a_retry_and_captured_by_recovery,
    through_stripe_a_crash_after_the_commit_is_answered_by_a_retry_and_captured_once);

async fn crash_after_commit(via: Via) {
    let scenario = FailScenario::setup();
    let rig = Rig::new(via).await;
    let (_, booking) = rig.book().await;
    fail::cfg("executor.after_commit", "return").unwrap();
    let crashed = pay_with_key(&rig.app, &rig.address, &booking, "pay-once").await;
    fail::remove("executor.after_commit");
    assert_eq!(crashed.status, 500);

    let restarted = rig.restart().await;
    let retried = pay_with_key(&rig.app, &restarted.address, &booking, "pay-once").await;
    assert_eq!(retried.status, 200, "{}", retried.json());
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.json()["status"], "confirmed");
    recover(&restarted.state).await;
    assert_eq!(rig.asked(&restarted), [Asked::Capture]);
    assert_eq!(
        ledger(&rig.app).await,
        [("authorization".into(), "captured".into())]
    );
    rig.assert_stripe_books(&["succeeded"], 0);
    assert_consistent(&rig.app).await;
    scenario.teardown();
}

through_both!(crash_before_capture:
    a_crash_before_the_capture_is_found_by_verify_and_finished_by_recovery,
    through_stripe_a_crash_before_the_capture_is_found_by_verify_and_captured_once_by_recovery);

async fn crash_before_capture(via: Via) {
    let scenario = FailScenario::setup();
    let rig = Rig::new(via).await;
    let (_, booking) = rig.book().await;
    fail::cfg("pay.before_capture", "return").unwrap();
    let paid = pay_with_key(&rig.app, &rig.address, &booking, "pay").await;
    fail::remove("pay.before_capture");
    assert_eq!(paid.status, 200);
    assert_eq!(paid.json()["captured"], false);
    rig.assert_stripe_books(&["requires_capture"], 0);
    let report = airline::verify::run(&rig.app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        !report.is_clean(),
        "verify missed an uncaptured payment:\n{report}"
    );

    let restarted = rig.restart().await;
    recover(&restarted.state).await;
    assert_eq!(rig.asked(&restarted), [Asked::Capture]);
    let id = booking["id"].as_str().unwrap();
    assert!(
        booking_status(&restarted.state, id)
            .await
            .captured
            .is_some()
    );
    rig.assert_stripe_books(&["succeeded"], 0);
    assert_consistent(&rig.app).await;
    scenario.teardown();
}

through_both!(crash_before_refund:
    a_crash_before_the_refund_is_found_by_verify_and_paid_by_recovery,
    through_stripe_a_crash_before_the_refund_is_found_by_verify_and_refunded_once_by_recovery);

async fn crash_before_refund(via: Via) {
    let scenario = FailScenario::setup();
    let rig = Rig::new(via).await;
    let (_, booking) = rig.book().await;
    let paid = pay_with_key(&rig.app, &rig.address, &booking, "pay").await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    fail::cfg("refund.before_refund", "return").unwrap();
    let cancelled = rig.cancel(&booking).await;
    fail::remove("refund.before_refund");
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["refunded"], false);
    rig.assert_stripe_books(&["succeeded"], 0);
    let report = airline::verify::run(&rig.app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        !report.is_clean(),
        "verify missed a refund not paid:\n{report}"
    );

    let restarted = rig.restart().await;
    recover(&restarted.state).await;
    assert_eq!(rig.asked(&restarted), [Asked::Refund]);
    let id = booking["id"].as_str().unwrap();
    let s = booking_status(&restarted.state, id).await;
    assert_eq!(s.refund_issued, s.refund);
    rig.assert_stripe_books(&["succeeded"], 1);
    assert_consistent(&rig.app).await;
    scenario.teardown();
}

//! Honest overload: past the executor's bounds a request is refused at once with 503 `overloaded` and
//! `Retry-After`, having committed nothing; every other answer is the decision's own.

use std::sync::Arc;

use command_api::payments::TestCardProvider;
use futures::StreamExt;

use crate::helpers::{Authorize, AuthorizingWith, TestApp, spawn_app, start_with};

/// Every economy seat of the test aircraft (rows 10–14, `ABC DEF`).
fn seats() -> Vec<String> {
    (10..=14)
        .flat_map(|row| ["A", "B", "C", "D", "E", "F"].map(|l| format!("{row}{l}")))
        .collect()
}

async fn flood(
    app: &TestApp,
    address: &str,
    flight: uuid::Uuid,
) -> Vec<(u16, serde_json::Value, bool)> {
    let requests = seats()
        .into_iter()
        .cycle()
        .take(240)
        .enumerate()
        .map(|(n, seat)| {
            let token = app.token(uuid::Uuid::new_v4(), infra::auth::Role::Customer);
            let body = testkit::bodies::booking(flight, &[seat.as_str()], "Flood");
            let request = app
                .client
                .post(format!("{address}/api/v1/bookings"))
                .bearer_auth(token)
                .header("idempotency-key", format!("flood-{n}"))
                .json(&body);
            async move {
                let response = request.send().await.unwrap();
                let retry_after = response.headers().contains_key("retry-after");
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<serde_json::Value>().await.unwrap(),
                    retry_after,
                )
            }
        });
    futures::stream::iter(requests)
        .buffer_unordered(240)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_bounds_is_refused_at_once_and_a_refusal_commits_nothing() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let keys = (app.public_pem.as_str(), &app.clock);
    let provider = Arc::new(TestCardProvider::default());
    let (address, _state) = start_with(&app.db, keys, 4, provider, |s| {
        s.booking.queue.max_per_lane = 4;
        s.booking.queue.max_total = 8;
    })
    .await;
    let answers = flood(&app, &address, flight).await;
    let count = |status| answers.iter().filter(|(s, _, _)| *s == status).count();
    let (booked, refused, overloaded) = (count(201), count(409), count(503));
    assert_eq!(booked + refused + overloaded, answers.len(), "{answers:?}");
    assert!(overloaded > 0, "the flood never met the bounds");
    for (status, body, retry_after) in &answers {
        if *status == 503 {
            assert_eq!(body["code"], "overloaded", "{body}");
            assert!(retry_after, "a 503 without Retry-After");
        }
    }
    // Every 201 is a booking in the log and nothing else is: a refusal held no seat.
    let placed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(placed as usize, booked);
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'SeatsHeld'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(held as usize, booked);
    // A refused key was never claimed (or was let go at once): nothing is left in flight.
    let free: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE state = 'in_flight'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(free, 0, "a refused request kept its key claimed");
    let report = airline::verify::run(&app.db.pool, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

/// An authorization that never answers the first time, and is the test provider's after.
#[derive(Debug, Default)]
struct HangsOnce(std::sync::atomic::AtomicBool);

impl Authorize for HangsOnce {
    fn authorize<'a>(
        &'a self,
        inner: &'a TestCardProvider,
        key: &'a str,
        card_token: &'a str,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(std::future::pending());
        }
        command_api::payments::PaymentProvider::authorize(inner, key, card_token, amount)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_before_its_decision_is_queued_leaves_its_key_free() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let keys = (app.public_pem.as_str(), &app.clock);
    let provider = Arc::new(AuthorizingWith::<HangsOnce>::default());
    let (address, state) = start_with(&app.db, keys, 4, provider, |_| {}).await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let id = booking["id"].as_str().unwrap();
    let pay = || {
        app.client
            .post(format!("{address}/api/v1/bookings/{id}/payment"))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "pay-once")
            .json(&testkit::bodies::payment(&booking))
    };
    // The provider never answers; the client gives up and hangs up.
    let gave_up = pay()
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    // The server lets the key go once it sees the client gone: the row is deleted, which a lapsed lease
    // never does (a lapsed claim stays `in_flight` until a retry takes it over).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let claimed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE key = 'pay-once'")
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        if claimed == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the abandoned claim is still held"
        );
        tokio::task::yield_now().await;
    }
    // Recovery voids the authorization the hang left; the retry with the same key then pays.
    while command_api::process::recovery::recover_once(&state, 100)
        .await
        .unwrap()
        != command_api::process::Outcome::Idle
    {}
    let retried = app.send(pay()).await;
    assert_eq!(retried.status, 200, "{}", retried.json());
    assert_eq!(retried.json()["status"], "confirmed");
}

/// Authorizes once `gate` is opened, holding the payment request (asynchronously) until then.
#[derive(Debug)]
struct WaitsForGate(std::sync::Arc<tokio::sync::Notify>);

impl Authorize for WaitsForGate {
    fn authorize<'a>(
        &'a self,
        inner: &'a TestCardProvider,
        key: &'a str,
        card_token: &'a str,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        Box::pin(async move {
            self.0.notified().await;
            command_api::payments::PaymentProvider::authorize(inner, key, card_token, amount).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_its_lease_keeps_its_key_and_a_retry_waits_for_its_outcome() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let provider = AuthorizingWith {
        inner: TestCardProvider::default(),
        hook: WaitsForGate(gate.clone()),
    };
    let keys = (app.public_pem.as_str(), &app.clock);
    let (address, _) = start_with(&app.db, keys, 4, std::sync::Arc::new(provider), |_| {}).await;
    let pay = || {
        app.client
            .post(format!(
                "{address}{}",
                testkit::bodies::payment_path(&booking)
            ))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "slow-pay")
            .json(&testkit::bodies::payment(&booking))
    };
    let lease = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT max(lease_until) FROM idempotency_keys WHERE key = 'slow-pay'",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
    };
    // While the payment waits on its provider for longer than the lease (2 s in tests), its claim's
    // lease is renewed: wait for a renewal, then a retry is told the request is still running (it does
    // not take the key over); then the provider answers.
    let retry_once_renewed = async {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut first_seen = None;
        loop {
            match (first_seen, lease().await) {
                (None, Some(at)) => first_seen = Some(at),
                (Some(before), Some(at)) if at > before => break,
                _ => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the lease was never renewed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let retry = app.send(pay()).await;
        gate.notify_one();
        retry
    };
    let (first, retry) = tokio::join!(app.send(pay()), retry_once_renewed);
    assert_eq!(retry.status, 409, "{}", retry.json());
    assert_eq!(retry.json()["code"], "idempotency_key_in_flight");
    assert_eq!(first.status, 200, "{}", first.json());
    let again = app.send(pay()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.bytes, first.bytes);
}

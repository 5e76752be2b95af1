//! Email and webhook delivery end to end: relay, consumers, inbox dedup, retries and dead letters.
//! Past 400 lines on purpose: one test per delivery outcome, sharing one setup.

use std::time::Duration;

use chrono::Duration as Span;
use command_api::process::{booking, disruption, expiry};
use domain::values::{BookingId, SeatNumber};
use infra::event_log::{Position, Subscription};

use crate::helpers::render;

use crate::helpers::{Receiver, TestApp, spawn_app};

async fn pay(app: &TestApp, id: uuid::Uuid, owner: infra::auth::Principal) {
    let state = app
        .commands
        .executor
        .load::<domain::booking::Booking>(&id.to_string())
        .await
        .unwrap();
    let total = state.aggregate.state().unwrap().total;
    booking::pay(
        &app.commands,
        owner,
        &TestApp::meta(),
        (BookingId::from_uuid(id), None),
        ("tok_visa", total),
        render(),
    )
    .await
    .unwrap();
}

/// The delivery log once its newest delivery has an outcome (the receiver answers before the notifier
/// records it).
async fn settled_log(app: &TestApp, webhook: uuid::Uuid) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log: serde_json::Value = app
            .client
            .get(format!(
                "{}/api/v1/webhooks/{webhook}/deliveries",
                app.notifier
            ))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log[0]["status"] == "delivered" || tokio::time::Instant::now() >= deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookings_life_sends_the_right_emails_and_signed_webhooks() {
    let app = spawn_app().await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = app.create_webhook(&receiver.url, &["booking.*"]).await;
    receiver.set_secret(&secret);
    let flight = app.flight().await;
    let (id, owner) = app.book(flight, &["10A", "10B"], "ada@example.com").await;
    pay(&app, id, owner).await;
    let change = (0, 1, SeatNumber::parse("12F").unwrap());
    booking::change_seat(
        &app.commands,
        owner,
        &TestApp::meta(),
        (BookingId::from_uuid(id), None),
        change,
        render(),
    )
    .await
    .unwrap();
    booking::cancel(
        &app.commands,
        owner,
        &TestApp::meta(),
        (BookingId::from_uuid(id), None),
        render(),
    )
    .await
    .unwrap();
    app.relay_all().await;

    let mails = app.sink.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 5, "{mails:#?}");
    let pnr = app
        .commands
        .executor
        .load::<domain::booking::Booking>(&id.to_string())
        .await
        .unwrap()
        .aggregate
        .state()
        .unwrap()
        .pnr
        .to_string();
    let subjects: Vec<_> = mails.iter().map(|m| m.subject.clone()).collect();
    assert!(
        subjects[0].starts_with(&format!("Booking {pnr}: seats held until")),
        "{subjects:?}"
    );
    assert_eq!(subjects[1], format!("Booking {pnr} confirmed"));
    assert_eq!(subjects[2], format!("Booking {pnr}: seat changed"));
    assert_eq!(subjects[3], format!("Booking {pnr} cancelled"));
    assert_eq!(subjects[4], format!("Booking {pnr}: refund sent"));
    for mail in &mails {
        assert_eq!(mail.to, ["ada@example.com"]);
        assert!(
            mail.text().contains("1. Flight AF1234 from CDG, ")
                && mail.text().contains("local time, to JFK, "),
            "{}",
            mail.text()
        );
    }
    assert!(
        mails[0].text().contains("Pay 258.00 EUR before"),
        "{}",
        mails[0].text()
    );
    assert!(mails[1].text().contains("We received 258.00 EUR"));
    assert!(
        mails[2]
            .text()
            .contains("Ada Lovelace moved from seat 10B to seat 12F")
    );
    assert!(
        mails[3].text().contains("Refund: 258.00 EUR."),
        "{}",
        mails[3].text()
    );

    assert!(
        mails[4].text().contains("refund of 258.00 EUR"),
        "{}",
        mails[4].text()
    );

    let hooks = receiver.wait_for(6).await;
    let types: Vec<_> = hooks
        .iter()
        .map(|h| h["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "BookingPlaced",
            "BookingConfirmed",
            "PaymentCaptured",
            "PassengerSeatChanged",
            "BookingCancelled",
            "RefundIssued"
        ]
    );
    assert_eq!(
        receiver
            .bad_signatures
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // The sink holds the last mail a moment before the notifier records it as sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let recorded: Vec<(String, String, i32)> = loop {
        let rows: Vec<(String, String, i32)> =
            sqlx::query_as("SELECT kind, status, attempts FROM notifications ORDER BY created_at")
                .fetch_all(&app.db.pool)
                .await
                .unwrap();
        if rows.iter().all(|(_, status, _)| status == "sent")
            || tokio::time::Instant::now() >= deadline
        {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let kinds: Vec<_> = recorded
        .iter()
        .map(|(k, s, a)| (k.as_str(), s.as_str(), *a))
        .collect();
    assert_eq!(
        kinds,
        [
            ("booking_held", "sent", 1),
            ("booking_confirmed", "sent", 1),
            ("seat_changed", "sent", 1),
            ("booking_cancelled", "sent", 1),
            ("refund_issued", "sent", 1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_cancellations_by_the_airline_and_expiries_are_told() {
    let app = spawn_app().await;
    let flight = app.flight().await;
    let (held, _) = app.book(flight, &["10A"], "held@example.com").await;
    let (paid, owner) = app.book(flight, &["11A"], "paid@example.com").await;
    pay(&app, paid, owner).await;
    // The unpaid hold lapses.
    app.clock.advance(Span::minutes(16));
    expiry::sweep_once(&app.commands, 10).await.unwrap();
    // The flight is delayed, then cancelled.
    let departure = app
        .commands
        .executor
        .load::<domain::flight::Flight>(&flight.to_string())
        .await
        .unwrap()
        .aggregate
        .state()
        .unwrap()
        .departure_at;
    let (at, arrival) = (departure + Span::hours(2), departure + Span::hours(10));
    let reason = domain::values::Label::parse("fog").unwrap();
    let delay = domain::flight::FlightCommand::Delay {
        departure_at: at,
        arrival_at: arrival,
        reason: reason.clone(),
        now: app.clock_now(),
    };
    let note = disruption::DelayNote {
        departure_at: at,
        arrival_at: arrival,
        reason,
    };
    let id = domain::values::FlightId::from_uuid(flight);
    let lane = command_api::executor::StreamKey::seats_of(id);
    app.commands
        .executor
        .run(
            lane.clone(),
            TestApp::meta(),
            disruption::delay(id, None, delay, note),
        )
        .await
        .unwrap();
    let cancel = domain::flight::FlightCommand::Cancel {
        reason: domain::values::Label::parse("strike").unwrap(),
        now: app.clock_now(),
    };
    let decide = disruption::cancel(id, None, cancel, app.clock_now());
    app.commands
        .executor
        .run(lane, TestApp::meta(), decide)
        .await
        .unwrap();
    app.relay_all().await;

    // held: held, expired. paid: held, confirmed, delayed, cancelled (by the airline).
    let mails = app.sink.wait_for(6, Duration::from_secs(10)).await;
    let to = |who: &str| {
        mails
            .iter()
            .filter(|m| m.to == [who])
            .cloned()
            .collect::<Vec<_>>()
    };
    let held_mails = to("held@example.com");
    assert_eq!(held_mails.len(), 2);
    assert!(held_mails[1].subject.ends_with("expired"));
    let paid_mails = to("paid@example.com");
    assert_eq!(paid_mails.len(), 4, "{paid_mails:#?}");
    assert!(paid_mails[2].subject.ends_with("your flight is delayed"));
    assert!(paid_mails[2].text().contains("Reason: fog."));
    assert!(paid_mails[3].subject.ends_with("cancelled"));
    assert!(paid_mails[3].text().contains("your flight was cancelled"));
    assert!(paid_mails[3].text().contains("Refund: 129.00 EUR."));
    let _ = held;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_delivered_twice_has_one_effect() {
    let app = spawn_app().await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = app
        .create_webhook(&receiver.url, &["booking.BookingPlaced"])
        .await;
    receiver.set_secret(&secret);
    let flight = app.flight().await;
    app.book(flight, &["10A"], "once@example.com").await;
    app.relay_all().await;
    assert_eq!(app.sink.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(receiver.wait_for(1).await.len(), 1);

    // The relay publishes the whole log again (as after a crash before its checkpoint committed).
    let relay = Subscription::new(projector::relay::SUBSCRIPTION);
    relay
        .save_checkpoint(
            &mut app.db.pool.acquire().await.unwrap(),
            Position::default(),
        )
        .await
        .unwrap();
    app.relay_all().await;
    // A later booking's email arriving means every message before it in the queue was handled.
    app.book(flight, &["10B"], "sentinel@example.com").await;
    app.relay_all().await;
    let mails = app.sink.wait_for(2, Duration::from_secs(10)).await;
    let hooks = receiver.wait_for(2).await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.to == ["once@example.com"])
            .count(),
        1
    );
    assert_eq!(mails.len(), 2);
    assert_eq!(hooks.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_or_notifier_interrupted_mid_stream_still_notifies_everyone_once() {
    let mut app = spawn_app().await;
    let flight = app.flight().await;
    let mut pnrs = Vec::new();
    for (i, seat) in ["10A", "10B", "10C", "10D", "10E", "10F", "11A", "11B"]
        .iter()
        .enumerate()
    {
        let (id, _) = app
            .book(flight, &[seat], &format!("p{i}@example.com"))
            .await;
        pnrs.push(
            app.commands
                .executor
                .load::<domain::booking::Booking>(&id.to_string())
                .await
                .unwrap()
                .aggregate
                .state()
                .unwrap()
                .pnr
                .to_string(),
        );
    }
    // One batch goes out, then the broker connection drops.
    app.relay.process_next_batch().await.unwrap();
    app.relay.disconnect().await;
    // The notifier process dies and comes back while the rest is published.
    app.stop_notifier();
    app.relay.process_next_batch().await.unwrap();
    // A relay that died after publishing but before its checkpoint committed republishes from earlier.
    let relay = Subscription::new(projector::relay::SUBSCRIPTION);
    relay
        .save_checkpoint(
            &mut app.db.pool.acquire().await.unwrap(),
            Position::default(),
        )
        .await
        .unwrap();
    app.start_notifier().await;
    app.relay_all().await;

    let mails = app.sink.wait_for(pnrs.len(), Duration::from_secs(15)).await;
    // Give duplicates a chance to show up: a sentinel behind them in the queue.
    let (sentinel, _) = app.book(flight, &["12A"], "sentinel@example.com").await;
    app.relay_all().await;
    let all = app
        .sink
        .wait_for(pnrs.len() + 1, Duration::from_secs(15))
        .await;
    assert!(mails.len() >= pnrs.len());
    for pnr in &pnrs {
        let count = all
            .iter()
            .filter(|m| m.subject.contains(pnr.as_str()))
            .count();
        assert_eq!(count, 1, "{pnr} was told {count} times");
    }
    assert_eq!(all.len(), pnrs.len() + 1);
    let _ = sentinel;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_fails_three_times_is_retried_until_it_succeeds() {
    let app = spawn_app().await;
    let receiver = Receiver::start(3).await;
    let (webhook, secret) = app
        .create_webhook(&receiver.url, &["booking.BookingPlaced"])
        .await;
    receiver.set_secret(&secret);
    let flight = app.flight().await;
    app.book(flight, &["10A"], "ada@example.com").await;
    app.relay_all().await;
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    assert_eq!(receiver.calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    let log = settled_log(&app, webhook).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["response_status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_dead_lettered_and_can_be_requeued() {
    let app = spawn_app().await;
    // Fails the first attempt and all three retries, then would succeed.
    let receiver = Receiver::start(4).await;
    let (webhook, secret) = app
        .create_webhook(&receiver.url, &["booking.BookingPlaced"])
        .await;
    receiver.set_secret(&secret);
    let flight = app.flight().await;
    app.book(flight, &["10A"], "ada@example.com").await;
    app.relay_all().await;

    let dead_letters = format!("{}/api/v1/admin/dead-letters/webhooks", app.notifier);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed: serde_json::Value = app
            .client
            .get(&dead_letters)
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if listed.as_array().is_some_and(|a| !a.is_empty()) {
            break listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing was dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(listed[0]["message"]["event_type"], "BookingPlaced");
    assert_eq!(listed[0]["attempts"], 4);
    assert!(
        listed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("webhook deliveries failed")
    );
    assert!(receiver.accepted().is_empty());

    let requeued: serde_json::Value = app
        .client
        .post(format!("{dead_letters}/requeue"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requeued["requeued"], 1);
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    let log = settled_log(&app, webhook).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 5);
}

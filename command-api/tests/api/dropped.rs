//! Callers that go away mid-request change nothing for the others: their decisions still commit (or
//! not) on the runner's task, and a retry with the same Idempotency-Key tells which.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_callers_of_a_busy_flight_hang_up_and_the_rest_all_succeed() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let seats: Vec<String> = (10..=14)
        .flat_map(|row| ["A", "B", "C", "D", "E", "F"].map(|l| format!("{row}{l}")))
        .filter(|s| !s.starts_with("12")) // the exit row wants adults only; keep it simple
        .collect();
    let request = |seat: &str, key: &str| {
        let body = json!({"flight_id": flight, "contact_email": "a@example.com",
            "passengers": [{"first_name": "A", "last_name": "B", "type": "adult", "seat": seat}]});
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", key.to_owned())
            .json(&body)
    };
    let keys: Vec<String> = seats.iter().map(|_| Uuid::new_v4().to_string()).collect();
    // Every other caller gives up after a moment (its connection is dropped mid-request).
    let calls = seats.iter().zip(&keys).enumerate().map(|(i, (seat, key))| {
        let send = app.send(request(seat, key));
        async move {
            if i % 2 == 0 {
                Some(send.await)
            } else {
                let patience = Duration::from_micros(rand::random_range(0..3_000));
                tokio::time::timeout(patience, send).await.ok()
            }
        }
    });
    let answers = futures::future::join_all(calls).await;
    let mut dropped = 0;
    for (i, answer) in answers.iter().enumerate() {
        match answer {
            Some(response) => assert_eq!(response.status, 201, "{}: {}", seats[i], response.json()),
            None => dropped += 1,
        }
    }
    assert!(dropped > 0, "no caller hung up; the test shows nothing");

    // A retry of each with its key answers what happened to it: committed (replayed) or run now.
    let mut replayed = 0;
    let mut booked = Vec::new();
    for (seat, key) in seats.iter().zip(&keys) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let response = loop {
            let response = app.send(request(seat, key)).await;
            // A dropped caller's decision may still be on its way to the commit.
            if response.status != 409 || tokio::time::Instant::now() > deadline {
                break response;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(response.status, 201, "{seat}: {}", response.json());
        if response.headers.get("idempotent-replayed").is_some() {
            replayed += 1;
        }
        booked.push(response.json()["id"].as_str().unwrap().to_owned());
    }
    assert!(
        replayed >= seats.len() / 2,
        "the callers that stayed were not replayed"
    );
    let mut placed: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    placed.sort();
    booked.sort();
    assert_eq!(
        placed, booked,
        "a booking exists that no answer names, or the other way round"
    );
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

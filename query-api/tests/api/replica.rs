//! `DATABASE_READ_URL`: search, seat maps, analytics and booking rows are read from the replica, and a
//! customer still reads their own writes when the replica is behind. The "replica" here is a second
//! database with the schema and only what a test copies into it: a replica that has fallen behind.

use chrono::{Duration, Utc};
use infra::testing::TestDatabase;
use serde_json::Value;

use crate::helpers::spawn_app;

/// Copies the rows of `table` matching `filter` from the primary to the stand-in replica, as replay would.
async fn replicate(from: &sqlx::PgPool, to: &sqlx::PgPool, table: &str, filter: &str) {
    let rows: Vec<Value> =
        sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM {table} t WHERE {filter}"))
            .fetch_all(from)
            .await
            .unwrap();
    for row in rows {
        sqlx::query(&format!(
            "INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, $1) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(row)
        .execute(to)
        .await
        .unwrap();
    }
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> (u16, Value) {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A flight CDG → JFK in 9 days with seat 10A held by the customer, projected.
async fn booked_and_projected() -> (
    crate::helpers::TestApp,
    uuid::Uuid,
    chrono::DateTime<Utc>,
    Value,
) {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    // Noon UTC, so that its date is the same in UTC and at the airport (search dates are local).
    let departure = (Utc::now() + Duration::days(9))
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    let flight = app
        .flight("AF1", ("CDG", "JFK"), departure, (1000, 100), aircraft)
        .await;
    let booking = app.book(&app.customer, flight, &["10A"]).await;
    app.project().await;
    (app, flight, departure, booking)
}

#[tokio::test]
async fn reads_come_from_the_replica_and_your_own_writes_from_the_primary_when_it_is_behind() {
    let (app, flight, departure, booking) = booked_and_projected().await;
    let replica = TestDatabase::create(2).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    let date = departure.format("%Y-%m-%d");
    let search = format!("/api/v1/flights?origin=CDG&destination=JFK&date={date}");

    for cached in [false, true] {
        let query = app.query_reading_from(&replica, cached).await;
        let client = reqwest::Client::new();
        let token = &app.customer;

        // Search reads the replica, which has no flights yet; the primary has one.
        let (status, page) = get(&client, format!("{query}{search}"), token).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            page["flights"].as_array().unwrap().len(),
            0,
            "cached {cached}: {page}"
        );
        let (_, primary) = app.get(&search, None).await;
        assert_eq!(primary["flights"].as_array().unwrap().len(), 1, "{primary}");

        // The seat map and the booking are not on the replica: the primary answers, with the seat held.
        let seats = format!("{query}/api/v1/flights/{flight}/seats");
        let (status, map) = get(&client, seats.clone(), token).await;
        assert_eq!(status, 200, "{map}");
        let seat = |map: &Value| {
            map["seats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["seat"] == "10A")
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(seat(&map), "held", "cached {cached}: {map}");
        let detail = format!("{query}/api/v1/bookings/{id}");
        let (status, view) = get(&client, detail.clone(), token).await;
        assert_eq!(
            (status, view["status"].as_str()),
            (200, Some("held")),
            "{view}"
        );
    }

    // The replica catches up with the flight and the booking as they were when placed ...
    let primary = &app.db.pool;
    for table in [
        "rm_flights",
        "rm_flight_cabins",
        "rm_flight_classes",
        "rm_seat_map_versions",
        "rm_seats",
    ] {
        replicate(
            primary,
            &replica.pool,
            table,
            &format!("flight_id = '{flight}'"),
        )
        .await;
    }
    replicate(
        primary,
        &replica.pool,
        "rm_bookings",
        &format!("booking_id = '{id}'"),
    )
    .await;
    sqlx::query("DELETE FROM rm_cache_generations")
        .execute(&replica.pool)
        .await
        .unwrap();
    replicate(primary, &replica.pool, "rm_cache_generations", "true").await;
    let query = app.query_reading_from(&replica, false).await;
    let client = reqwest::Client::new();
    let (_, page) = get(&client, format!("{query}{search}"), &app.customer).await;
    assert_eq!(page["flights"].as_array().unwrap().len(), 1, "{page}");
    // What the replica serves is its own copy: mark it to tell the two apart.
    sqlx::query(
        "UPDATE rm_bookings SET contact_email = 'replica@example.com' WHERE booking_id = $1",
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .execute(&replica.pool)
    .await
    .unwrap();
    let detail = format!("{query}/api/v1/bookings/{id}");
    let (_, view) = get(&client, detail.clone(), &app.customer).await;
    assert_eq!(view["contact_email"], "replica@example.com", "{view}");

    // ... and then the customer pays: the replica's row is older than the log, so the primary answers.
    app.pay(&app.customer, &booking).await;
    let (status, view) = get(&client, detail, &app.customer).await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("confirmed")),
        "{view}"
    );
    app.project().await;
    let (_, map) = get(
        &client,
        format!("{query}/api/v1/flights/{flight}/seats"),
        &app.customer,
    )
    .await;
    let sold = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == "10A")
        .unwrap()["status"]
        .clone();
    assert_eq!(
        sold, "sold",
        "the replica's stale seat map was served: {map}"
    );

    let (status, ready) = get(&client, format!("{query}/readyz"), &app.customer).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["replica"]["status"], "up", "{ready}");
}

#[tokio::test]
async fn a_replica_that_is_down_leaves_search_seat_maps_and_bookings_to_the_primary() {
    let (app, flight, departure, booking) = booked_and_projected().await;
    // Nothing listens there: every connection to the replica is refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = reqwest::Client::new();
    for cached in [false, true] {
        let query = app
            .query_reading_at(
                &format!("postgres://postgres@127.0.0.1:{dead}/none"),
                cached,
            )
            .await;
        let date = departure.format("%Y-%m-%d");
        let (status, page) = get(
            &client,
            format!("{query}/api/v1/flights?origin=CDG&destination=JFK&date={date}"),
            &app.customer,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["flights"].as_array().unwrap().len(), 1, "{page}");
        let (status, map) = get(
            &client,
            format!("{query}/api/v1/flights/{flight}/seats"),
            &app.customer,
        )
        .await;
        assert_eq!(status, 200, "{map}");
        let (status, view) = get(
            &client,
            format!(
                "{query}/api/v1/bookings/{}",
                booking["id"].as_str().unwrap()
            ),
            &app.customer,
        )
        .await;
        assert_eq!(
            (status, view["status"].as_str()),
            (200, Some("held")),
            "{view}"
        );
        let (status, report) = get(
            &client,
            format!("{query}/api/v1/analytics/revenue"),
            &app.admin,
        )
        .await;
        assert_eq!(status, 200, "analytics fall back to the primary: {report}");
        assert_eq!(report[0]["bookings"], 1, "{report}");
        let (status, ready) = get(&client, format!("{query}/readyz"), &app.customer).await;
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["status"], "degraded", "{ready}");
        assert_eq!(ready["replica"]["status"], "down", "{ready}");
    }
}

/// `host:port` of a Postgres URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap().to_owned()
}

#[tokio::test]
async fn a_replica_that_hangs_mid_query_slows_reads_by_seconds_and_the_primary_answers_them() {
    let (app, flight, departure, booking) = booked_and_projected().await;
    // The "replica" is the test's own database behind a proxy that can hang: connected, silent.
    let admin = std::env::var("DATABASE_URL").unwrap();
    let proxy = infra::testing::StallingProxy::start(&host_port(&admin)).await;
    let replica = format!(
        "postgres://postgres:postgres@127.0.0.1:{}/{}",
        proxy.port(),
        app.db.name
    );
    let query = app.query_reading_at(&replica, false).await;
    // A hung read must end in the client's time, not never.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let date = departure.format("%Y-%m-%d");
    let reads = [
        (
            format!("/api/v1/flights?origin=CDG&destination=JFK&date={date}"),
            &app.customer,
        ),
        (format!("/api/v1/flights/{flight}/seats"), &app.customer),
        (
            format!("/api/v1/bookings/{}", booking["id"].as_str().unwrap()),
            &app.customer,
        ),
        ("/api/v1/analytics/revenue".to_owned(), &app.admin),
    ];
    // Served by the replica first, so its pool holds open connections when it hangs.
    for (path, token) in &reads {
        let (status, body) = get(&client, format!("{query}{path}"), token).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, ready) = get(&client, format!("{query}/readyz"), &app.customer).await;
    assert_eq!(ready["replica"]["status"], "up", "{ready}");

    proxy.stall();
    for round in 0..2 {
        for (path, token) in &reads {
            let started = std::time::Instant::now();
            let (status, body) = get(&client, format!("{query}{path}"), token).await;
            assert_eq!(status, 200, "round {round}, {path}: {body}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(15),
                "round {round}, {path} waited {:?} on a hung replica",
                started.elapsed()
            );
        }
    }
    let (_, page) = get(&client, format!("{query}{}", reads[0].0), &app.customer).await;
    assert_eq!(page["flights"].as_array().unwrap().len(), 1, "{page}");
    let (status, ready) = get(&client, format!("{query}/readyz"), &app.customer).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["replica"]["status"], "down", "{ready}");

    // Resumed, the replica is up again.
    proxy.resume();
    let mut up = false;
    for _ in 0..50 {
        let (_, ready) = get(&client, format!("{query}/readyz"), &app.customer).await;
        if ready["replica"]["status"] == "up" {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(up, "the replica stayed down after it resumed");
}

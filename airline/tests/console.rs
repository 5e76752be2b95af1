//! The operations console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver against a child `airline all` with its own database, Redis
//! prefix and broker names. Each test signs in through the console's own form and leaves a screenshot
//! under `target/tmp/console-screenshots/`.
//!
//! Past 400 lines on purpose: one browser session setup shared by every page's test.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use infra::auth::{JwtSigner, Role};
use infra::testing::TestDatabase;
use notifier::sink::SmtpSink;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::support::{Airline, send, session_token};

const PASSWORD: &str = "Console-Test-Pass-2026";
/// How soon a change must show in an open page.
const LIVE: Duration = Duration::from_secs(2);

/// A running system with airports, an aircraft with two cabins and an exit row, flights, an admin and
/// a customer who can sign in with [`PASSWORD`], and API tokens.
struct World {
    airline: Airline,
    _db: TestDatabase,
    _sink: SmtpSink,
    http: reqwest::Client,
    /// An API token of an admin (made in the database, not for the form).
    admin: String,
    /// An API token of a customer.
    customer: String,
    admin_email: String,
    customer_email: String,
    flights: Vec<String>,
}

impl World {
    async fn start(flights: usize) -> Self {
        let db = TestDatabase::create(4).await;
        let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
        let airline = Airline::start(&db, &sink.url(), &[]).await;
        let signer = JwtSigner::new(&airline.private_key()).unwrap();
        let admin = session_token(&db, &signer, Role::Admin, testkit::GATEWAY_AUDIENCE).await;
        let http = reqwest::Client::new();
        let mut world = Self {
            customer: String::new(),
            admin_email: format!("ops-{}@airline.example", uuid::Uuid::new_v4().simple()),
            customer_email: format!("ada-{}@example.com", uuid::Uuid::new_v4().simple()),
            airline,
            _db: db,
            _sink: sink,
            http,
            admin,
            flights: Vec::new(),
        };
        let (email, customer_email) = (world.admin_email.clone(), world.customer_email.clone());
        let id = world.signup(&email).await;
        let (status, body) = world
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/users/{id}/role"),
                &world.admin.clone(),
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        world.signup(&customer_email).await;
        world.customer = world.login(&customer_email).await;
        world.schedule(flights).await;
        world
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.airline.gateway)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await.expect("the gateway answers")
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, token, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn signup(&self, email: &str) -> String {
        let request = self
            .http
            .post(self.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD}));
        let (status, body) = send(request).await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["user"]["id"].as_str().unwrap().to_owned()
    }

    async fn login(&self, email: &str) -> String {
        let request = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}));
        let (status, body) = send(request).await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn schedule(&mut self, flights: usize) {
        let admin = self.admin.clone();
        for (code, tz) in [("CDG", "Europe/Paris"), ("JFK", "America/New_York")] {
            let body = json!({"code": code, "name": format!("{code} Airport"), "city": "City", "country": "FR", "time_zone": tz});
            assert_eq!(self.post("/api/v1/airports", &admin, body).await.0, 201);
        }
        let aircraft = json!({"model": "A320", "cabins": [
            {"cabin": "business", "first_row": 1, "last_row": 3, "letters": "A DG K"},
            {"cabin": "economy", "first_row": 10, "last_row": 24, "letters": "ABC DEF", "exit_rows": [14]}]});
        let (status, aircraft) = self.post("/api/v1/aircraft", &admin, aircraft).await;
        assert_eq!(status, 201, "{aircraft}");
        for n in 0..flights {
            let departure = Utc::now() + Span::days(3 + n as i64);
            let flight = json!({"number": format!("AF{}", 10 + n), "origin": "CDG", "destination": "JFK",
                "departure_at": departure, "arrival_at": departure + Span::minutes(8 * 60 + 25), "aircraft_id": aircraft["id"],
                "fares": [
                    {"cabin": "business", "price": {"amount_minor": 150000, "currency": "EUR"},
                     "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}},
                    {"cabin": "economy", "price": {"amount_minor": 39900, "currency": "EUR"},
                     "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 5000, "currency": "EUR"}}}]});
            let (status, body) = self.post("/api/v1/flights", &admin, flight).await;
            assert_eq!(status, 201, "{body}");
            self.flights.push(body["id"].as_str().unwrap().to_owned());
        }
        // The console searches the read side: wait until it has every flight.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self
                .get(
                    "/api/v1/flights?origin=CDG&destination=JFK&limit=100",
                    &admin,
                )
                .await;
            if page["flights"].as_array().unwrap().len() == flights {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the flights never reached search"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Holds `seats` on `flight` as the customer; the booking.
    async fn book(&self, flight: &str, seats: &[&str]) -> Value {
        let passengers: Vec<Value> = seats
            .iter()
            .enumerate()
            .map(|(i, seat)| {
                let name = ["Ada", "Grace", "Alan"][i % 3];
                json!({"first_name": name, "last_name": "Tester", "type": "adult", "seat": seat})
            })
            .collect();
        let body = json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": passengers});
        let (status, booking) = self.post("/api/v1/bookings", &self.customer, body).await;
        assert_eq!(status, 201, "{booking}");
        booking
    }

    /// Holds places for `n` adults without seats on `flight`'s economy as the customer; the booking.
    async fn book_seatless(&self, flight: &str, n: usize) -> Value {
        let passengers: Vec<Value> = (0..n)
            .map(|_| json!({"first_name": "Ada", "last_name": "Tester", "type": "adult"}))
            .collect();
        let body = json!({"flight_id": flight, "cabin": "economy", "contact_email": "ada@example.com",
            "passengers": passengers});
        let (status, booking) = self.post("/api/v1/bookings", &self.customer, body).await;
        assert_eq!(status, 201, "{booking}");
        booking
    }

    async fn pay(&self, booking: &Value) {
        let id = booking["id"].as_str().unwrap();
        let body = json!({"card_token": "tok_visa", "amount": booking["total"]});
        let (status, paid) = self
            .post(
                &format!("/api/v1/bookings/{id}/payment"),
                &self.customer,
                body,
            )
            .await;
        assert_eq!(status, 200, "{paid}");
    }
}

/// Whether the page fits the screen's width (no sideways scrolling of the whole page).
const FITS: &str = "document.documentElement.scrollWidth <= window.innerWidth";

fn seat_status(seat: &str) -> String {
    format!("document.querySelector('td[data-seat=\"{seat}\"]')?.dataset.status ?? null")
}

#[tokio::test]
async fn the_seat_map_turns_held_then_sold_live_as_a_booking_is_made_and_paid() {
    let world = World::start(2).await;
    let browser = Browser::start(1280, 1500).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;

    // Open the flight from the search page, as a person would.
    browser
        .until(
            "document.querySelectorAll('#flight-list a.flight-link').length",
            Duration::from_secs(10),
            |v| v == &json!(2),
        )
        .await;
    browser.click("#flight-list a.flight-link").await;
    let flight = world.flights[0].clone();
    browser
        .until("location.hash", Duration::from_secs(5), |v| {
            v == &json!(format!("#/flights/{flight}"))
        })
        .await;
    browser
        .until(
            "document.getElementById('live-state').textContent",
            Duration::from_secs(10),
            |v| {
                v.as_str()
                    .is_some_and(|t| t.contains("live from the event log"))
            },
        )
        .await;
    assert_eq!(browser.eval(&seat_status("12A")).await, json!("free"));
    // Aisles come from the aircraft's layout: `A DG K` is window, aisle, a pair, aisle, window.
    let columns = "[...document.querySelectorAll('table.seatmap[data-cabin=business] thead tr > *')].map((c) => c.textContent || '|')";
    // The map is drawn at once and again when the aircraft's layout arrives: wait for that one.
    browser
        .until(columns, Duration::from_secs(5), |v| {
            v == &json!(["|", "A", "|", "D", "G", "|", "K"])
        })
        .await;
    // The skip link moves focus to the content and leaves the page (and its stream) where it is.
    browser
        .eval("document.querySelector('.skip').click()")
        .await;
    assert_eq!(
        browser.eval("document.activeElement.id").await,
        json!("view")
    );
    assert_eq!(
        browser.eval("location.hash").await,
        json!(format!("#/flights/{flight}"))
    );
    let business_left =
        "document.querySelector('.cabin-card[data-cabin=business] .seats-left').textContent";
    assert_eq!(browser.eval(business_left).await, json!("12"));
    assert_eq!(
        browser
            .eval("document.querySelectorAll('table.seatmap td.seat').length")
            .await,
        json!(12 + 15 * 6)
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('table.seatmap .exit-tag').length")
            .await,
        json!(1)
    );

    // Booked through the API: the open page shows the seats held within two seconds.
    let booking = world.book(&flight, &["12A", "12B"]).await;
    let booked = Instant::now();
    browser
        .until(&seat_status("12B"), LIVE, |v| v == &json!("held"))
        .await;
    assert_eq!(browser.eval(&seat_status("12A")).await, json!("held"));
    let held_after = booked.elapsed();
    assert!(held_after <= LIVE, "held shown after {held_after:?}");

    // Paid: sold within two seconds, and the economy count has gone down by two.
    world.pay(&booking).await;
    let paid = Instant::now();
    browser
        .until(&seat_status("12A"), LIVE, |v| v == &json!("sold"))
        .await;
    assert_eq!(browser.eval(&seat_status("12B")).await, json!("sold"));
    assert!(paid.elapsed() <= LIVE);
    let economy_left =
        "document.querySelector('.cabin-card[data-cabin=economy] .seats-left').textContent";
    assert_eq!(browser.eval(economy_left).await, json!("88"));
    // A seat nobody touched stays free; a second booking shows held beside the sold ones.
    assert_eq!(browser.eval(&seat_status("20F")).await, json!("free"));
    world.book(&flight, &["2A", "2D"]).await;
    browser
        .until(&seat_status("2D"), LIVE, |v| v == &json!("held"))
        .await;
    assert_eq!(browser.eval(business_left).await, json!("10"));
    browser.screenshot("seat-map").await;
    browser.close().await;
}

#[tokio::test]
async fn the_booking_timeline_lists_every_event_and_steps_back_to_an_earlier_version() {
    let world = World::start(1).await;
    let booking = world.book(&world.flights[0], &["11C"]).await;
    world.pay(&booking).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    // Placed, confirmed, then captured shortly after: wait for all three.
    let history_path = format!("/api/v1/bookings/{id}/history");
    let deadline = Instant::now() + Duration::from_secs(20);
    let history = loop {
        let history = world.get(&history_path, &world.admin).await;
        if history.as_array().unwrap().len() >= 3 {
            break history;
        }
        assert!(
            Instant::now() < deadline,
            "the payment was never captured: {history}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events = history.as_array().unwrap().len();

    let browser = Browser::start(1280, 1300).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;
    browser.goto(&world.url("/console/#/booking")).await;
    browser
        .until(
            "document.getElementById('booking-query') !== null",
            Duration::from_secs(5),
            |v| v == &json!(true),
        )
        .await;
    browser
        .type_into("#booking-query", booking["reference"].as_str().unwrap())
        .await;
    browser.click("#booking-form button[type=submit]").await;
    browser
        .until(
            "document.querySelectorAll('#timeline li').length",
            Duration::from_secs(10),
            |v| v == &json!(events),
        )
        .await;
    let types = browser
        .eval("[...document.querySelectorAll('#timeline li strong')].map((e) => e.textContent)")
        .await;
    let expected: Vec<Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].clone())
        .collect();
    assert_eq!(types, Value::Array(expected));
    browser
        .until(
            "document.getElementById('booking-state').dataset.status",
            Duration::from_secs(5),
            |v| v == &json!("confirmed"),
        )
        .await;

    // Step back one version at a time to the first with the button, which keeps keyboard focus from
    // one step to the next (the controls are updated in place), then forward and back once more.
    let version = "document.getElementById('booking-state').dataset.version";
    for step in (1..events).rev() {
        browser.click("#version-back").await;
        browser
            .until(version, Duration::from_secs(10), |v| {
                v == &json!(step.to_string())
            })
            .await;
        if step > 1 {
            assert_eq!(
                browser.eval("document.activeElement.id").await,
                json!("version-back")
            );
        }
    }
    browser.click("#version-forward").await;
    browser
        .until(version, Duration::from_secs(5), |v| v == &json!("2"))
        .await;
    browser.click("#version-back").await;
    browser
        .until(version, Duration::from_secs(5), |v| v == &json!("1"))
        .await;
    browser
        .until(
            "document.getElementById('booking-state').dataset.status",
            Duration::from_secs(5),
            |v| v == &json!("held"),
        )
        .await;
    assert_eq!(
        browser
            .eval("document.getElementById('version-label').textContent")
            .await,
        json!(format!("1 of {events}"))
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#timeline li.future').length")
            .await,
        json!(events - 1)
    );
    browser.screenshot("booking-timeline").await;

    // A cancellation made elsewhere appears on the open page by itself.
    let (status, body) = world
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            &world.customer,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    browser.until("[...document.querySelectorAll('#timeline li strong')].some((e) => e.textContent === 'BookingCancelled')", LIVE * 5, |v| v == &json!(true)).await;
    browser.close().await;
}

#[tokio::test]
async fn the_charts_draw_as_many_bars_as_the_analytics_have_data() {
    let world = World::start(4).await;
    // Sales on three of the four flights, one booking left unpaid.
    for (i, flight) in world.flights.iter().take(3).enumerate() {
        let seats: Vec<String> = (0..=i).map(|n| format!("2{n}A")).collect();
        let seats: Vec<&str> = seats.iter().map(String::as_str).collect();
        let booking = world.book(flight, &seats).await;
        world.pay(&booking).await;
    }
    world.book(&world.flights[3], &["10A"]).await;
    let today = Utc::now().date_naive();
    let range = format!("from={}&to={}", today - Span::days(29), today);
    let departures = format!(
        "from={}&to={}",
        today - Span::days(1),
        today + Span::days(90)
    );
    // The analytics projection follows the log: wait until it has every booking.
    let deadline = Instant::now() + Duration::from_secs(20);
    while world
        .get(
            &format!("/api/v1/analytics/conversion?{range}"),
            &world.admin,
        )
        .await["holds"]
        != json!(4)
    {
        assert!(Instant::now() < deadline, "analytics never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revenue = world
        .get(&format!("/api/v1/analytics/revenue?{range}"), &world.admin)
        .await;
    let loads = world
        .get(
            &format!("/api/v1/analytics/load-factors?{departures}"),
            &world.admin,
        )
        .await;
    let rows = revenue.as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["day"] == json!(today.to_string())),
        "{revenue}"
    );
    let loads = loads.as_array().unwrap();
    assert_eq!(loads.len(), 4);

    let browser = Browser::start(1280, 2400).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;
    browser.goto(&world.url("/console/#/analytics")).await;
    let bars = |chart: &str| format!("document.querySelectorAll('#{chart} rect.bar').length");
    browser
        .until(&bars("load-factors"), Duration::from_secs(10), |v| {
            v == &json!(loads.len())
        })
        .await;
    // One bar per day of the range (30 days by default), days without bookings drawn as zero.
    assert_eq!(browser.eval(&bars("bookings-per-day")).await, json!(30));
    assert_eq!(browser.eval(&bars("revenue-EUR")).await, json!(30));
    assert_eq!(browser.eval(&bars("conversion")).await, json!(4));
    // Each bar carries the number it draws.
    let drawn = browser.eval("[...document.querySelectorAll('#load-factors rect.bar')].map((r) => Number(r.dataset.value))").await;
    let drawn: Vec<f64> = drawn
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let expected: Vec<f64> = loads
        .iter()
        .map(|r| r["load_factor"].as_f64().unwrap())
        .collect();
    assert_eq!(drawn, expected);
    let per_day = browser.eval("[...document.querySelectorAll('#bookings-per-day rect.bar')].map((r) => Number(r.dataset.value))").await;
    let mut expected = vec![0; 29];
    expected.push(4);
    assert_eq!(per_day, json!(expected));
    let revenue_today: i64 = rows
        .iter()
        .map(|r| r["revenue_minor"].as_i64().unwrap() - r["refunds_minor"].as_i64().unwrap())
        .sum();
    let last =
        "Number([...document.querySelectorAll('#revenue-EUR rect.bar')].at(-1).dataset.value)";
    assert_eq!(browser.eval(last).await, json!(revenue_today));
    assert_eq!(
        browser
            .eval("document.getElementById('conversion-rate').textContent")
            .await,
        json!("75.0 %")
    );
    // Seats per booking class: one row per class of each flight with paid seats, as the API says.
    let classes = world
        .get(
            &format!("/api/v1/analytics/classes?{departures}"),
            &world.admin,
        )
        .await;
    let shown = browser
        .eval("[...document.querySelectorAll('#class-revenue tbody tr')].map((r) => Number(r.children[2].textContent))")
        .await;
    let sold: Vec<Value> = classes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seats_sold"].clone())
        .collect();
    assert!(!sold.is_empty(), "{classes}");
    assert_eq!(shown, json!(sold));
    browser.screenshot("analytics").await;
    browser.close().await;
}

#[tokio::test]
async fn the_event_log_follows_live_and_pauses_and_operations_show_every_worker() {
    let world = World::start(1).await;
    let browser = Browser::start(1280, 1400).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;
    browser.goto(&world.url("/console/#/events")).await;
    browser
        .until(
            "document.getElementById('feed-state').textContent",
            Duration::from_secs(10),
            |v| v == &json!("● live"),
        )
        .await;

    let first = world.book(&world.flights[0], &["15A"]).await;
    let rows = "[...document.querySelectorAll('#event-log li')].map((li) => li.querySelector('strong').textContent)";
    browser
        .until(rows, LIVE, |v| {
            v == &json!(["BookingPlaced", "SeatsHeld"])
                || v == &json!(["SeatsHeld", "BookingPlaced"])
        })
        .await;

    // Paused: events are counted but not shown until resumed, then shown in order.
    browser.click("#feed-pause").await;
    world.book(&world.flights[0], &["15B"]).await;
    browser
        .until(
            "document.getElementById('feed-count').textContent",
            LIVE,
            |v| v == &json!("4 events, 2 waiting"),
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#event-log li').length")
            .await,
        json!(2)
    );
    browser.click("#feed-pause").await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#event-log li').length")
            .await,
        json!(4)
    );

    // Each event opens to its JSON.
    let newest_booking = "[...document.querySelectorAll('#event-log li.booking')].at(-1)";
    browser
        .eval(&format!(
            "{newest_booking}.querySelector('details').open = true"
        ))
        .await;
    let json_text = browser
        .eval(&format!(
            "{newest_booking}.querySelector('pre').textContent"
        ))
        .await;
    let shown: Value = serde_json::from_str(json_text.as_str().unwrap()).unwrap();
    assert_eq!(shown["aggregate_id"], first["id"]);
    assert_eq!(shown["payload"]["BookingPlaced"]["pnr"], first["reference"]);
    browser.screenshot("event-log").await;

    // Filtered to one type from the start of the log: exactly the two placements.
    browser.type_into("#f-types", "booking.BookingPlaced").await;
    browser.click("#f-from_start").await;
    browser.click("#feed-form button[type=submit]").await;
    browser
        .until(
            "document.querySelectorAll('#event-log li').length",
            LIVE,
            |v| v == &json!(2),
        )
        .await;

    browser.goto(&world.url("/console/#/operations")).await;
    browser
        .until(
            "document.querySelectorAll('#workers tr[data-worker]').length",
            Duration::from_secs(10),
            |v| v.as_u64().is_some_and(|n| n >= 8),
        )
        .await;
    let workers = browser.eval("[...document.querySelectorAll('#workers tr[data-worker]')].map((tr) => tr.dataset.worker)").await;
    for name in [
        "projection:flights",
        "projection:bookings",
        "relay",
        "sweeper",
    ] {
        assert!(
            workers.as_array().unwrap().contains(&json!(name)),
            "{name} missing from {workers}"
        );
    }
    assert_eq!(
        browser
            .eval("document.getElementById('overall-status').textContent")
            .await,
        json!("ready")
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#subscriptions tbody tr').length")
            .await,
        json!(4)
    );
    browser
        .until(
            "document.querySelectorAll('#dead-letters .letters').length",
            Duration::from_secs(10),
            |v| v == &json!(2),
        )
        .await;
    browser.screenshot("operations").await;
    browser.close().await;
}

#[tokio::test]
async fn a_customer_sees_flights_and_own_bookings_but_no_admin_pages() {
    let world = World::start(1).await;
    let booking = world.book(&world.flights[0], &["1A"]).await;
    let browser = Browser::phone().await;
    browser
        .sign_in(&world.airline.gateway, &world.customer_email, PASSWORD)
        .await;
    assert_eq!(browser.eval("window.innerWidth").await, json!(390));
    let visible = "[...document.querySelectorAll('#nav a')].filter((a) => !a.hidden).map((a) => a.textContent)";
    assert_eq!(browser.eval(visible).await, json!(["Flights", "Booking"]));
    browser.goto(&world.url("/console/#/events")).await;
    browser
        .until(
            "document.querySelector('#view h1')?.textContent",
            Duration::from_secs(5),
            |v| v == &json!("Admins only"),
        )
        .await;

    // A crafted link cannot make the console call another API path with the user's token.
    browser
        .goto(&world.url("/console/#/booking/..%2F..%2Fadmin%2Fstatus"))
        .await;
    browser
        .until(
            "document.querySelector('#view h1')?.textContent",
            Duration::from_secs(5),
            |v| v == &json!("No such booking"),
        )
        .await;

    // The seat map refreshes by polling for a customer (the log is for admins).
    browser
        .goto(&world.url(&format!("/console/#/flights/{}", world.flights[0])))
        .await;
    browser
        .until(&seat_status("1A"), Duration::from_secs(10), |v| {
            v == &json!("held")
        })
        .await;
    let mode = browser
        .eval("document.getElementById('live-state').dataset.mode")
        .await;
    assert_eq!(mode, json!("poll"));
    world.pay(&booking).await;
    browser
        .until(&seat_status("1A"), LIVE * 2, |v| v == &json!("sold"))
        .await;
    // Usable on a phone: nothing wider than the screen but the seat map's own scroller.
    assert_eq!(browser.eval(FITS).await, json!(true));
    browser.screenshot("seat-map-phone").await;

    browser.goto(&world.url("/console/#/booking")).await;
    browser
        .until(
            "document.querySelectorAll('#view table.data tbody tr').length",
            Duration::from_secs(10),
            |v| v == &json!(1),
        )
        .await;
    assert_eq!(browser.eval(FITS).await, json!(true));
    browser.screenshot("customer-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn prices_show_each_currencys_own_minor_unit() {
    let mut world = World::start(1).await;
    let admin = world.admin.clone();
    let aircraft = world
        .get(&format!("/api/v1/flights/{}", world.flights[0]), &admin)
        .await["aircraft_id"]
        .clone();
    // A yen flight (no minor unit) and a Kuwaiti dinar one (three digits), beside the euro one.
    for (n, currency, business, economy) in
        [(1, "JPY", 150_000, 12_000), (2, "KWD", 450_500, 120_250)]
    {
        let departure = Utc::now() + Span::days(10 + n);
        let fare = |cabin: &str, amount: i64| {
            json!({"cabin": cabin, "price": {"amount_minor": amount, "currency": currency},
            "rules": {"refundable": false, "cancellation_fee": {"amount_minor": 0, "currency": currency}}})
        };
        let flight = json!({"number": format!("AF9{n}"), "origin": "CDG", "destination": "JFK",
            "departure_at": departure, "arrival_at": departure + Span::hours(8), "aircraft_id": aircraft,
            "fares": [fare("business", business), fare("economy", economy)]});
        let (status, body) = world.post("/api/v1/flights", &admin, flight).await;
        assert_eq!(status, 201, "{body}");
        world.flights.push(body["id"].as_str().unwrap().to_owned());
    }
    let currencies = world.get("/api/v1/currencies", &admin).await;
    let exponent = |code: &str| {
        currencies
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == code)
            .map(|c| c["exponent"].clone())
    };
    assert_eq!(
        (exponent("JPY"), exponent("KWD"), exponent("EUR")),
        (Some(json!(0)), Some(json!(3)), Some(json!(2)))
    );
    let browser = Browser::start(1280, 900).await;
    browser
        .sign_in(&world.airline.gateway, &world.customer_email, PASSWORD)
        .await;
    browser.goto(&world.url("/console/#/flights")).await;
    let prices = "[...document.querySelectorAll('#flight-list tbody tr')].map((r) => \
        [r.querySelector('.flight-link').textContent, r.cells[4].firstChild.textContent])";
    let shown = browser
        .until(prices, Duration::from_secs(20), |v| {
            v.as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
    let price_of = |number: &str| {
        shown
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == number)
            .unwrap()[1]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (euro, yen, dinar) = (price_of("AF10"), price_of("AF91"), price_of("AF92"));
    assert!(euro.contains("399.00"), "{euro}");
    assert!(yen.contains("12,000") && !yen.contains('.'), "{yen}");
    assert!(dinar.contains("120.250"), "{dinar}");
    browser.screenshot("currencies").await;
    browser.close().await;
}

#[tokio::test]
async fn a_round_trip_shows_its_itinerary_and_a_seat_map_per_flight_and_journeys_can_be_searched() {
    let mut world = World::start(1).await;
    let admin = world.admin.clone();
    let out = world.flights[0].clone();
    let outbound = world.get(&format!("/api/v1/flights/{out}"), &admin).await;
    // The way back, JFK→CDG, three days after the way out.
    let departure = Utc::now() + Span::days(6);
    let fare = |cabin: &str, amount: i64| {
        json!({"cabin": cabin, "price": {"amount_minor": amount, "currency": "EUR"},
        "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}})
    };
    let back = json!({"number": "AF77", "origin": "JFK", "destination": "CDG", "departure_at": departure,
        "arrival_at": departure + Span::hours(7), "aircraft_id": outbound["aircraft_id"],
        "fares": [fare("business", 150_000), fare("economy", 39_900)]});
    let (status, back) = world.post("/api/v1/flights", &admin, back).await;
    assert_eq!(status, 201, "{back}");
    let back = back["id"].as_str().unwrap().to_owned();
    world.flights.push(back.clone());
    let trip = json!({"contact_email": "ada@example.com",
        "passengers": [{"first_name": "Ada", "last_name": "Tester", "type": "adult"}],
        "slices": [{"segments": [{"flight_id": out, "seats": ["11C"]}]},
                   {"segments": [{"flight_id": back, "seats": ["12D"]}]}]});
    let (status, booking) = world.post("/api/v1/bookings", &world.customer, trip).await;
    assert_eq!(status, 201, "{booking}");
    let id = booking["id"].as_str().unwrap();

    let browser = Browser::start(1280, 1000).await;
    browser
        .sign_in(&world.airline.gateway, &world.customer_email, PASSWORD)
        .await;
    browser
        .goto(&world.url(&format!("/console/#/booking/{id}")))
        .await;
    // Both flights in the itinerary, each with its seat map and the booking's seat marked there.
    let drawn = "[document.querySelectorAll('#itinerary tbody tr').length, \
        document.querySelectorAll('#segment-maps table.seatmap').length, \
        [...document.querySelectorAll('#segment-maps td.seat.mine')].map((td) => td.dataset.seat)]";
    let shown = browser
        .until(drawn, Duration::from_secs(20), |v| {
            v[1].as_u64() >= Some(2) && v[2].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(shown[0], json!(2), "{shown}");
    assert_eq!(shown[2], json!(["11C", "12D"]), "{shown}");
    let trip_text = browser
        .eval("document.getElementById('booking-state').textContent")
        .await;
    assert!(
        trip_text
            .as_str()
            .unwrap()
            .contains("CDG → JFK, back JFK → CDG"),
        "{trip_text}"
    );
    browser.screenshot("journey-booking").await;

    // The flights page offers the same round trip as a journey.
    browser.goto(&world.url("/console/#/flights")).await;
    browser
        .until(
            "!!document.getElementById('q-journeys')",
            Duration::from_secs(10),
            |v| v == &json!(true),
        )
        .await;
    let dates = format!(
        "(() => {{ document.getElementById('q-origin').value = 'CDG'; \
         document.getElementById('q-destination').value = 'JFK'; \
         document.getElementById('q-date').value = '{}'; document.getElementById('q-return_date').value = '{}'; \
         document.getElementById('q-journeys').checked = true; \
         document.querySelector('#search-form button[type=submit]').click(); return true; }})()",
        outbound["departure_local"]
            .as_str()
            .unwrap()
            .get(..10)
            .unwrap(),
        (departure - Span::hours(5)).date_naive(),
    );
    browser.eval(&dates).await;
    let offers = "[...document.querySelectorAll('#journey-list tbody tr')].map((r) => \
        [...r.querySelectorAll('.flight-link')].map((a) => a.textContent))";
    let found = browser
        .until(offers, Duration::from_secs(20), |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(found[0], json!(["AF10", "AF77"]), "{found}");
    browser.screenshot("journey-search").await;
    browser.close().await;
}

#[tokio::test]
async fn an_admin_changes_a_classs_price_and_limit_from_the_flight_page() {
    let world = World::start(1).await;
    let flight = world.flights[0].clone();
    let browser = Browser::start(1280, 1600).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;
    browser
        .goto(&world.url(&format!("/console/#/flights/{flight}")))
        .await;
    // The flight was scheduled with one fare per cabin: each cabin's one class (J business, Y economy).
    let editable =
        "[...document.querySelectorAll('#fares-form tbody tr')].map((r) => r.dataset.class)";
    browser
        .until(editable, Duration::from_secs(10), |v| {
            v.as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    browser.type_into("input[name=price-Y]", "123.45").await;
    browser.type_into("input[name=limit-Y]", "20").await;
    browser.click("#fares-form button[type=submit]").await;
    // The change went in as an event and the read side shows it; the page follows.
    browser
        .until(
            "document.getElementById('notice').textContent",
            Duration::from_secs(10),
            |v| v == &json!("Fares saved."),
        )
        .await;
    let view = world
        .get(&format!("/api/v1/flights/{flight}"), &world.admin)
        .await;
    let y = view["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "Y")
        .unwrap()
        .clone();
    assert_eq!(
        (&y["price_minor"], &y["nested_limit"]),
        (&json!(12_345), &json!(20)),
        "{view}"
    );
    // A negative price never leaves the page: the form refuses it.
    browser.type_into("input[name=price-Y]", "-1").await;
    browser.click("#fares-form button[type=submit]").await;
    assert_eq!(
        browser
            .eval("document.querySelector('input[name=price-Y]').validity.valid")
            .await,
        json!(false)
    );
    browser.screenshot("fares-editor").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_oversells_a_flight_and_closes_it_from_the_flight_page() {
    let world = World::start(1).await;
    let flight = world.flights[0].clone();
    let browser = Browser::start(1280, 1600).await;
    browser
        .sign_in(&world.airline.gateway, &world.admin_email, PASSWORD)
        .await;
    browser
        .goto(&world.url(&format!("/console/#/flights/{flight}")))
        .await;
    // Economy has 90 seats: 10% is 9 places more.
    browser
        .until(
            "document.querySelectorAll('#overbooking-form input[name=overbooking-economy]').length",
            Duration::from_secs(10),
            |v| v == &json!(1),
        )
        .await;
    browser
        .type_into("input[name=overbooking-economy]", "10")
        .await;
    browser.click("#overbooking-form button[type=submit]").await;
    browser
        .until(
            "document.getElementById('notice').textContent",
            Duration::from_secs(10),
            |v| v == &json!("Overbooking saved."),
        )
        .await;
    // The form is drawn again from the flight as saved: 9 places beyond the seats.
    browser
        .until(
            "document.querySelector('#inventory tr[data-cabin=economy] td.num:last-child')?.textContent",
            Duration::from_secs(10),
            |v| v == &json!("9"),
        )
        .await;
    let view = world
        .get(&format!("/api/v1/flights/{flight}"), &world.admin)
        .await;
    let economy = view["cabins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cabin"] == "economy")
        .unwrap()
        .clone();
    assert_eq!(
        (&economy["overbooking"], &economy["overbooking_percent"]),
        (&json!(9), &json!(10)),
        "{view}"
    );
    // 99 places sold without seats, paid; the last booking is the latest in the one class.
    let mut last = Value::Null;
    for _ in 0..11 {
        last = world.book_seatless(&flight, 9).await;
        world.pay(&last).await;
    }
    browser
        .until(
            "document.querySelector('[data-cabin=economy] .unassigned')?.textContent",
            Duration::from_secs(10),
            |v| v == &json!("99 without a seat yet"),
        )
        .await;
    browser.eval("window.confirm = () => true").await;
    browser.click("#close-flight").await;
    browser
        .until(
            "document.getElementById('notice').textContent",
            Duration::from_secs(10),
            |v| v == &json!("Flight closed: 90 passengers seated."),
        )
        .await;
    browser
        .until(
            "document.getElementById('closed-badge')?.textContent",
            Duration::from_secs(10),
            |v| v == &json!("closed"),
        )
        .await;
    browser.screenshot("flight-closed").await;
    // The latest booking's nine were offloaded: the booking page says so, with the money.
    let id = last["id"].as_str().unwrap();
    browser
        .goto(&world.url(&format!("/console/#/booking/{id}")))
        .await;
    let seats = "[...([...document.querySelectorAll('table')].find((t) => t.caption?.textContent === 'Passengers')\
        ?.querySelectorAll('td.seat-cell') ?? [])].map((c) => c.textContent)";
    browser
        .until(seats, Duration::from_secs(10), |v| {
            v.as_array()
                .is_some_and(|a| a.len() == 9 && a.iter().all(|c| c == "offloaded"))
        })
        .await;
    let facts = browser
        .eval("document.querySelector('dl.facts').textContent")
        .await;
    assert!(
        facts
            .as_str()
            .is_some_and(|t| t.contains("9 passengers offloaded at close")),
        "{facts}"
    );
    browser.screenshot("booking-offloaded").await;
    browser.close().await;
}

//! `airline seed-demo`: airports, aircraft types, about 1,000 flights over the coming days, an admin,
//! a demo customer and some bookings, so every screen and report shows something. Ids are derived from
//! names, so a second run adds nothing twice.
//!
//! Past 400 lines on purpose: most of it is the demo data itself (airports, aircraft, routes).

use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, NaiveTime, Utc};
use command_api::error::ApiError;
use command_api::executor::CommandMeta;
use command_api::state::AppState;
use domain::aircraft::{Aircraft, AircraftCommand, AircraftError, CabinLayout, SeatLayout};
use domain::airport::{Airport, AirportCommand, AirportError};
use domain::flight::{Fare, FareRules, Flight, FlightCommand, FlightError, ScheduleFlight};
use domain::values::*;
use indicatif::{ProgressBar, ProgressStyle};
use infra::auth::{Principal, Role};
use infra::settings::ServiceSettings;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cli::SeedArgs;

/// The demo accounts (documented in the README; development data only).
pub const ADMIN: (&str, &str) = ("admin@airline.example", "Fly-Demo-Pass-2026");
/// The demo customer.
pub const CUSTOMER: (&str, &str) = ("customer@airline.example", "Book-Demo-Pass-2026");

const AIRPORTS: [(&str, &str, &str, &str, &str); 20] = [
    (
        "CDG",
        "Paris Charles de Gaulle",
        "Paris",
        "FR",
        "Europe/Paris",
    ),
    ("LHR", "London Heathrow", "London", "GB", "Europe/London"),
    (
        "AMS",
        "Amsterdam Schiphol",
        "Amsterdam",
        "NL",
        "Europe/Amsterdam",
    ),
    ("FRA", "Frankfurt", "Frankfurt", "DE", "Europe/Berlin"),
    ("MAD", "Madrid Barajas", "Madrid", "ES", "Europe/Madrid"),
    (
        "BCN",
        "Barcelona El Prat",
        "Barcelona",
        "ES",
        "Europe/Madrid",
    ),
    ("FCO", "Rome Fiumicino", "Rome", "IT", "Europe/Rome"),
    ("MUC", "Munich", "Munich", "DE", "Europe/Berlin"),
    (
        "LIS",
        "Lisbon Humberto Delgado",
        "Lisbon",
        "PT",
        "Europe/Lisbon",
    ),
    ("DUB", "Dublin", "Dublin", "IE", "Europe/Dublin"),
    (
        "CPH",
        "Copenhagen Kastrup",
        "Copenhagen",
        "DK",
        "Europe/Copenhagen",
    ),
    (
        "ARN",
        "Stockholm Arlanda",
        "Stockholm",
        "SE",
        "Europe/Stockholm",
    ),
    ("ZRH", "Zurich", "Zurich", "CH", "Europe/Zurich"),
    ("VIE", "Vienna", "Vienna", "AT", "Europe/Vienna"),
    ("ATH", "Athens", "Athens", "GR", "Europe/Athens"),
    ("IST", "Istanbul", "Istanbul", "TR", "Europe/Istanbul"),
    (
        "JFK",
        "New York John F. Kennedy",
        "New York",
        "US",
        "America/New_York",
    ),
    ("BOS", "Boston Logan", "Boston", "US", "America/New_York"),
    (
        "YUL",
        "Montreal Trudeau",
        "Montreal",
        "CA",
        "America/Toronto",
    ),
    ("DXB", "Dubai", "Dubai", "AE", "Asia/Dubai"),
];

/// Routes (both directions) with block time in minutes and the aircraft flown.
const ROUTES: [(&str, &str, i64, usize); 17] = [
    ("CDG", "LHR", 75, 0),
    ("CDG", "AMS", 80, 2),
    ("CDG", "FRA", 75, 0),
    ("CDG", "MAD", 125, 0),
    ("CDG", "BCN", 105, 0),
    ("CDG", "FCO", 120, 0),
    ("CDG", "LIS", 150, 0),
    ("CDG", "JFK", 500, 1),
    ("CDG", "YUL", 460, 1),
    ("CDG", "DXB", 400, 1),
    ("LHR", "JFK", 480, 1),
    ("LHR", "DUB", 80, 2),
    ("AMS", "CPH", 85, 2),
    ("FRA", "VIE", 75, 2),
    ("MUC", "ZRH", 55, 2),
    ("ARN", "CPH", 70, 2),
    ("ATH", "IST", 80, 2),
];

fn id(kind: &str, name: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("airline-demo:{kind}:{name}").as_bytes(),
    )
}

fn layouts() -> anyhow::Result<[(&'static str, SeatLayout); 3]> {
    let cabin = |cabin, first_row, last_row, letters: &str, exit_rows: Vec<u8>| CabinLayout {
        cabin,
        first_row,
        last_row,
        letters: letters.to_owned(),
        exit_rows,
    };
    Ok([
        (
            "Airbus A320neo",
            SeatLayout::try_new(vec![
                cabin(Cabin::Business, 1, 3, "AC DF", vec![]),
                cabin(Cabin::Economy, 4, 30, "ABC DEF", vec![12, 13]),
            ])?,
        ),
        (
            "Boeing 787-9",
            SeatLayout::try_new(vec![
                cabin(Cabin::Business, 1, 6, "A DG K", vec![]),
                cabin(Cabin::PremiumEconomy, 10, 14, "AC DEF HK", vec![]),
                cabin(Cabin::Economy, 20, 45, "ABC DEF GHK", vec![20, 33]),
            ])?,
        ),
        (
            "Embraer E190",
            SeatLayout::try_new(vec![
                cabin(Cabin::Business, 1, 2, "AC DF", vec![]),
                cabin(Cabin::Economy, 3, 26, "AC DF", vec![10]),
            ])?,
        ),
    ])
}

fn ignore(
    result: Result<impl Sized, ApiError>,
    already: impl Fn(&ApiError) -> bool,
) -> anyhow::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if already(&e) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// `airline seed-demo`.
///
/// # Errors
/// Database failures.
pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let settings = command_api::config::Settings::load().context("settings")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(settings.database.connect_options()?)
        .await
        .context("connecting to Postgres (DATABASE_URL)")?;
    infra::db::MIGRATOR.run(&pool).await?;
    seed(&pool, args.days).await
}

/// Loads the demo data into `pool`'s database.
///
/// # Errors
/// Database failures.
pub async fn seed(pool: &PgPool, days: u32) -> anyhow::Result<()> {
    let (_, public) = infra::auth::generate_key_pair()?;
    let state = AppState::new(
        pool.clone(),
        infra::auth::JwtVerifier::new(&public, "seed", "seed")?,
        Arc::new(command_api::clock::SystemClock),
        Arc::new(command_api::payments::TestCardProvider::default()),
        command_api::config::BookingSettings {
            hold_minutes: 60 * 24,
            sweep_interval_ms: 1000,
            sweep_lease_ms: 30_000,
            idempotency_lease_ms: 15_000,
            recovery_interval_ms: 1000,
            payment_recovery_after_ms: 30_000,
            max_attempts: 10,
            // The seed books for many customers as one principal; the cap is for customers.
            max_held_seats: 100_000,
            max_held_seats_per_client: 100_000,
            queue: Default::default(),
            new_accounts: Default::default(),
            close_minutes_before_departure: 45,
            close_interval_ms: 60_000,
            denied_boarding_compensation_minor: 25_000,
        },
    );
    let meta = CommandMeta {
        correlation_id: "seed-demo".to_owned(),
        ..CommandMeta::default()
    };
    for (code, name, city, country, tz) in AIRPORTS {
        let command = AirportCommand::Register {
            code: AirportCode::parse(code)?,
            name: Label::parse(name)?,
            city: Label::parse(city)?,
            country: CountryCode::parse(country)?,
            time_zone: TimeZone::parse(tz)?,
            min_connection_minutes: ConnectionTime::default(),
        };
        let done = state
            .executor
            .execute::<Airport>((code, None), "RegisterAirport", command, meta.clone())
            .await;
        ignore(done, |e| {
            matches!(e, ApiError::Airport(AirportError::AlreadyRegistered(_)))
        })?;
    }
    let layouts = layouts()?;
    let mut aircraft = Vec::new();
    for (model, layout) in &layouts {
        let aircraft_id = AircraftId::from_uuid(id("aircraft", model));
        let command = AircraftCommand::Register {
            id: aircraft_id,
            model: Label::parse(model)?,
            layout: layout.clone(),
        };
        let done = state
            .executor
            .execute::<Aircraft>(
                (&aircraft_id.to_string(), None),
                "RegisterAircraft",
                command,
                meta.clone(),
            )
            .await;
        ignore(done, |e| {
            matches!(e, ApiError::Aircraft(AircraftError::AlreadyRegistered))
        })?;
        aircraft.push((aircraft_id, layout.clone()));
    }
    let admin = account(pool, ADMIN, Role::Admin).await?;
    let customer = account(pool, CUSTOMER, Role::Customer).await?;
    let flights = schedule(&state, &meta, &aircraft, days).await?;
    book(&state, &meta, customer, &flights).await?;
    tracing::info!(%admin, %customer, flights = flights.len(), "demo data ready");
    Ok(())
}

async fn account(
    pool: &PgPool,
    (email, password): (&str, &str),
    role: Role,
) -> anyhow::Result<Uuid> {
    let address = EmailAddress::parse(email)?;
    match gateway::accounts::create(pool, &address, password, role).await {
        Ok(user) => Ok(user.id),
        Err(gateway::accounts::AccountError::EmailTaken) => Ok(sqlx::query_scalar(
            "SELECT user_id FROM users WHERE email = $1",
        )
        .bind(address.as_str())
        .fetch_one(pool)
        .await?),
        Err(e) => Err(e.into()),
    }
}

fn fares(layout: &SeatLayout, minutes: i64) -> anyhow::Result<Vec<Fare>> {
    let eur = Currency::parse("EUR")?;
    layout
        .cabins()
        .iter()
        .map(|c| {
            let (factor, refundable, fee) = match c.cabin {
                Cabin::Economy => (1, false, 0),
                Cabin::PremiumEconomy => (2, true, 5_000),
                Cabin::Business => (4, true, 0),
                Cabin::First => (8, true, 0),
            };
            let base = 4_900 + minutes * 45;
            Ok(Fare {
                cabin: c.cabin,
                class: None,
                limit: None,
                price: Money::try_new(base * factor, eur)?,
                rules: FareRules {
                    refundable,
                    cancellation_fee: Money::try_new(fee, eur)?,
                },
            })
        })
        .collect()
}

async fn schedule(
    state: &AppState,
    meta: &CommandMeta,
    aircraft: &[(AircraftId, SeatLayout)],
    days: u32,
) -> anyhow::Result<Vec<FlightId>> {
    let today = Utc::now().date_naive();
    let total = u64::from(days) * ROUTES.len() as u64 * 2;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("flights {bar:40} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut flights = Vec::new();
    for day in 1..=i64::from(days) {
        let date = today + Duration::days(day);
        for (route, (a, b, minutes, plane)) in ROUTES.iter().enumerate() {
            for (leg, (origin, destination)) in [(a, b), (b, a)].into_iter().enumerate() {
                let number = FlightNumber::parse(&format!("AL{}", 100 + route * 2 + leg))?;
                let hour = 6 + ((route * 5 + leg * 7) % 14) as u32;
                let departure = date
                    .and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default())
                    .and_utc();
                let flight_id = FlightId::from_uuid(id("flight", &format!("{number}-{date}")));
                let (aircraft_id, layout) = &aircraft[*plane];
                let command = FlightCommand::Schedule(Box::new(ScheduleFlight {
                    id: flight_id,
                    number,
                    origin: AirportCode::parse(origin)?,
                    destination: AirportCode::parse(destination)?,
                    departure_at: departure,
                    arrival_at: departure + Duration::minutes(*minutes),
                    aircraft_id: *aircraft_id,
                    layout: layout.clone(),
                    fares: fares(layout, *minutes)?,
                    now: Utc::now(),
                }));
                let done = state
                    .executor
                    .execute::<Flight>(
                        (&flight_id.to_string(), None),
                        "ScheduleFlight",
                        command,
                        meta.clone(),
                    )
                    .await;
                ignore(done, |e| {
                    matches!(e, ApiError::Flight(FlightError::AlreadyScheduled))
                })?;
                flights.push(flight_id);
                bar.inc(1);
            }
        }
    }
    bar.finish();
    Ok(flights)
}

/// About 150 bookings for the demo customer on the first days' flights: most paid, some cancelled.
async fn book(
    state: &AppState,
    meta: &CommandMeta,
    customer: Uuid,
    flights: &[FlightId],
) -> anyhow::Result<()> {
    let seeded: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'booking' \
         AND payload -> 'BookingPlaced' ->> 'customer_id' = $1)",
    )
    .bind(customer.to_string())
    .fetch_one(&state.pool)
    .await?;
    if seeded {
        return Ok(());
    }
    let principal = Principal {
        user_id: customer,
        role: Role::Customer,
        account_since: None,
    };
    let render = || command_api::routes::bookings::render(command_api::routes::StatusCode::OK);
    let bar = ProgressBar::new(150);
    for (n, flight) in flights.iter().take(150).enumerate() {
        let flight_state = state
            .executor
            .load::<Flight>(&flight.to_string())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(seat) = free_seat(&flight_state) else {
            continue;
        };
        let request = command_api::process::booking::BookRequest {
            contact_email: EmailAddress::parse(CUSTOMER.0)?,
            passengers: vec![Passenger {
                first_name: PassengerName::parse("Demo")?,
                last_name: PassengerName::parse("Customer")?,
                kind: PassengerType::Adult,
                seat: None,
            }],
            slices: vec![vec![command_api::process::booking::SegmentRequest {
                flight_id: *flight,
                seats: vec![Some(seat)],
                cabin: None,
                class: None,
            }]],
        };
        let (booked, _) =
            command_api::process::booking::book(state, principal, meta, request, render())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(booking) = booked.aggregate.state() else {
            continue;
        };
        let booking_id = booking.id;
        // Ten stay on hold, under the cap a customer has (so the demo customer can still book).
        if n % 15 != 2 {
            let payment = ("tok_visa", booking.total);
            command_api::process::booking::pay(
                state,
                principal,
                meta,
                (booking_id, None),
                payment,
                render(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if n % 10 == 9 {
            command_api::process::booking::cancel(
                state,
                principal,
                meta,
                (booking_id, None),
                render(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        bar.inc(1);
    }
    bar.finish();
    round_trip(state, meta, principal).await
}

/// A seat at the back no one has, outside the exit rows.
fn free_seat(flight: &command_api::executor::Versioned<Flight>) -> Option<SeatNumber> {
    flight.aggregate.state().and_then(|s| {
        s.seats
            .values()
            .rev()
            .find(|spec| !spec.is_exit_row() && !s.taken.contains_key(&spec.seat))
            .map(|spec| spec.seat)
    })
}

/// One paid journey for the demo customer: CDG→LHR→JFK the day after tomorrow (AL100, then AL120 that
/// afternoon), back JFK→CDG three days later (AL115).
async fn round_trip(
    state: &AppState,
    meta: &CommandMeta,
    principal: Principal,
) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    let leg = |number: &str, days: i64| {
        let date = today + Duration::days(days);
        FlightId::from_uuid(id("flight", &format!("{number}-{date}")))
    };
    let mut slices = vec![vec![], vec![]];
    for (slice, flight) in [
        (0, leg("AL100", 2)),
        (0, leg("AL120", 2)),
        (1, leg("AL115", 5)),
    ] {
        let loaded = state
            .executor
            .load::<Flight>(&flight.to_string())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(seat) = free_seat(&loaded) else {
            return Ok(());
        };
        slices[slice].push(command_api::process::booking::SegmentRequest {
            flight_id: flight,
            seats: vec![Some(seat)],
            cabin: None,
            class: None,
        });
    }
    let request = command_api::process::booking::BookRequest {
        contact_email: EmailAddress::parse(CUSTOMER.0)?,
        passengers: vec![Passenger {
            first_name: PassengerName::parse("Demo")?,
            last_name: PassengerName::parse("Traveller")?,
            kind: PassengerType::Adult,
            seat: None,
        }],
        slices,
    };
    let render = || command_api::routes::bookings::render(command_api::routes::StatusCode::OK);
    let (booked, _) =
        command_api::process::booking::book(state, principal, meta, request, render())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(booking) = booked.aggregate.state() {
        let payment = ("tok_visa", booking.total);
        command_api::process::booking::pay(
            state,
            principal,
            meta,
            (booking.id, None),
            payment,
            render(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

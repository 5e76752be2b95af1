//! Seeding: over HTTP (a request that must answer 201 Created), or straight through the command API's
//! executor with typed commands (tests without an HTTP server, and the bench's bulk setup).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use command_api::executor::{CommandMeta, Executor};
use domain::aircraft::{Aircraft, AircraftCommand, SeatLayout};
use domain::airport::{Airport, AirportCommand};
use domain::flight::{Fare, FareRules, Flight, FlightCommand, ScheduleFlight};
use domain::values::{
    AircraftId, AirportCode, Cabin, ConnectionTime, CountryCode, Currency, FlightId, FlightNumber,
    Label, Money, TimeZone,
};
use serde_json::Value;
use uuid::Uuid;

use crate::response::send;

/// Posts `body` to `url` as `token`, asserts 201 Created, and returns the body.
pub async fn create(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let response = send(client.post(url).bearer_auth(token).json(body)).await;
    let created = response.json();
    assert_eq!(response.status, 201, "{created}");
    created
}

/// The `id` of a created resource's body.
pub fn id_of(created: &Value) -> Uuid {
    created["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id in {created}"))
}

/// Metadata of a test command: a correlation id of its own.
pub fn meta() -> CommandMeta {
    CommandMeta {
        correlation_id: format!("test-{}", Uuid::new_v4()),
        ..CommandMeta::default()
    }
}

/// Registers airport `code` (named `code`) in `city`, France, in `tz`.
///
/// # Errors
/// Rejections, database failures.
pub async fn register_airport(
    executor: &Arc<Executor>,
    (code, city, tz): (&str, &str, &str),
    meta: CommandMeta,
) -> anyhow::Result<()> {
    let command = AirportCommand::Register {
        code: AirportCode::parse(code)?,
        name: Label::parse(code)?,
        city: Label::parse(city)?,
        country: CountryCode::parse("FR")?,
        time_zone: TimeZone::parse(tz)?,
        min_connection_minutes: ConnectionTime::default(),
    };
    executor
        .execute::<Airport>((code, None), "RegisterAirport", command, meta)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Registers an aircraft `model` of `layout`; returns its id.
///
/// # Errors
/// Rejections, database failures.
pub async fn register_aircraft(
    executor: &Arc<Executor>,
    model: &str,
    layout: &SeatLayout,
    meta: CommandMeta,
) -> anyhow::Result<AircraftId> {
    let id = AircraftId::from_uuid(Uuid::now_v7());
    let command = AircraftCommand::Register {
        id,
        model: Label::parse(model)?,
        layout: layout.clone(),
    };
    executor
        .execute::<Aircraft>((&id.to_string(), None), "RegisterAircraft", command, meta)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(id)
}

/// `minor` units of euro.
///
/// # Errors
/// A negative amount.
pub fn eur(minor: i64) -> anyhow::Result<Money> {
    Ok(Money::try_new(minor, Currency::parse("EUR")?)?)
}

/// A refundable fare of `cabin` at `price` EUR minor units, cancelled for `fee`.
///
/// # Errors
/// A negative amount.
pub fn fare(cabin: Cabin, price: i64, fee: i64) -> anyhow::Result<Fare> {
    Ok(Fare {
        cabin,
        class: None,
        limit: None,
        price: eur(price)?,
        rules: FareRules {
            refundable: true,
            cancellation_fee: eur(fee)?,
        },
    })
}

/// A flight to schedule.
pub struct FlightPlan<'a> {
    /// Its number (`AF1234`).
    pub number: &'a str,
    /// Origin and destination codes.
    pub route: (&'a str, &'a str),
    /// When it leaves.
    pub departure: DateTime<Utc>,
    /// How long it flies.
    pub duration: Duration,
    /// The aircraft and its layout.
    pub aircraft: (AircraftId, &'a SeatLayout),
    /// Its fares.
    pub fares: Vec<Fare>,
}

/// Schedules `plan`; returns the flight's id.
///
/// # Errors
/// Rejections, database failures.
pub async fn schedule_flight(
    executor: &Arc<Executor>,
    plan: FlightPlan<'_>,
    meta: CommandMeta,
) -> anyhow::Result<Uuid> {
    let id = FlightId::from_uuid(Uuid::now_v7());
    let command = FlightCommand::Schedule(Box::new(ScheduleFlight {
        id,
        number: FlightNumber::parse(plan.number)?,
        origin: AirportCode::parse(plan.route.0)?,
        destination: AirportCode::parse(plan.route.1)?,
        departure_at: plan.departure,
        arrival_at: plan.departure + plan.duration,
        aircraft_id: plan.aircraft.0,
        layout: plan.aircraft.1.clone(),
        fares: plan.fares,
        now: Utc::now(),
    }));
    executor
        .execute::<Flight>((&id.to_string(), None), "ScheduleFlight", command, meta)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(*id.as_uuid())
}

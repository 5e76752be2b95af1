//! Builders shared by the domain's tests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::aircraft::{CabinLayout, SeatLayout};
use crate::flight::{Fare, FareRules, FlightEvent};
use crate::values::*;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub fn departure() -> DateTime<Utc> {
    now() + Duration::days(10)
}

pub fn eur(minor: i64) -> Money {
    Money::try_new(minor, Currency::parse("EUR").unwrap()).unwrap()
}

pub fn seat(s: &str) -> SeatNumber {
    SeatNumber::parse(s).unwrap()
}

pub fn booking(n: u128) -> BookingId {
    BookingId::from_uuid(Uuid::from_u128(n))
}

pub fn flight_id() -> FlightId {
    FlightId::from_uuid(Uuid::from_u128(0xF1))
}

/// Business rows 1–2 (`AC DF`), economy rows 10–12 (`ABC DEF`), row 11 an exit row: 8 + 18 = 26 seats.
pub fn layout() -> SeatLayout {
    SeatLayout::try_new(vec![
        CabinLayout {
            cabin: Cabin::Business,
            first_row: 1,
            last_row: 2,
            letters: "AC DF".to_owned(),
            exit_rows: vec![],
        },
        CabinLayout {
            cabin: Cabin::Economy,
            first_row: 10,
            last_row: 12,
            letters: "ABC DEF".to_owned(),
            exit_rows: vec![11],
        },
    ])
    .unwrap()
}

pub fn fare(cabin: Cabin, price: i64, refundable: bool, fee: i64) -> Fare {
    Fare {
        cabin,
        class: None,
        limit: None,
        price: eur(price),
        rules: FareRules {
            refundable,
            cancellation_fee: eur(fee),
        },
    }
}

pub fn fares() -> Vec<Fare> {
    vec![
        fare(Cabin::Business, 90_000, true, 0),
        fare(Cabin::Economy, 10_000, true, 2_500),
    ]
}

pub fn scheduled() -> FlightEvent {
    scheduled_with(fares())
}

/// The test flight, on sale at `fares`.
pub fn scheduled_with(fares: Vec<Fare>) -> FlightEvent {
    FlightEvent::FlightScheduled {
        id: flight_id(),
        number: FlightNumber::parse("AF1234").unwrap(),
        origin: AirportCode::parse("CDG").unwrap(),
        destination: AirportCode::parse("JFK").unwrap(),
        departure_at: departure(),
        arrival_at: departure() + Duration::hours(8),
        aircraft_id: AircraftId::from_uuid(Uuid::from_u128(0xA1)),
        layout: layout(),
        fares,
    }
}

pub fn held(b: u128, seats: &[&str], cabin: Cabin) -> FlightEvent {
    FlightEvent::SeatsHeld {
        booking_id: booking(b),
        cabin,
        class: Some(crate::flight::ClassCode::default_for(cabin)),
        seats: seats.iter().map(|s| seat(s)).collect(),
        unseated: vec![],
        hold_until: now() + Duration::minutes(15),
    }
}

pub fn adult(s: &str) -> Passenger {
    person(PassengerType::Adult, Some(s))
}

pub fn person(kind: PassengerType, s: Option<&str>) -> Passenger {
    Passenger {
        first_name: PassengerName::parse("Grace").unwrap(),
        last_name: PassengerName::parse("Hopper").unwrap(),
        kind,
        seat: s.map(seat),
    }
}

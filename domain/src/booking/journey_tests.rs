//! A booking over several flights: placing a connection, seats per segment, delays that break a
//! connection, and the 1.0 `BookingPlaced` read as a one-segment journey.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::fixtures::*;
use crate::journey::{Itinerary, Segment};
use crate::values::*;

fn code(c: &str) -> AirportCode {
    AirportCode::parse(c).unwrap()
}

fn flight(n: u128) -> FlightId {
    FlightId::from_uuid(uuid::Uuid::from_u128(n))
}

/// CDG→LHR leaving at departure, 1 h; LHR→JFK 2 h after it lands, 8 h.
fn connection() -> (Segment, Segment) {
    let first = Segment {
        flight_id: flight(1),
        origin: code("CDG"),
        destination: code("LHR"),
        departure_at: departure(),
        arrival_at: departure() + Duration::hours(1),
    };
    let second = Segment {
        flight_id: flight(2),
        origin: code("LHR"),
        destination: code("JFK"),
        departure_at: departure() + Duration::hours(3),
        arrival_at: departure() + Duration::hours(11),
    };
    (first, second)
}

fn party(seats: [&str; 2]) -> Passengers {
    Passengers::try_new(vec![adult(seats[0]), adult(seats[1])]).unwrap()
}

fn placed_connection() -> Booking {
    let (first, second) = connection();
    let place = PlaceBooking {
        id: booking(7),
        pnr: Pnr::parse("JRNY23").unwrap(),
        customer_id: UserId::from_uuid(uuid::Uuid::from_u128(0xC1)),
        itinerary: Itinerary::new(vec![vec![first, second]], |_| Duration::hours(1)).unwrap(),
        seats: vec![
            SegmentSeats {
                fare: fare(Cabin::Economy, 10_000, true, 1_000),
                passengers: party(["10A", "10B"]),
            },
            SegmentSeats {
                fare: fare(Cabin::Economy, 20_000, true, 1_000),
                passengers: party(["20C", "20D"]),
            },
        ],
        contact_email: EmailAddress::parse("ada@example.com").unwrap(),
        hold_until: now() + Duration::minutes(15),
        now: now(),
    };
    let mut b = Booking::default();
    for e in b.decide(BookingCommand::Place(Box::new(place))).unwrap() {
        cqrs_es::Aggregate::apply(&mut b, e);
    }
    b
}

fn delay(flight_id: FlightId, by: Duration, minimum: u16) -> BookingCommand {
    let (first, second) = connection();
    let leg = if flight_id == first.flight_id {
        first
    } else {
        second
    };
    let rule = |segment, airport| ConnectionRule {
        segment,
        airport: code(airport),
        minimum: ConnectionTime::try_new(minimum).unwrap(),
    };
    BookingCommand::NoteFlightDelay {
        flight_id,
        departure_at: leg.departure_at + by,
        arrival_at: leg.arrival_at + by,
        reason: Label::parse("fog").unwrap(),
        connections: vec![rule(0, "CDG"), rule(1, "LHR"), rule(2, "JFK")],
    }
}

#[test]
fn a_connection_holds_each_passenger_on_each_segment_and_prices_both() {
    let b = placed_connection();
    let s = b.state().unwrap();
    assert_eq!(s.flight_ids(), vec![flight(1), flight(2)]);
    assert_eq!(s.segments[1].seats(), vec![seat("20C"), seat("20D")]);
    assert_eq!(s.total, eur(60_000));
    assert_eq!(s.fare_rules.cancellation_fee, eur(2_000));
    assert_eq!(s.departure_at(), departure());
}

#[test]
fn a_seat_change_names_its_segment_and_moves_only_there() {
    let b = placed_connection();
    let change = BookingCommand::ChangeSeat {
        segment: 1,
        passenger: 0,
        to: seat("21A"),
        now: now(),
    };
    let events = b.decide(change).unwrap();
    assert_eq!(
        events,
        vec![BookingEvent::PassengerSeatChanged {
            segment: 1,
            passenger: 0,
            from: seat("20C"),
            to: seat("21A"),
        }]
    );
    let mut moved = b.clone();
    for e in events {
        cqrs_es::Aggregate::apply(&mut moved, e);
    }
    let s = moved.state().unwrap();
    assert_eq!(s.segments[0].seats(), vec![seat("10A"), seat("10B")]);
    assert_eq!(s.segments[1].seats(), vec![seat("21A"), seat("20D")]);
    let elsewhere = BookingCommand::ChangeSeat {
        segment: 2,
        passenger: 0,
        to: seat("21A"),
        now: now(),
    };
    assert_eq!(b.decide(elsewhere), Err(BookingError::NoSuchSegment(2)));
}

#[test]
fn a_delay_that_leaves_too_little_time_to_connect_breaks_the_connection_once() {
    let b = placed_connection();
    // The first flight lands 90 minutes later: 30 minutes to connect where 60 are needed.
    let events = b
        .decide(delay(flight(1), Duration::minutes(90), 60))
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1],
        BookingEvent::ConnectionBroken {
            arriving: flight(1),
            departing: flight(2),
            airport: code("LHR"),
            minutes: 30,
            minimum: 60,
        }
    );
    let mut delayed = b.clone();
    for e in events {
        cqrs_es::Aggregate::apply(&mut delayed, e);
    }
    let s = delayed.state().unwrap();
    assert_eq!(s.broken_connections, vec![(flight(1), flight(2))]);
    assert_eq!(s.departure_at(), departure() + Duration::minutes(90));
    // A further delay is noted, but the connection was already reported broken.
    let again = delayed
        .decide(delay(flight(1), Duration::minutes(100), 60))
        .unwrap();
    assert!(matches!(
        again.as_slice(),
        [BookingEvent::FlightDelayNoted { .. }]
    ));
}

#[test]
fn a_delay_that_still_leaves_the_minimum_or_moves_the_later_flight_keeps_the_connection() {
    let b = placed_connection();
    // 60 minutes late: exactly the minimum left.
    let events = b
        .decide(delay(flight(1), Duration::minutes(60), 60))
        .unwrap();
    assert!(matches!(
        events.as_slice(),
        [BookingEvent::FlightDelayNoted { .. }]
    ));
    // The second flight leaving later only lengthens the connection.
    let events = b.decide(delay(flight(2), Duration::hours(2), 60)).unwrap();
    assert!(matches!(
        events.as_slice(),
        [BookingEvent::FlightDelayNoted { .. }]
    ));
    // A flight the booking does not fly on changes nothing.
    assert_eq!(
        b.decide(delay(flight(9), Duration::hours(2), 60)),
        Ok(vec![])
    );
}

#[test]
fn a_booking_placed_before_journeys_reads_as_one_segment() {
    let placed: DateTime<Utc> = now();
    let v1 = serde_json::json!({"BookingPlaced": {
        "id": booking(3), "pnr": "K7PX2M", "customer_id": uuid::Uuid::from_u128(0xC1),
        "flight_id": flight_id(), "cabin": "economy",
        "passengers": [
            {"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": "10A"},
            {"first_name": "Bo", "last_name": "Lovelace", "type": "child", "seat": "10B"}
        ],
        "contact_email": "ada@example.com",
        "total": {"amount_minor": 20000, "currency": "EUR"},
        "fare_rules": {"refundable": true, "cancellation_fee": {"amount_minor": 2500, "currency": "EUR"}},
        "departure_at": departure(), "hold_until": placed + Duration::minutes(15), "placed_at": placed
    }});
    let event: BookingEvent = serde_json::from_value(v1).unwrap();
    let BookingEvent::BookingPlaced(p) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(p.segments.len(), 1);
    let only = &p.segments[0];
    assert_eq!(only.flight_id, flight_id());
    assert_eq!(only.fare.price, eur(10_000));
    assert_eq!(only.seats(), vec![seat("10A"), seat("10B")]);
    assert_eq!(only.arrival_at, None);
    // Written again, it is a 2.0 event; read again, the same.
    let written = serde_json::to_value(&event).unwrap();
    assert!(written["BookingPlaced"].get("flight_id").is_none());
    assert_eq!(
        serde_json::from_value::<BookingEvent>(written).unwrap(),
        event
    );
    // A 1.0 seat change and delay were about that only segment.
    let mut b = Booking::default();
    for e in [
        event,
        serde_json::from_value(serde_json::json!({"PassengerSeatChanged":
            {"passenger": 0, "from": "10A", "to": "12F"}}))
        .unwrap(),
        serde_json::from_value(serde_json::json!({"FlightDelayNoted": {
            "departure_at": departure() + Duration::hours(1),
            "arrival_at": departure() + Duration::hours(9), "reason": "fog"}}))
        .unwrap(),
    ] {
        cqrs_es::Aggregate::apply(&mut b, e);
    }
    let s = b.state().unwrap();
    assert_eq!(s.segments[0].seats(), vec![seat("12F"), seat("10B")]);
    assert_eq!(s.departure_at(), departure() + Duration::hours(1));
    let shapeless = serde_json::json!({"BookingPlaced": {
        "id": booking(3), "pnr": "K7PX2M", "customer_id": uuid::Uuid::from_u128(0xC1),
        "contact_email": "ada@example.com",
        "total": {"amount_minor": 20000, "currency": "EUR"},
        "fare_rules": {"refundable": true, "cancellation_fee": {"amount_minor": 2500, "currency": "EUR"}},
        "hold_until": placed, "placed_at": placed
    }});
    assert!(serde_json::from_value::<BookingEvent>(shapeless).is_err());
}

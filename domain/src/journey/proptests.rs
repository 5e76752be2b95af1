//! Whatever flights are offered, a journey the rules accept is connected, in time order and within the
//! connecting-time limits; and journeys built to those limits are accepted.

use chrono::Duration;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::fixtures::now;
use crate::values::{AirportCode, FlightId};

const AIRPORTS: [&str; 5] = ["CDG", "JFK", "LHR", "AMS", "FRA"];

fn airport(i: usize) -> AirportCode {
    AirportCode::parse(AIRPORTS[i % AIRPORTS.len()]).unwrap()
}

/// The minimum connecting time of an airport, different per airport (40 to 120 minutes).
fn minimum(code: AirportCode) -> Duration {
    let i = AIRPORTS
        .iter()
        .position(|a| *a == code.as_str())
        .unwrap_or(0);
    Duration::minutes(40 + 20 * i as i64)
}

/// Any flight: random airports, leaving within a week, flying 0 to 12 hours (0 is invalid on purpose).
fn any_segment() -> impl Strategy<Value = Segment> {
    (
        0u128..6,
        0usize..5,
        0usize..5,
        0i64..7 * 24 * 60,
        0i64..12 * 60,
    )
        .prop_map(|(flight, from, to, at, minutes)| {
            let departure_at = now() + Duration::minutes(at);
            Segment {
                flight_id: FlightId::from_uuid(Uuid::from_u128(flight)),
                origin: airport(from),
                destination: airport(to),
                departure_at,
                arrival_at: departure_at + Duration::minutes(minutes),
            }
        })
}

fn any_slices() -> impl Strategy<Value = Vec<Vec<Segment>>> {
    prop::collection::vec(prop::collection::vec(any_segment(), 0..4), 0..4)
}

/// A chain of `hops` flights through distinct airports, each connection `waits[i]` minutes past the
/// airport's minimum (within a day), starting `start` minutes from now.
fn chain(first_flight: u128, route: &[usize], start: i64, waits: &[i64]) -> Vec<Segment> {
    let mut at = now() + Duration::minutes(start);
    let mut out = Vec::new();
    for (i, hop) in route.windows(2).enumerate() {
        let segment = Segment {
            flight_id: FlightId::from_uuid(Uuid::from_u128(first_flight + i as u128)),
            origin: airport(hop[0]),
            destination: airport(hop[1]),
            departure_at: at,
            arrival_at: at + Duration::minutes(90),
        };
        at = segment.arrival_at + minimum(segment.destination) + Duration::minutes(waits[i]);
        out.push(segment);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn an_accepted_journey_is_connected_ordered_and_within_its_connecting_times(slices in any_slices()) {
        let Ok(journey) = Itinerary::new(slices, minimum) else {
            return Ok(());
        };
        let slices = journey.slices();
        prop_assert!((1..=2).contains(&slices.len()));
        prop_assert!(journey.segments().count() <= MAX_SEGMENTS);
        for slice in slices {
            prop_assert!(!slice.is_empty());
            for s in slice {
                prop_assert!(s.arrival_at > s.departure_at);
            }
            for pair in slice.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                prop_assert_eq!(b.origin, a.destination);
                let wait = b.departure_at - a.arrival_at;
                prop_assert!(wait >= minimum(a.destination), "{wait} at {}", a.destination);
                prop_assert!(wait <= MAX_CONNECTION);
            }
        }
        if let [out, back] = slices {
            prop_assert_eq!(back[0].origin, out[out.len() - 1].destination);
            prop_assert_eq!(back[back.len() - 1].destination, out[0].origin);
            prop_assert!(back[0].departure_at > out[out.len() - 1].arrival_at);
        }
        let mut flights: Vec<_> = journey.segments().map(|s| s.flight_id).collect();
        flights.sort();
        flights.dedup();
        prop_assert_eq!(flights.len(), journey.segments().count());
    }

    #[test]
    fn chains_within_the_limits_are_accepted(
        hops in 1usize..=2,
        start in 0i64..1_000,
        waits in prop::collection::vec(0i64..(22 * 60), 2),
        back_after in 1i64..10_000,
        with_return in any::<bool>(),
    ) {
        let route: Vec<usize> = (0..=hops).collect();
        let out = chain(1, &route, start, &waits);
        let mut slices = vec![out.clone()];
        if with_return {
            let back_route: Vec<usize> = route.iter().rev().copied().collect();
            let leaves = (out[out.len() - 1].arrival_at - now()).num_minutes() + back_after;
            slices.push(chain(10, &back_route, leaves, &waits));
        }
        prop_assert!(Itinerary::new(slices, minimum).is_ok());
    }

    #[test]
    fn a_connection_a_minute_short_of_the_minimum_is_refused(hops in 2usize..=3, start in 0i64..1_000) {
        let route: Vec<usize> = (0..=hops).collect();
        let mut out = chain(1, &route, start, &[0, 0, 0]);
        let last = out.len() - 1;
        out[last].departure_at -= Duration::minutes(1);
        out[last].arrival_at -= Duration::minutes(1);
        let refused = matches!(
            Itinerary::new(vec![out], minimum),
            Err(JourneyError::ConnectionTooShort { .. })
        );
        prop_assert!(refused);
    }
}

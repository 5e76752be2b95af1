//! Random command sequences keep the seat invariants, and the emitted events rebuild the same state.

use std::collections::BTreeSet;

use chrono::Duration;
use cqrs_es::Aggregate;
use proptest::prelude::*;

use super::*;
use crate::fixtures::*;
use crate::values::{SeatNumber, SeatOccupant};

const SEATS: [&str; 8] = ["1A", "1C", "10A", "10B", "10C", "11A", "11D", "12F"];

fn any_seat() -> impl Strategy<Value = SeatNumber> {
    prop::sample::select(SEATS.to_vec()).prop_map(seat)
}

fn any_occupant() -> impl Strategy<Value = SeatOccupant> {
    prop_oneof![
        Just(SeatOccupant::Adult),
        Just(SeatOccupant::AdultWithInfant),
        Just(SeatOccupant::Child)
    ]
}

/// A command at a minute offset from `now()`: holds last 15 minutes, the flight leaves in 10 days.
fn any_command() -> impl Strategy<Value = FlightCommand> {
    let minute = 0i64..120;
    let b = 1u128..6;
    prop_oneof![
        4 => (b.clone(), prop::collection::vec((any_seat(), any_occupant()), 0..4), minute.clone())
            .prop_map(|(b, seats, m)| FlightCommand::HoldSeats {
                booking_id: booking(b),
                seats,
                class: None,
                unseated: vec![],
                cabin: None,
                hold_until: now() + Duration::minutes(m + 15),
                now: now() + Duration::minutes(m),
            }),
        2 => (b.clone(), minute.clone()).prop_map(|(b, m)| FlightCommand::ConfirmSeats {
            booking_id: booking(b),
            now: now() + Duration::minutes(m),
        }),
        1 => b.clone().prop_map(|b| FlightCommand::ReleaseSeats { booking_id: booking(b) }),
        2 => (b.clone(), minute.clone()).prop_map(|(b, m)| FlightCommand::ExpireHold {
            booking_id: booking(b),
            now: now() + Duration::minutes(m),
        }),
        2 => (b, any_seat(), any_seat(), any_occupant(), minute).prop_map(|(b, from, to, occupant, m)| {
            FlightCommand::MoveSeat {
                booking_id: booking(b),
                from,
                to,
                occupant,
                now: now() + Duration::minutes(m),
            }
        }),
    ]
}

fn check_invariants(flight: &Flight) -> Result<(), TestCaseError> {
    let s = flight.state().expect("scheduled");
    let mut seen = BTreeSet::new();
    for (booking_id, hold) in &s.holds {
        for seat in &hold.seats {
            prop_assert!(seen.insert(*seat), "seat {seat} belongs to two bookings");
            prop_assert_eq!(s.taken.get(seat), Some(booking_id));
            prop_assert!(s.seats.contains_key(seat), "seat {seat} is not on the map");
        }
    }
    prop_assert_eq!(seen.len(), s.taken.len(), "taken seats without a hold");
    let c = s.counts(None);
    prop_assert_eq!(c.sold + c.held + c.free, c.capacity);
    prop_assert_eq!(c.capacity, s.seats.len());
    for seat in s.seats.keys() {
        let status = s.seat_status(*seat);
        prop_assert_eq!(status == SeatStatus::Free, !s.taken.contains_key(seat));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_commands_never_double_book_and_replay_rebuilds_the_state(
        commands in prop::collection::vec(any_command(), 1..60)
    ) {
        let mut flight = Flight::default();
        flight.apply(scheduled());
        let mut log = vec![scheduled()];
        for command in commands {
            if let Ok(events) = flight.decide(command) {
                for e in events {
                    flight.apply(e.clone());
                    log.push(e);
                }
            }
            check_invariants(&flight)?;
        }
        let mut replayed = Flight::default();
        for e in log {
            replayed.apply(e);
        }
        prop_assert_eq!(replayed, flight);
    }

    #[test]
    fn a_hold_succeeds_exactly_when_every_seat_is_free_and_allowed(
        first in prop::collection::vec(any_seat(), 1..4),
        second in prop::collection::vec((any_seat(), any_occupant()), 1..4),
    ) {
        let mut flight = Flight::default();
        flight.apply(scheduled());
        let first: BTreeSet<_> = first.into_iter().collect();
        let hold_first = FlightCommand::HoldSeats {
            booking_id: booking(1),
            seats: first.iter().map(|s| (*s, SeatOccupant::Adult)).collect(),
            class: None,
            unseated: vec![],
            cabin: None,
            hold_until: now() + Duration::minutes(15),
            now: now(),
        };
        if let Ok(events) = flight.decide(hold_first) {
            events.into_iter().for_each(|e| flight.apply(e));
        }
        let state = flight.state().unwrap().clone();
        let wanted: Vec<_> = second.iter().map(|(s, _)| *s).collect();
        let distinct: BTreeSet<_> = wanted.iter().copied().collect();
        let cabins: BTreeSet<_> = wanted.iter().map(|s| state.seats[s].cabin).collect();
        let allowed = second
            .iter()
            .all(|(s, o)| !state.seats[s].is_exit_row() || o.may_sit_in_exit_row());
        let free = wanted.iter().all(|s| !state.taken.contains_key(s));
        let result = flight.decide(FlightCommand::HoldSeats {
            booking_id: booking(2),
            seats: second,
            class: None,
            unseated: vec![],
            cabin: None,
            hold_until: now() + Duration::minutes(15),
            now: now(),
        });
        let expect_ok = distinct.len() == wanted.len() && cabins.len() == 1 && allowed && free;
        prop_assert_eq!(result.is_ok(), expect_ok, "{:?}", result);
    }
}

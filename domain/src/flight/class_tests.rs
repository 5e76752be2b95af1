//! Booking classes: nested limits, the price stepping up as the cheap classes fill, one class for a
//! whole party, a closed class naming the one on sale, limits checked when fares are set; and a property
//! test over random sales, limit changes and releases.

use chrono::Duration;
use cqrs_es::Aggregate;
use proptest::prelude::*;

use super::*;
use crate::fixtures::*;
use crate::values::{Cabin, SeatNumber, SeatOccupant};

fn class(code: &str, price: i64, limit: Option<u32>) -> Fare {
    Fare {
        class: Some(ClassCode::parse(code).unwrap()),
        limit,
        ..fare(Cabin::Economy, price, true, 0)
    }
}

/// Economy's 18 seats sold as Y (no limit but the cabin), B (12 with the cheaper ones) and Q (4).
fn three_classes() -> Vec<Fare> {
    vec![
        fare(Cabin::Business, 90_000, true, 0),
        class("Y", 30_000, None),
        class("B", 20_000, Some(12)),
        class("Q", 10_000, Some(4)),
    ]
}

fn flight_with(fares: Vec<Fare>) -> Flight {
    let mut flight = Flight::default();
    flight.apply(scheduled_with(fares));
    flight
}

fn economy_seats() -> Vec<SeatNumber> {
    ["10", "11", "12"]
        .iter()
        .flat_map(|row| "ABCDEF".chars().map(move |l| seat(&format!("{row}{l}"))))
        .collect()
}

/// Holds `seats` for booking `b` in `class` (or the cheapest open), applying what it decides.
fn hold(
    flight: &mut Flight,
    b: u128,
    seats: &[SeatNumber],
    class: Option<&str>,
) -> Result<ClassCode, FlightError> {
    let events = flight.decide(FlightCommand::HoldSeats {
        booking_id: booking(b),
        seats: seats.iter().map(|s| (*s, SeatOccupant::Adult)).collect(),
        class: class.map(|c| ClassCode::parse(c).unwrap()),
        unseated: vec![],
        cabin: None,
        hold_until: now() + Duration::minutes(15),
        now: now(),
    })?;
    let sold_in = match &events[..] {
        [FlightEvent::SeatsHeld { class, .. }] => class.unwrap(),
        other => panic!("{other:?}"),
    };
    for event in events {
        flight.apply(event);
    }
    Ok(sold_in)
}

fn quoted(flight: &Flight, party: usize) -> Option<char> {
    let state = flight.state().unwrap();
    state
        .quote(Cabin::Economy, party, None)
        .ok()
        .map(|f| f.code().as_char())
}

#[test]
fn selling_out_the_cheapest_class_moves_the_price_to_the_next() {
    let mut flight = flight_with(three_classes());
    let seats = economy_seats();
    assert_eq!(quoted(&flight, 1), Some('Q'));
    // Q's four go two by two; then B is the cheapest open.
    assert_eq!(
        hold(&mut flight, 1, &seats[0..2], None).unwrap().as_char(),
        'Q'
    );
    assert_eq!(
        hold(&mut flight, 2, &seats[2..4], None).unwrap().as_char(),
        'Q'
    );
    assert_eq!(quoted(&flight, 1), Some('B'));
    // B's limit counts Q's sales: 12 - 4 = 8 left.
    let classes = flight.state().unwrap().classes(Cabin::Economy);
    let left: Vec<usize> = classes.iter().map(|c| c.available).collect();
    assert_eq!(left, [14, 8, 0]);
    assert_eq!(
        hold(&mut flight, 3, &seats[4..12], None).unwrap().as_char(),
        'B'
    );
    assert_eq!(quoted(&flight, 1), Some('Y'));
    // Y sells what is left of the cabin, then nothing is open.
    assert_eq!(
        hold(&mut flight, 4, &seats[12..18], None)
            .unwrap()
            .as_char(),
        'Y'
    );
    assert_eq!(quoted(&flight, 1), None);
    // Releasing a Q booking opens Q again.
    for event in flight
        .decide(FlightCommand::ReleaseSeats {
            booking_id: booking(1),
        })
        .unwrap()
    {
        flight.apply(event);
    }
    assert_eq!(quoted(&flight, 2), Some('Q'));
    assert_eq!(quoted(&flight, 3), None);
}

#[test]
fn a_party_is_sold_in_one_class_the_cheapest_open_for_all_of_it() {
    let mut flight = flight_with(three_classes());
    let seats = economy_seats();
    assert_eq!(
        hold(&mut flight, 1, &seats[0..2], None).unwrap().as_char(),
        'Q'
    );
    // Two Q seats are left: a party of three goes to B whole, never split.
    assert_eq!(quoted(&flight, 2), Some('Q'));
    assert_eq!(quoted(&flight, 3), Some('B'));
    assert_eq!(
        hold(&mut flight, 2, &seats[2..5], None).unwrap().as_char(),
        'B'
    );
    let state = flight.state().unwrap();
    assert_eq!(state.holds[&booking(2)].class.unwrap().as_char(), 'B');
}

#[test]
fn a_closed_class_asked_for_names_the_class_on_sale_and_an_unknown_one_is_refused() {
    let mut flight = flight_with(three_classes());
    let seats = economy_seats();
    hold(&mut flight, 1, &seats[0..4], Some("Q")).unwrap();
    assert_eq!(
        hold(&mut flight, 2, &seats[4..5], Some("Q")),
        Err(FlightError::ClassClosed {
            class: ClassCode::parse("Q").unwrap(),
            party: 1,
            on_sale: Some(ClassCode::parse("B").unwrap()),
        })
    );
    assert!(matches!(
        hold(&mut flight, 2, &seats[4..5], Some("Z")),
        Err(FlightError::UnknownClass { .. })
    ));
    // A dearer class may always be asked for while it is open.
    assert_eq!(
        hold(&mut flight, 3, &seats[4..5], Some("Y"))
            .unwrap()
            .as_char(),
        'Y'
    );
}

#[test]
fn lowering_a_limit_below_what_is_sold_closes_the_class_and_takes_nothing_back() {
    let mut flight = flight_with(three_classes());
    let seats = economy_seats();
    hold(&mut flight, 1, &seats[0..4], Some("Q")).unwrap();
    let mut lower = three_classes();
    lower[3].limit = Some(2);
    lower[2].limit = Some(6);
    for event in flight
        .decide(FlightCommand::ChangeFares {
            fares: lower,
            now: now(),
        })
        .unwrap()
    {
        flight.apply(event);
    }
    let state = flight.state().unwrap();
    let classes = state.classes(Cabin::Economy);
    let sold: Vec<usize> = classes.iter().map(|c| c.sold).collect();
    let left: Vec<usize> = classes.iter().map(|c| c.available).collect();
    assert_eq!(sold, [0, 0, 4]);
    assert_eq!(left, [14, 2, 0]);
    assert_eq!(state.holds.len(), 1);
}

#[test]
fn classes_must_nest() {
    let cases: [(Vec<Fare>, &str); 4] = [
        (
            vec![class("Y", 30_000, Some(10)), class("B", 20_000, Some(12))],
            "a cheaper class may sell more than a dearer one",
        ),
        (
            vec![class("Y", 30_000, Some(10)), class("B", 20_000, None)],
            "a cheaper class has no limit below a limited dearer one",
        ),
        (
            vec![class("Y", 30_000, None), class("B", 30_000, Some(5))],
            "two classes have the same price",
        ),
        (
            vec![class("Y", 30_000, None), class("Y", 20_000, Some(5))],
            "a class code is used twice",
        ),
    ];
    let flight = flight_with(three_classes());
    for (economy, why) in cases {
        let mut fares = vec![fare(Cabin::Business, 90_000, true, 0)];
        fares.extend(economy);
        assert_eq!(
            flight.decide(FlightCommand::ChangeFares { fares, now: now() }),
            Err(FlightError::InvalidClasses {
                cabin: Cabin::Economy,
                why
            })
        );
    }
}

#[test]
fn a_flight_scheduled_before_classes_sells_each_cabin_as_its_one_default_class() {
    // A 1.0 log: fares without classes, a hold without one.
    let old = serde_json::json!({"SeatsHeld": {"booking_id": booking(1), "cabin": "economy",
        "seats": ["10A", "10B"], "hold_until": now() + Duration::minutes(15)}});
    let mut flight = flight_with(fares());
    flight.apply(serde_json::from_value(old).unwrap());
    let state = flight.state().unwrap();
    let classes = state.classes(Cabin::Economy);
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0].fare.code().as_char(), 'Y');
    assert_eq!((classes[0].sold, classes[0].available), (2, 16));
    assert_eq!(state.classes(Cabin::Business)[0].fare.code().as_char(), 'J');
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    Hold {
        b: u128,
        party: usize,
        class: Option<usize>,
    },
    Release {
        b: u128,
    },
    Limits {
        q: u32,
        b: u32,
    },
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u128..12, 1usize..5, prop::option::of(0usize..3))
            .prop_map(|(b, party, class)| Step::Hold { b, party, class }),
        1 => (1u128..12).prop_map(|b| Step::Release { b }),
        1 => (0u32..8, 0u32..18).prop_map(|(q, b)| Step::Limits { q, b: b.max(q) }),
    ]
}

proptest! {
    /// Whatever the sales, releases and limit changes: a class sells only while it and every dearer
    /// class are within their nested limits, and the cabin never past its seats.
    #[test]
    fn no_sale_ever_takes_a_class_past_its_nested_limit(steps in prop::collection::vec(any_step(), 1..40)) {
        let mut flight = flight_with(three_classes());
        let seats = economy_seats();
        let codes = ["Y", "B", "Q"];
        for step in steps {
            let events = match step {
                Step::Hold { b, party, class } => {
                    let state = flight.state().unwrap();
                    let free: Vec<SeatNumber> = seats
                        .iter()
                        .copied()
                        .filter(|s| !state.taken.contains_key(s))
                        .take(party)
                        .collect();
                    flight.decide(FlightCommand::HoldSeats {
                        booking_id: booking(b),
                        seats: free.iter().map(|s| (*s, SeatOccupant::Adult)).collect(),
                        class: class.map(|i| ClassCode::parse(codes[i]).unwrap()),
                        unseated: vec![],
                        cabin: None,
                        hold_until: now() + Duration::minutes(15),
                        now: now(),
                    })
                }
                Step::Release { b } => flight.decide(FlightCommand::ReleaseSeats { booking_id: booking(b) }),
                Step::Limits { q, b } => {
                    let mut fares = three_classes();
                    fares[2].limit = Some(b);
                    fares[3].limit = Some(q);
                    flight.decide(FlightCommand::ChangeFares { fares, now: now() })
                }
            };
            let Ok(events) = events else { continue };
            let sold_in = events.iter().find_map(|e| match e {
                FlightEvent::SeatsHeld { class, .. } => *class,
                _ => None,
            });
            for event in events {
                flight.apply(event);
            }
            let state = flight.state().unwrap();
            let classes = state.classes(Cabin::Economy);
            prop_assert!(state.counts(Some(Cabin::Economy)).sold + state.counts(Some(Cabin::Economy)).held <= 18);
            if let Some(code) = sold_in {
                let j = classes.iter().position(|c| c.fare.code() == code).unwrap();
                for k in 0..=j {
                    if let Some(limit) = classes[k].fare.limit {
                        let nested: usize = classes[k..].iter().map(|c| c.sold).sum();
                        prop_assert!(nested <= limit as usize, "class {} past its limit after a sale in {}", k, code);
                    }
                }
            }
        }
    }
}

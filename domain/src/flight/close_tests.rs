//! Overbooking, places sold without seats, seats assigned later, and the flight's close: who is
//! offloaded (the cheapest class first, the latest booked first), who sits where, and what a closed
//! flight refuses; and a property test over random sales and overbooking changes ending in a close.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use proptest::prelude::*;

use super::*;
use crate::fixtures::*;
use crate::values::{BookingId, Cabin, PassengerType, Passengers, SeatNumber, SeatOccupant};

fn class(code: &str, price: i64, limit: Option<u32>) -> Fare {
    Fare {
        class: Some(ClassCode::parse(code).unwrap()),
        limit,
        ..fare(Cabin::Economy, price, true, 0)
    }
}

/// Economy's 18 seats (row 11 an exit row) sold as Y, B (12 with Q) and Q (4), oversold by `extra`.
fn oversold(extra: u32) -> Flight {
    let mut flight = Flight::default();
    flight.apply(scheduled_with(vec![
        fare(Cabin::Business, 90_000, true, 0),
        class("Y", 30_000, None),
        class("B", 20_000, Some(12)),
        class("Q", 10_000, Some(4)),
    ]));
    run(
        &mut flight,
        FlightCommand::SetOverbooking {
            cabin: Cabin::Economy,
            overbooking: Overbooking::seats(extra),
            now: now(),
        },
    )
    .unwrap();
    flight
}

fn run(flight: &mut Flight, command: FlightCommand) -> Result<Vec<FlightEvent>, FlightError> {
    let events = flight.decide(command)?;
    for event in events.clone() {
        flight.apply(event);
    }
    Ok(events)
}

fn hold(
    b: u128,
    seats: &[&str],
    unseated: usize,
    class: Option<&str>,
    at: DateTime<Utc>,
) -> FlightCommand {
    FlightCommand::HoldSeats {
        booking_id: booking(b),
        seats: seats
            .iter()
            .map(|s| (seat(s), SeatOccupant::Adult))
            .collect(),
        unseated: vec![SeatOccupant::Adult; unseated],
        cabin: Some(Cabin::Economy),
        class: class.map(|c| ClassCode::parse(c).unwrap()),
        hold_until: at + Duration::minutes(15),
        now: at,
    }
}

fn confirm(b: u128) -> FlightCommand {
    FlightCommand::ConfirmSeats {
        booking_id: booking(b),
        now: now(),
    }
}

/// The booking's party as the flight holds it: adults, seated ones first.
fn party_of(flight: &Flight, b: u128, minute: i64) -> Party {
    let hold = &flight.state().unwrap().holds[&booking(b)];
    let seated = hold
        .seats
        .iter()
        .map(|s| person(PassengerType::Adult, Some(&s.to_string())));
    let unseated = hold
        .unseated
        .iter()
        .map(|_| person(PassengerType::Adult, None));
    let fare_minor = flight.state().unwrap().fares[&hold.cabin]
        .iter()
        .find(|f| Some(f.code()) == hold.class)
        .map_or(0, |f| f.price.amount_minor());
    Party {
        booking_id: booking(b),
        placed_at: now() + Duration::minutes(minute),
        passengers: Passengers::try_new(seated.chain(unseated).collect()).unwrap(),
        fare_minor,
    }
}

fn economy(flight: &Flight) -> SeatCounts {
    flight.state().unwrap().counts(Some(Cabin::Economy))
}

#[test]
fn places_beyond_the_seats_sell_only_without_seats_and_never_past_the_authorized() {
    let mut flight = oversold(2);
    assert_eq!(economy(&flight).authorized, 20);
    let rows: Vec<String> = ["10", "12"]
        .iter()
        .flat_map(|r| "ABCDEF".chars().map(move |l| format!("{r}{l}")))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    run(&mut flight, hold(1, &rows[..9], 0, None, now())).unwrap();
    run(&mut flight, hold(2, &rows[9..], 0, None, now())).unwrap();
    run(&mut flight, hold(3, &["11A", "11B"], 0, None, now())).unwrap();
    // 14 seated; 3 more with seats would make 17 + the 3 below > 18? Not yet: 17 ≤ 18.
    run(&mut flight, hold(4, &[], 3, None, now())).unwrap();
    assert_eq!(
        run(&mut flight, hold(5, &["11C", "11D"], 0, None, now())),
        Err(FlightError::OnlyWithoutSeats {
            cabin: Cabin::Economy
        }),
        "17 + 2 places would pass the 18 seats: the rest sell without seats"
    );
    run(&mut flight, hold(5, &[], 3, None, now())).unwrap();
    assert!(matches!(
        run(&mut flight, hold(6, &[], 1, None, now())),
        Err(FlightError::NoClassOpen { party: 1, .. })
    ));
    let counts = economy(&flight);
    assert_eq!((counts.held, counts.free, counts.unassigned), (20, 0, 6));
    assert_eq!(flight.state().unwrap().taken.len(), 14);
}

#[test]
fn overbooking_is_set_by_percent_or_count_and_lowering_it_keeps_what_was_sold() {
    let mut flight = oversold(0);
    let percent = Overbooking::percent_of(10, 18);
    assert_eq!(percent.extra_seats, 1);
    let set = run(
        &mut flight,
        FlightCommand::SetOverbooking {
            cabin: Cabin::Economy,
            overbooking: percent,
            now: now(),
        },
    )
    .unwrap();
    assert!(matches!(
        &set[..],
        [FlightEvent::OverbookingSet {
            extra_seats: 1,
            percent: Some(10),
            ..
        }]
    ));
    run(&mut flight, hold(1, &[], 9, None, now())).unwrap();
    run(&mut flight, hold(2, &[], 9, None, now())).unwrap();
    run(&mut flight, hold(3, &[], 1, None, now())).unwrap();
    run(
        &mut flight,
        FlightCommand::SetOverbooking {
            cabin: Cabin::Economy,
            overbooking: Overbooking::seats(0),
            now: now(),
        },
    )
    .unwrap();
    let counts = economy(&flight);
    assert_eq!((counts.authorized, counts.held, counts.free), (18, 19, 0));
    for bad in [Overbooking::seats(19), Overbooking::percent_of(101, 18)] {
        assert!(matches!(
            flight.decide(FlightCommand::SetOverbooking {
                cabin: Cabin::Economy,
                overbooking: bad,
                now: now(),
            }),
            Err(FlightError::InvalidOverbooking(_))
        ));
    }
    assert_eq!(
        flight.decide(FlightCommand::SetOverbooking {
            cabin: Cabin::First,
            overbooking: Overbooking::seats(1),
            now: now(),
        }),
        Err(FlightError::NoSuchCabin(Cabin::First))
    );
}

#[test]
fn a_passenger_without_a_seat_picks_one_later_within_the_rules() {
    let mut flight = oversold(0);
    let mut with_child = hold(1, &[], 0, None, now());
    if let FlightCommand::HoldSeats { unseated, .. } = &mut with_child {
        *unseated = vec![SeatOccupant::Adult, SeatOccupant::Child];
    }
    run(&mut flight, with_child).unwrap();
    run(&mut flight, hold(2, &["10A"], 0, None, now())).unwrap();
    let assign = |seat_: &str, occupant| FlightCommand::AssignSeat {
        booking_id: booking(1),
        seat: seat(seat_),
        occupant,
        now: now(),
    };
    assert_eq!(
        flight.decide(assign("11A", SeatOccupant::Child)),
        Err(FlightError::ExitRowRestricted(seat("11A")))
    );
    assert_eq!(
        flight.decide(assign("10A", SeatOccupant::Child)),
        Err(FlightError::SeatsUnavailable(vec![seat("10A")]))
    );
    assert_eq!(
        flight.decide(assign("1A", SeatOccupant::Child)),
        Err(FlightError::CabinChange)
    );
    run(&mut flight, assign("10B", SeatOccupant::Child)).unwrap();
    assert_eq!(
        run(&mut flight, assign("10B", SeatOccupant::Child)),
        Ok(vec![]),
        "a repeated assignment does nothing"
    );
    assert_eq!(
        flight.decide(assign("10C", SeatOccupant::Child)),
        Err(FlightError::NoUnseatedPassenger)
    );
    run(&mut flight, assign("11C", SeatOccupant::Adult)).unwrap();
    let hold = &flight.state().unwrap().holds[&booking(1)];
    assert!(hold.unseated.is_empty());
    assert_eq!(hold.seats, [seat("10B"), seat("11C")].into());
    assert_eq!(economy(&flight).unassigned, 0);
}

/// 21 paid places on 18 seats (plus one unpaid): b1 4 in Q, b2 6 seated in B, b3 2 in B, b4 8 in Y,
/// b5 1 in Y; b6 holds the last place unpaid.
fn oversold_flight() -> (Flight, Vec<Party>) {
    let mut flight = oversold(4);
    let six = ["10A", "10B", "10C", "10D", "10E", "10F"];
    let sales: [(u128, &[&str], usize, &str); 5] = [
        (1, &[], 4, "Q"),
        (2, &six, 0, "B"),
        (3, &[], 2, "B"),
        (4, &[], 8, "Y"),
        (5, &[], 1, "Y"),
    ];
    let mut parties = Vec::new();
    for (b, seats, unseated, code) in sales {
        let at = now() + Duration::minutes(i64::try_from(b).unwrap());
        run(&mut flight, hold(b, seats, unseated, Some(code), at)).unwrap();
        run(&mut flight, confirm(b)).unwrap();
        parties.push(party_of(&flight, b, i64::try_from(b).unwrap()));
    }
    run(&mut flight, hold(6, &[], 1, None, now())).unwrap();
    (flight, parties)
}

#[test]
fn closing_offloads_the_cheapest_class_first_and_seats_everyone_else_with_their_party() {
    let (mut flight, parties) = oversold_flight();
    let plan = plan_close(flight.state().unwrap(), &parties);
    assert_eq!(plan.expire, vec![booking(6)]);
    assert_eq!(
        plan.offload,
        vec![Offload {
            booking_id: booking(1),
            passengers: vec![1, 2, 3],
            seats: vec![],
            unseated: vec![SeatOccupant::Adult; 3],
        }],
        "Q is the cheapest class: three of its four go"
    );
    assert_eq!(plan.assign.len(), 12);
    let seats: BTreeSet<SeatNumber> = plan.assign.iter().map(|a| a.seat).collect();
    assert_eq!(seats.len(), 12);
    let b3_rows: BTreeSet<u8> = plan
        .assign
        .iter()
        .filter(|a| a.booking_id == booking(3))
        .map(|a| a.seat.row())
        .collect();
    assert_eq!(b3_rows.len(), 1, "a party sits in one row where it can");
    let events = run(&mut flight, FlightCommand::Close { plan, now: now() }).unwrap();
    assert!(matches!(
        events.last(),
        Some(FlightEvent::FlightClosed {
            assigned: 12,
            offloaded: 3,
            expired: 1,
            ..
        })
    ));
    let s = flight.state().unwrap();
    assert!(s.is_closed());
    assert_eq!(s.taken.len(), 18);
    assert!(
        s.holds
            .values()
            .all(|h| h.confirmed && h.unseated.is_empty())
    );
    assert_eq!(
        flight.decide(hold(7, &[], 1, None, now())),
        Err(FlightError::Closed)
    );
    assert_eq!(
        flight.decide(FlightCommand::MoveSeat {
            booking_id: booking(2),
            from: seat("10A"),
            to: seat("1A"),
            occupant: SeatOccupant::Adult,
            now: now(),
        }),
        Err(FlightError::Closed)
    );
    assert!(matches!(
        flight.decide(FlightCommand::Close {
            plan: ClosePlan::default(),
            now: now(),
        }),
        Err(FlightError::Closed)
    ));
}

#[test]
fn within_a_class_the_latest_booked_go_first_and_a_party_with_children_stays_whole() {
    let mut flight = oversold(3);
    let seated: Vec<String> = ["10", "11", "12"]
        .iter()
        .flat_map(|r| "ABCDEF".chars().map(move |l| format!("{r}{l}")))
        .take(16)
        .collect();
    let seated: Vec<&str> = seated.iter().map(String::as_str).collect();
    run(&mut flight, hold(1, &seated[..8], 0, Some("Y"), now())).unwrap();
    run(&mut flight, hold(2, &seated[8..], 0, Some("Y"), now())).unwrap();
    // 16 seated in Y, then b3 (earlier, two places) and b4 (later, one) in Q: one place too many.
    run(&mut flight, hold(3, &[], 2, Some("Q"), now())).unwrap();
    run(&mut flight, hold(4, &[], 1, Some("Q"), now())).unwrap();
    for b in 1..=4 {
        run(&mut flight, confirm(b)).unwrap();
    }
    let parties: Vec<Party> = (1..=4)
        .map(|b| party_of(&flight, b, i64::try_from(b).unwrap()))
        .collect();
    let plan = plan_close(flight.state().unwrap(), &parties);
    let offloaded: Vec<(BookingId, usize)> = plan
        .offload
        .iter()
        .map(|o| (o.booking_id, o.passengers.len()))
        .collect();
    assert_eq!(offloaded, vec![(booking(4), 1)], "the later Q booking goes");
    run(&mut flight, FlightCommand::Close { plan, now: now() }).unwrap();

    // A family (adult and child) in the cheapest class, one place too many: both go.
    let mut flight = oversold(1);
    run(&mut flight, hold(1, &seated[..9], 0, Some("Y"), now())).unwrap();
    run(&mut flight, hold(2, &seated[9..16], 0, Some("Y"), now())).unwrap();
    let mut family = hold(3, &[], 0, Some("Q"), now());
    if let FlightCommand::HoldSeats { unseated, .. } = &mut family {
        *unseated = vec![SeatOccupant::Adult, SeatOccupant::Child];
    }
    run(&mut flight, family).unwrap();
    run(&mut flight, hold(4, &[], 1, Some("Y"), now())).unwrap();
    for b in 1..=4 {
        run(&mut flight, confirm(b)).unwrap();
    }
    let mut parties: Vec<Party> = [1, 2, 4]
        .iter()
        .map(|b| party_of(&flight, *b, i64::try_from(*b).unwrap()))
        .collect();
    parties.push(Party {
        booking_id: booking(3),
        placed_at: now() + Duration::minutes(3),
        passengers: Passengers::try_new(vec![
            person(PassengerType::Adult, None),
            person(PassengerType::Child, None),
        ])
        .unwrap(),
        fare_minor: 10_000,
    });
    let plan = plan_close(flight.state().unwrap(), &parties);
    assert_eq!(plan.offload.len(), 1);
    assert_eq!(plan.offload[0].booking_id, booking(3));
    assert_eq!(plan.offload[0].passengers, vec![0, 1]);
    run(&mut flight, FlightCommand::Close { plan, now: now() }).unwrap();
    assert_eq!(
        flight.state().unwrap().taken.len(),
        17,
        "one seat stays free"
    );
}

#[test]
fn a_plan_the_flight_no_longer_fits_is_refused() {
    let (mut flight, parties) = oversold_flight();
    let plan = plan_close(flight.state().unwrap(), &parties);
    run(&mut flight, confirm(6)).unwrap();
    assert!(matches!(
        flight.decide(FlightCommand::Close {
            plan: plan.clone(),
            now: now(),
        }),
        Err(FlightError::InvalidClosePlan(_))
    ));
    let mut short = plan_close(flight.state().unwrap(), &parties);
    short.assign.pop();
    assert!(matches!(
        flight.decide(FlightCommand::Close {
            plan: short,
            now: now(),
        }),
        Err(FlightError::InvalidClosePlan(_))
    ));
}

#[derive(Debug, Clone)]
enum Step {
    Hold {
        b: u128,
        seats: Vec<SeatNumber>,
        unseated: usize,
    },
    Confirm(u128),
    Release(u128),
    Overbook(u32),
}

fn any_step() -> impl Strategy<Value = Step> {
    let economy: Vec<SeatNumber> = ["10", "11", "12"]
        .iter()
        .flat_map(|r| "ABCDEF".chars().map(move |l| seat(&format!("{r}{l}"))))
        .collect();
    let b = 1u128..30;
    prop_oneof![
        6 => (b.clone(), prop::sample::subsequence(economy, 0..4), 0usize..4)
            .prop_map(|(b, seats, unseated)| Step::Hold { b, seats, unseated }),
        4 => b.clone().prop_map(Step::Confirm),
        1 => b.prop_map(Step::Release),
        1 => (0u32..8).prop_map(Step::Overbook),
    ]
}

proptest! {
    /// Any sales, releases and overbooking changes: no sale passes the authorized places, no seated
    /// sale passes the seats; the close then leaves every paid passenger seated on a seat of their own.
    #[test]
    fn sales_stay_within_the_authorized_places_and_the_close_seats_everyone_left(
        steps in prop::collection::vec(any_step(), 1..60)
    ) {
        let mut flight = oversold(2);
        let mut placed = std::collections::BTreeMap::new();
        for (i, step) in steps.into_iter().enumerate() {
            let command = match step {
                Step::Hold { b, seats, unseated } => {
                    let names: Vec<String> = seats.iter().map(ToString::to_string).collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    hold(b, &names, unseated, None, now())
                }
                Step::Confirm(b) => confirm(b),
                Step::Release(b) => FlightCommand::ReleaseSeats { booking_id: booking(b) },
                Step::Overbook(n) => FlightCommand::SetOverbooking {
                    cabin: Cabin::Economy,
                    overbooking: Overbooking::seats(n),
                    now: now(),
                },
            };
            let before = economy(&flight);
            if let Ok(events) = run(&mut flight, command) {
                for event in &events {
                    if let FlightEvent::SeatsHeld { booking_id, seats, unseated, .. } = event {
                        let after = economy(&flight);
                        prop_assert!(after.sold + after.held <= after.authorized);
                        if !seats.is_empty() {
                            prop_assert!(after.sold + after.held <= after.capacity);
                        }
                        prop_assert_eq!(after.held, before.held + seats.len() + unseated.len());
                        placed.insert(*booking_id, i64::try_from(i).unwrap());
                    }
                }
            }
            let s = flight.state().unwrap();
            prop_assert!(s.taken.len() <= s.seats.len());
        }
        let s = flight.state().unwrap();
        let parties: Vec<Party> = s
            .holds
            .iter()
            .filter(|(_, h)| h.confirmed)
            .map(|(id, _)| {
                let b = id.as_uuid().as_u128();
                party_of(&flight, b, placed[id])
            })
            .collect();
        let plan = plan_close(s, &parties);
        let paid_before = economy(&flight).sold;
        let offloaded: usize = plan.offload.iter().map(|o| o.passengers.len()).sum();
        run(&mut flight, FlightCommand::Close { plan, now: now() }).unwrap();
        let s = flight.state().unwrap();
        let after = s.counts(Some(Cabin::Economy));
        prop_assert!(s.holds.values().all(|h| h.confirmed && h.unseated.is_empty()));
        prop_assert_eq!(after.sold, paid_before - offloaded);
        prop_assert!(after.sold <= after.capacity);
        prop_assert_eq!(offloaded, paid_before.saturating_sub(after.capacity));
    }
}

#[test]
fn a_child_gets_the_seat_outside_the_exit_row_and_nobody_is_offloaded_when_all_fit() {
    let mut flight = oversold(0);
    // Every seat but 10A and 11A (an exit row) sold with seats.
    let sold: Vec<String> = ["10", "11", "12"]
        .iter()
        .flat_map(|r| "ABCDEF".chars().map(move |l| format!("{r}{l}")))
        .filter(|s| s != "10A" && s != "11A")
        .collect();
    let sold: Vec<&str> = sold.iter().map(String::as_str).collect();
    run(&mut flight, hold(1, &sold[..8], 0, Some("Y"), now())).unwrap();
    run(&mut flight, hold(2, &sold[8..], 0, Some("Y"), now())).unwrap();
    let mut family = hold(3, &[], 0, Some("Y"), now() + Duration::minutes(3));
    if let FlightCommand::HoldSeats { unseated, .. } = &mut family {
        *unseated = vec![SeatOccupant::Adult, SeatOccupant::Child];
    }
    run(&mut flight, family).unwrap();
    for b in 1..=3 {
        run(&mut flight, confirm(b)).unwrap();
    }
    let mut parties: Vec<Party> = [1, 2]
        .iter()
        .map(|b| party_of(&flight, *b, i64::try_from(*b).unwrap()))
        .collect();
    parties.push(Party {
        booking_id: booking(3),
        placed_at: now() + Duration::minutes(3),
        passengers: Passengers::try_new(vec![
            person(PassengerType::Adult, None),
            person(PassengerType::Child, None),
        ])
        .unwrap(),
        fare_minor: 30_000,
    });
    let plan = plan_close(flight.state().unwrap(), &parties);
    assert!(plan.offload.is_empty(), "{plan:?}");
    let given: Vec<(usize, SeatNumber)> =
        plan.assign.iter().map(|a| (a.passenger, a.seat)).collect();
    assert_eq!(given, vec![(1, seat("10A")), (0, seat("11A"))]);
    run(&mut flight, FlightCommand::Close { plan, now: now() }).unwrap();
}

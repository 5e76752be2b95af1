//! The `Flight` aggregate, one behaviour per test (given/when/then).
//! Past 400 lines on purpose: every rule of the flight has its test here.

use chrono::Duration;
use cqrs_es::test::TestFramework;

use super::*;
use crate::fixtures::*;
use crate::values::{AirportCode, Cabin, Label, SeatOccupant};

type FlightTestFramework = TestFramework<Flight>;

fn given_scheduled() -> cqrs_es::test::AggregateTestExecutor<Flight> {
    FlightTestFramework::with(()).given(vec![scheduled()])
}

fn schedule_cmd() -> ScheduleFlight {
    let FlightEvent::FlightScheduled {
        id,
        number,
        origin,
        destination,
        departure_at,
        arrival_at,
        aircraft_id,
        layout,
        fares,
    } = scheduled()
    else {
        unreachable!()
    };
    ScheduleFlight {
        id,
        number,
        origin,
        destination,
        departure_at,
        arrival_at,
        aircraft_id,
        layout,
        fares,
        now: now(),
    }
}

fn hold(b: u128, seats: &[&str]) -> FlightCommand {
    FlightCommand::HoldSeats {
        booking_id: booking(b),
        seats: seats
            .iter()
            .map(|s| (seat(s), SeatOccupant::Adult))
            .collect(),
        class: None,
        unseated: vec![],
        cabin: None,
        hold_until: now() + Duration::minutes(15),
        now: now(),
    }
}

fn reason() -> Label {
    Label::parse("crew shortage").unwrap()
}

mod scheduling {
    use super::*;

    #[test]
    fn scheduling_a_flight_puts_it_on_sale() {
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(schedule_cmd())))
            .then_expect_events(vec![scheduled()]);
    }

    #[test]
    fn scheduling_twice_is_rejected() {
        given_scheduled()
            .when(FlightCommand::Schedule(Box::new(schedule_cmd())))
            .then_expect_error(FlightError::AlreadyScheduled);
    }

    #[test]
    fn a_flight_to_its_own_origin_is_rejected() {
        let mut cmd = schedule_cmd();
        cmd.destination = AirportCode::parse("CDG").unwrap();
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::SameOriginAndDestination);
    }

    #[test]
    fn arrival_before_departure_is_rejected() {
        let mut cmd = schedule_cmd();
        cmd.arrival_at = cmd.departure_at;
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::ArrivalNotAfterDeparture);
    }

    #[test]
    fn departure_in_the_past_is_rejected() {
        let mut cmd = schedule_cmd();
        cmd.now = cmd.departure_at + Duration::minutes(1);
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::DepartureInPast);
    }

    #[test]
    fn fares_must_cover_exactly_the_cabins() {
        let mut missing = schedule_cmd();
        missing.fares.truncate(1);
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(missing)))
            .then_expect_error(FlightError::FaresDoNotMatchCabins {
                cabin: Cabin::Economy,
            });
        let mut extra = schedule_cmd();
        extra.fares.push(fare(Cabin::First, 1, true, 0));
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(extra)))
            .then_expect_error(FlightError::FaresDoNotMatchCabins {
                cabin: Cabin::First,
            });
        let mut twice = schedule_cmd();
        twice.fares.push(fare(Cabin::Economy, 1, true, 0));
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(twice)))
            .then_expect_error(FlightError::FaresDoNotMatchCabins {
                cabin: Cabin::Economy,
            });
    }

    #[test]
    fn fares_in_two_currencies_are_rejected() {
        let mut cmd = schedule_cmd();
        let usd = crate::values::Currency::parse("USD").unwrap();
        cmd.fares[0].price = crate::values::Money::try_new(5, usd).unwrap();
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::MixedCurrencies);
    }

    #[test]
    fn a_fare_or_fee_over_the_maximum_is_rejected() {
        let eur = crate::values::Currency::parse("EUR").unwrap();
        let too_much = crate::values::Money::try_new(Fare::MAX_AMOUNT_MINOR + 1, eur).unwrap();
        let mut cmd = schedule_cmd();
        cmd.fares[0].price = too_much;
        let cabin = cmd.fares[0].cabin;
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::FareTooHigh { cabin });
        let mut cmd = schedule_cmd();
        cmd.fares[0].rules.cancellation_fee = too_much;
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .then_expect_error(FlightError::FareTooHigh { cabin });
        let mut cmd = schedule_cmd();
        cmd.fares[0].price = crate::values::Money::try_new(Fare::MAX_AMOUNT_MINOR, eur).unwrap();
        let ok = FlightTestFramework::with(())
            .given_no_previous_events()
            .when(FlightCommand::Schedule(Box::new(cmd)))
            .inspect_result();
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn commands_on_an_unscheduled_flight_are_rejected() {
        FlightTestFramework::with(())
            .given_no_previous_events()
            .when(hold(1, &["10A"]))
            .then_expect_error(FlightError::NotScheduled);
    }

    #[test]
    fn rescheduling_an_unsold_flight_moves_it() {
        let dep = departure() + Duration::days(1);
        given_scheduled()
            .when(FlightCommand::Reschedule {
                departure_at: dep,
                arrival_at: dep + Duration::hours(8),
                now: now(),
            })
            .then_expect_events(vec![FlightEvent::FlightRescheduled {
                departure_at: dep,
                arrival_at: dep + Duration::hours(8),
            }]);
    }

    #[test]
    fn rescheduling_a_flight_with_bookings_is_rejected() {
        let dep = departure() + Duration::days(1);
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::Reschedule {
                departure_at: dep,
                arrival_at: dep + Duration::hours(8),
                now: now(),
            })
            .then_expect_error(FlightError::HasBookings);
    }

    #[test]
    fn rescheduling_into_the_past_is_rejected() {
        given_scheduled()
            .when(FlightCommand::Reschedule {
                departure_at: now() - Duration::hours(1),
                arrival_at: now() + Duration::hours(8),
                now: now(),
            })
            .then_expect_error(FlightError::DepartureInPast);
    }

    #[test]
    fn changing_fares_records_the_new_fares() {
        let new = vec![
            fare(Cabin::Business, 80_000, true, 0),
            fare(Cabin::Economy, 12_000, false, 0),
        ];
        given_scheduled()
            .when(FlightCommand::ChangeFares {
                fares: new.clone(),
                now: now(),
            })
            .then_expect_events(vec![FlightEvent::FaresChanged { fares: new }]);
    }

    #[test]
    fn setting_the_same_fares_records_nothing() {
        given_scheduled()
            .when(FlightCommand::ChangeFares {
                fares: fares(),
                now: now(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_delay_moves_departure_and_names_the_affected_bookings() {
        let dep = departure() + Duration::hours(3);
        given_scheduled()
            .and(vec![held(7, &["10A"], Cabin::Economy)])
            .when(FlightCommand::Delay {
                departure_at: dep,
                arrival_at: dep + Duration::hours(8),
                reason: reason(),
                now: now(),
            })
            .then_expect_events(vec![FlightEvent::FlightDelayed {
                previous_departure_at: departure(),
                departure_at: dep,
                arrival_at: dep + Duration::hours(8),
                reason: reason(),
                affected_bookings: vec![booking(7)],
            }]);
    }

    #[test]
    fn a_delay_to_an_earlier_time_is_rejected() {
        given_scheduled()
            .when(FlightCommand::Delay {
                departure_at: departure() - Duration::hours(1),
                arrival_at: departure() + Duration::hours(8),
                reason: reason(),
                now: now(),
            })
            .then_expect_error(FlightError::DelayMustBeLater);
    }

    #[test]
    fn cancelling_names_the_affected_bookings() {
        given_scheduled()
            .and(vec![held(3, &["1A"], Cabin::Business)])
            .when(FlightCommand::Cancel {
                reason: reason(),
                now: now(),
            })
            .then_expect_events(vec![FlightEvent::FlightCancelled {
                reason: reason(),
                affected_bookings: vec![booking(3)],
            }]);
    }

    #[test]
    fn a_cancelled_flight_cannot_be_cancelled_delayed_or_sold() {
        let cancelled = FlightEvent::FlightCancelled {
            reason: reason(),
            affected_bookings: vec![],
        };
        given_scheduled()
            .and(vec![cancelled.clone()])
            .when(FlightCommand::Cancel {
                reason: reason(),
                now: now(),
            })
            .then_expect_error(FlightError::FlightCancelled);
        given_scheduled()
            .and(vec![cancelled])
            .when(hold(1, &["10A"]))
            .then_expect_error(FlightError::FlightCancelled);
    }

    #[test]
    fn a_departed_flight_cannot_be_changed() {
        given_scheduled()
            .when(FlightCommand::Cancel {
                reason: reason(),
                now: departure(),
            })
            .then_expect_error(FlightError::Departed);
    }
}

mod seats {
    use super::*;

    #[test]
    fn holding_free_seats_records_the_hold() {
        given_scheduled()
            .when(hold(1, &["10B", "10A"]))
            .then_expect_events(vec![held(1, &["10A", "10B"], Cabin::Economy)]);
    }

    #[test]
    fn holding_a_taken_seat_names_every_unavailable_seat() {
        given_scheduled()
            .and(vec![held(1, &["10A", "10B"], Cabin::Economy)])
            .when(hold(2, &["10A", "10B", "10C"]))
            .then_expect_error(FlightError::SeatsUnavailable(vec![
                seat("10A"),
                seat("10B"),
            ]));
    }

    #[test]
    fn repeating_the_same_hold_is_a_no_op() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(hold(1, &["10A"]))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_second_different_hold_for_one_booking_is_rejected() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(hold(1, &["10C"]))
            .then_expect_error(FlightError::BookingAlreadyHolds);
    }

    #[test]
    fn bad_seat_requests_are_rejected() {
        given_scheduled()
            .when(hold(1, &[]))
            .then_expect_error(FlightError::NoSeatsRequested);
        given_scheduled()
            .when(hold(1, &["10A", "10A"]))
            .then_expect_error(FlightError::DuplicateSeat(seat("10A")));
        given_scheduled()
            .when(hold(1, &["30A"]))
            .then_expect_error(FlightError::UnknownSeat(seat("30A")));
        given_scheduled()
            .when(hold(1, &["1B"]))
            .then_expect_error(FlightError::UnknownSeat(seat("1B")));
        given_scheduled()
            .when(hold(1, &["1A", "10A"]))
            .then_expect_error(FlightError::MixedCabins);
    }

    #[test]
    fn exit_rows_never_go_to_children_or_adults_with_infants() {
        for occupant in [SeatOccupant::Child, SeatOccupant::AdultWithInfant] {
            given_scheduled()
                .when(FlightCommand::HoldSeats {
                    booking_id: booking(1),
                    seats: vec![(seat("11A"), occupant)],
                    class: None,
                    unseated: vec![],
                    cabin: None,
                    hold_until: now() + Duration::minutes(15),
                    now: now(),
                })
                .then_expect_error(FlightError::ExitRowRestricted(seat("11A")));
        }
        given_scheduled()
            .when(hold(1, &["11A"]))
            .then_expect_events(vec![held(1, &["11A"], Cabin::Economy)]);
    }

    #[test]
    fn a_hold_deadline_in_the_past_is_rejected() {
        given_scheduled()
            .when(FlightCommand::HoldSeats {
                booking_id: booking(1),
                seats: vec![(seat("10A"), SeatOccupant::Adult)],
                class: None,
                unseated: vec![],
                cabin: None,
                hold_until: now(),
                now: now(),
            })
            .then_expect_error(FlightError::HoldDeadlineInPast);
    }

    #[test]
    fn confirming_a_live_hold_sells_the_seats() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::ConfirmSeats {
                booking_id: booking(1),
                now: now(),
            })
            .then_expect_events(vec![FlightEvent::SeatsConfirmed {
                booking_id: booking(1),
                seats: vec![seat("10A")],
            }]);
    }

    #[test]
    fn confirming_twice_is_a_no_op() {
        given_scheduled()
            .and(vec![
                held(1, &["10A"], Cabin::Economy),
                FlightEvent::SeatsConfirmed {
                    booking_id: booking(1),
                    seats: vec![seat("10A")],
                },
            ])
            .when(FlightCommand::ConfirmSeats {
                booking_id: booking(1),
                now: now(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn confirming_after_the_deadline_is_rejected() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::ConfirmSeats {
                booking_id: booking(1),
                now: now() + Duration::minutes(16),
            })
            .then_expect_error(FlightError::HoldExpired);
    }

    #[test]
    fn confirming_without_a_hold_is_rejected() {
        given_scheduled()
            .when(FlightCommand::ConfirmSeats {
                booking_id: booking(1),
                now: now(),
            })
            .then_expect_error(FlightError::NoHold);
    }

    #[test]
    fn releasing_gives_the_seats_back_once() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::ReleaseSeats {
                booking_id: booking(1),
            })
            .then_expect_events(vec![FlightEvent::SeatsReleased {
                booking_id: booking(1),
                seats: vec![seat("10A")],
            }]);
        given_scheduled()
            .when(FlightCommand::ReleaseSeats {
                booking_id: booking(1),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn expiring_a_lapsed_hold_frees_its_seats() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::ExpireHold {
                booking_id: booking(1),
                now: now() + Duration::minutes(16),
            })
            .then_expect_events(vec![FlightEvent::HoldExpired {
                booking_id: booking(1),
                seats: vec![seat("10A")],
            }]);
    }

    #[test]
    fn expiring_too_early_or_after_payment_is_rejected() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::ExpireHold {
                booking_id: booking(1),
                now: now(),
            })
            .then_expect_error(FlightError::HoldNotExpired);
        given_scheduled()
            .and(vec![
                held(1, &["10A"], Cabin::Economy),
                FlightEvent::SeatsConfirmed {
                    booking_id: booking(1),
                    seats: vec![seat("10A")],
                },
            ])
            .when(FlightCommand::ExpireHold {
                booking_id: booking(1),
                now: now() + Duration::hours(1),
            })
            .then_expect_error(FlightError::AlreadyConfirmed);
    }

    #[test]
    fn expiring_a_hold_that_is_gone_is_a_no_op() {
        given_scheduled()
            .when(FlightCommand::ExpireHold {
                booking_id: booking(1),
                now: now(),
            })
            .then_expect_events(vec![]);
    }

    fn move_seat(from: &str, to: &str, occupant: SeatOccupant) -> FlightCommand {
        FlightCommand::MoveSeat {
            booking_id: booking(1),
            from: seat(from),
            to: seat(to),
            occupant,
            now: now(),
        }
    }

    #[test]
    fn moving_to_a_free_seat_records_the_change() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(move_seat("10A", "12F", SeatOccupant::Adult))
            .then_expect_events(vec![FlightEvent::SeatChanged {
                booking_id: booking(1),
                from: seat("10A"),
                to: seat("12F"),
            }]);
    }

    #[test]
    fn repeating_a_move_that_already_happened_is_a_no_op() {
        given_scheduled()
            .and(vec![
                held(1, &["10A"], Cabin::Economy),
                FlightEvent::SeatChanged {
                    booking_id: booking(1),
                    from: seat("10A"),
                    to: seat("12F"),
                },
            ])
            .when(move_seat("10A", "12F", SeatOccupant::Adult))
            .then_expect_events(vec![]);
    }

    #[test]
    fn moves_that_break_a_rule_are_rejected() {
        let base = || {
            given_scheduled().and(vec![
                held(1, &["10A"], Cabin::Economy),
                held(2, &["10B"], Cabin::Economy),
            ])
        };
        base()
            .when(move_seat("10A", "10B", SeatOccupant::Adult))
            .then_expect_error(FlightError::SeatsUnavailable(vec![seat("10B")]));
        base()
            .when(move_seat("10C", "10D", SeatOccupant::Adult))
            .then_expect_error(FlightError::SeatNotInBooking(seat("10C")));
        base()
            .when(move_seat("10A", "10A", SeatOccupant::Adult))
            .then_expect_error(FlightError::SameSeat);
        base()
            .when(move_seat("10A", "1A", SeatOccupant::Adult))
            .then_expect_error(FlightError::CabinChange);
        base()
            .when(move_seat("10A", "40A", SeatOccupant::Adult))
            .then_expect_error(FlightError::UnknownSeat(seat("40A")));
        base()
            .when(move_seat("10A", "11A", SeatOccupant::Child))
            .then_expect_error(FlightError::ExitRowRestricted(seat("11A")));
        given_scheduled()
            .when(move_seat("10A", "10C", SeatOccupant::Adult))
            .then_expect_error(FlightError::NoHold);
    }

    #[test]
    fn moving_within_a_lapsed_hold_is_rejected() {
        given_scheduled()
            .and(vec![held(1, &["10A"], Cabin::Economy)])
            .when(FlightCommand::MoveSeat {
                booking_id: booking(1),
                from: seat("10A"),
                to: seat("10C"),
                occupant: SeatOccupant::Adult,
                now: now() + Duration::hours(1),
            })
            .then_expect_error(FlightError::HoldExpired);
    }

    #[test]
    fn counts_and_seat_status_follow_the_events() {
        let mut flight = Flight::default();
        for e in [
            scheduled(),
            held(1, &["10A", "10B"], Cabin::Economy),
            held(2, &["1A"], Cabin::Business),
            FlightEvent::SeatsConfirmed {
                booking_id: booking(2),
                seats: vec![seat("1A")],
            },
            FlightEvent::SeatChanged {
                booking_id: booking(1),
                from: seat("10B"),
                to: seat("12C"),
            },
        ] {
            cqrs_es::Aggregate::apply(&mut flight, e);
        }
        let s = flight.state().unwrap();
        assert_eq!(s.seat_status(seat("10A")), SeatStatus::Held);
        assert_eq!(s.seat_status(seat("10B")), SeatStatus::Free);
        assert_eq!(s.seat_status(seat("12C")), SeatStatus::Held);
        assert_eq!(s.seat_status(seat("1A")), SeatStatus::Sold);
        assert_eq!(
            s.counts(None),
            SeatCounts {
                capacity: 26,
                authorized: 26,
                sold: 1,
                held: 2,
                free: 23,
                unassigned: 0,
            }
        );
        assert_eq!(s.counts(Some(Cabin::Business)).free, 7);
    }
}

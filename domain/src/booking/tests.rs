//! The `Booking` aggregate, one behaviour per test (given/when/then).
//! Past 400 lines on purpose: every rule of the booking has its test here.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};

use super::*;
use crate::fixtures::*;
use crate::journey::{Itinerary, Segment};
use crate::values::*;

type BookingTestFramework = TestFramework<Booking>;

fn party() -> Passengers {
    Passengers::try_new(vec![
        adult("10A"),
        person(PassengerType::Child, Some("10B")),
        person(PassengerType::Infant, None),
    ])
    .unwrap()
}

/// The test flight as a journey's segment, leaving at `at` and flying 8 hours.
fn leg(at: DateTime<Utc>) -> Segment {
    Segment {
        flight_id: flight_id(),
        origin: AirportCode::parse("CDG").unwrap(),
        destination: AirportCode::parse("JFK").unwrap(),
        departure_at: at,
        arrival_at: at + Duration::hours(8),
    }
}

fn place_cmd() -> PlaceBooking {
    place_cmd_at(departure())
}

fn place_cmd_at(at: DateTime<Utc>) -> PlaceBooking {
    PlaceBooking {
        id: booking(1),
        pnr: Pnr::parse("K7PX2M").unwrap(),
        customer_id: UserId::from_uuid(uuid::Uuid::from_u128(0xC1)),
        itinerary: Itinerary::single(leg(at)),
        seats: vec![SegmentSeats {
            fare: fare(Cabin::Economy, 10_000, true, 2_500),
            passengers: party(),
        }],
        contact_email: EmailAddress::parse("grace@example.com").unwrap(),
        hold_until: now() + Duration::minutes(15),
        now: now(),
    }
}

fn placed_with(cmd: PlaceBooking) -> BookingEvent {
    let fare = cmd.seats[0].fare;
    let passengers = cmd.seats[0].passengers.clone();
    let flight = cmd.itinerary.segments().next().unwrap().clone();
    BookingEvent::BookingPlaced(Box::new(Placement {
        id: cmd.id,
        pnr: cmd.pnr,
        customer_id: cmd.customer_id,
        total: eur(fare.price.amount_minor() * passengers.seated_count() as i64),
        segments: vec![BookedSegment {
            flight_id: flight.flight_id,
            slice: 0,
            fare,
            passengers,
            departure_at: flight.departure_at,
            arrival_at: Some(flight.arrival_at),
            offloaded: Vec::new(),
        }],
        contact_email: cmd.contact_email,
        fare_rules: fare.rules,
        hold_until: cmd.hold_until,
        placed_at: cmd.now,
    }))
}

fn placed() -> BookingEvent {
    placed_with(place_cmd())
}

fn payment(minor: i64) -> Payment {
    Payment {
        amount: eur(minor),
        reference: Label::parse("test-charge-1").unwrap(),
    }
}

fn confirmed() -> BookingEvent {
    BookingEvent::BookingConfirmed {
        payment: payment(20_000),
        confirmed_at: now() + Duration::minutes(5),
    }
}

fn given_placed() -> AggregateTestExecutor<Booking> {
    BookingTestFramework::with(()).given(vec![placed()])
}

fn given_paid() -> AggregateTestExecutor<Booking> {
    BookingTestFramework::with(()).given(vec![placed(), confirmed()])
}

fn cancel_at(by: CancelledBy, at: DateTime<Utc>) -> BookingCommand {
    BookingCommand::Cancel { by, now: at }
}

fn cancelled(by: CancelledBy, refund: i64, at: DateTime<Utc>) -> BookingEvent {
    BookingEvent::BookingCancelled {
        by,
        refund: eur(refund),
        cancelled_at: at,
    }
}

mod placing {
    use super::*;

    #[test]
    fn placing_prices_the_seated_passengers_and_holds() {
        // Two seated passengers at 100.00 each; the infant flies free.
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(place_cmd())))
            .then_expect_events(vec![placed()]);
        let BookingEvent::BookingPlaced(placed) = placed() else {
            unreachable!()
        };
        assert_eq!(placed.total, eur(20_000));
    }

    #[test]
    fn placing_twice_is_rejected() {
        given_placed()
            .when(BookingCommand::Place(Box::new(place_cmd())))
            .then_expect_error(BookingError::AlreadyPlaced);
    }

    #[test]
    fn placing_needs_one_set_of_seats_per_segment_for_the_same_party() {
        let mut cmd = place_cmd();
        cmd.seats.push(cmd.seats[0].clone());
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(cmd)))
            .then_expect_error(BookingError::SeatsDoNotMatchItinerary {
                expected: 1,
                given: 2,
            });
        let second = Segment {
            flight_id: FlightId::from_uuid(uuid::Uuid::from_u128(0xF2)),
            origin: AirportCode::parse("JFK").unwrap(),
            destination: AirportCode::parse("BOS").unwrap(),
            departure_at: departure() + Duration::hours(10),
            arrival_at: departure() + Duration::hours(11),
        };
        let mut cmd = place_cmd();
        cmd.itinerary =
            Itinerary::new(vec![vec![leg(departure()), second]], |_| Duration::hours(1)).unwrap();
        let mut others = party().as_slice().to_vec();
        others[0].first_name = PassengerName::parse("Someone").unwrap();
        cmd.seats.push(SegmentSeats {
            fare: fare(Cabin::Economy, 5_000, false, 0),
            passengers: Passengers::try_new(others).unwrap(),
        });
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(cmd)))
            .then_expect_error(BookingError::PartyDiffers(1));
    }

    #[test]
    fn a_journey_adds_up_its_segments_and_takes_the_strictest_rules() {
        let second = Segment {
            flight_id: FlightId::from_uuid(uuid::Uuid::from_u128(0xF2)),
            origin: AirportCode::parse("JFK").unwrap(),
            destination: AirportCode::parse("BOS").unwrap(),
            departure_at: departure() + Duration::hours(10),
            arrival_at: departure() + Duration::hours(11),
        };
        let mut cmd = place_cmd();
        cmd.itinerary =
            Itinerary::new(vec![vec![leg(departure()), second]], |_| Duration::hours(1)).unwrap();
        cmd.seats.push(SegmentSeats {
            fare: fare(Cabin::Economy, 5_000, false, 1_000),
            passengers: party(),
        });
        let events = Booking::default()
            .decide(BookingCommand::Place(Box::new(cmd)))
            .unwrap();
        let [BookingEvent::BookingPlaced(placed)] = events.as_slice() else {
            panic!("{events:?}")
        };
        // Two seated passengers at 100.00 then 50.00; the second fare is not refundable.
        assert_eq!(placed.total, eur(30_000));
        assert!(!placed.fare_rules.refundable);
        assert_eq!(placed.fare_rules.cancellation_fee, eur(3_500));
        assert_eq!(placed.segments.len(), 2);
        assert_eq!(
            placed.segments[1].arrival_at,
            Some(departure() + Duration::hours(11))
        );
    }

    #[test]
    fn placing_for_a_departed_flight_or_with_a_past_deadline_is_rejected() {
        let cmd = place_cmd_at(now());
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(cmd)))
            .then_expect_error(BookingError::Departed);
        let mut cmd = place_cmd();
        cmd.hold_until = now();
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(cmd)))
            .then_expect_error(BookingError::HoldDeadlineInPast);
    }

    #[test]
    fn a_price_that_overflows_is_rejected() {
        let mut cmd = place_cmd();
        cmd.seats[0].fare = fare(Cabin::Economy, i64::MAX, true, 0);
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Place(Box::new(cmd)))
            .then_expect_error(BookingError::Price(ValueError::Amount));
    }

    #[test]
    fn commands_on_a_booking_that_does_not_exist_are_rejected() {
        BookingTestFramework::with(())
            .given_no_previous_events()
            .when(BookingCommand::Expire { now: now() })
            .then_expect_error(BookingError::NotPlaced);
    }
}

mod paying {
    use super::*;

    #[test]
    fn paying_the_total_confirms() {
        given_placed()
            .when(BookingCommand::Confirm {
                payment: payment(20_000),
                now: now() + Duration::minutes(5),
            })
            .then_expect_events(vec![confirmed()]);
    }

    #[test]
    fn paying_another_amount_or_currency_is_rejected() {
        let mismatch = BookingError::PaymentMismatch {
            expected_minor: 20_000,
            currency: "EUR".to_owned(),
        };
        given_placed()
            .when(BookingCommand::Confirm {
                payment: payment(19_999),
                now: now(),
            })
            .then_expect_error(mismatch.clone());
        let usd = Currency::parse("USD").unwrap();
        given_placed()
            .when(BookingCommand::Confirm {
                payment: Payment {
                    amount: Money::try_new(20_000, usd).unwrap(),
                    reference: Label::parse("x").unwrap(),
                },
                now: now(),
            })
            .then_expect_error(mismatch);
    }

    #[test]
    fn paying_after_the_hold_lapsed_is_rejected() {
        given_placed()
            .when(BookingCommand::Confirm {
                payment: payment(20_000),
                now: now() + Duration::minutes(16),
            })
            .then_expect_error(BookingError::HoldExpired);
    }

    #[test]
    fn paying_twice_is_rejected() {
        given_paid()
            .when(BookingCommand::Confirm {
                payment: payment(20_000),
                now: now(),
            })
            .then_expect_error(BookingError::AlreadyConfirmed);
    }

    #[test]
    fn paying_a_cancelled_or_expired_booking_is_rejected() {
        given_placed()
            .and(vec![cancelled(CancelledBy::Customer, 0, now())])
            .when(BookingCommand::Confirm {
                payment: payment(20_000),
                now: now(),
            })
            .then_expect_error(BookingError::Cancelled);
        given_placed()
            .and(vec![BookingEvent::BookingExpired {
                expired_at: now() + Duration::minutes(16),
            }])
            .when(BookingCommand::Confirm {
                payment: payment(20_000),
                now: now(),
            })
            .then_expect_error(BookingError::Expired);
    }
}

mod cancelling {
    use super::*;

    #[test]
    fn cancelling_an_unpaid_hold_refunds_nothing() {
        let at = now() + Duration::minutes(1);
        given_placed()
            .when(cancel_at(CancelledBy::Customer, at))
            .then_expect_events(vec![cancelled(CancelledBy::Customer, 0, at)]);
    }

    #[test]
    fn a_customer_cancelling_within_24_hours_of_booking_a_flight_a_week_away_gets_everything() {
        let at = now() + Duration::hours(23);
        given_paid()
            .when(cancel_at(CancelledBy::Customer, at))
            .then_expect_events(vec![cancelled(CancelledBy::Customer, 20_000, at)]);
    }

    #[test]
    fn after_24_hours_a_refundable_fare_keeps_the_fee() {
        let at = now() + Duration::hours(25);
        given_paid()
            .when(cancel_at(CancelledBy::Customer, at))
            .then_expect_events(vec![cancelled(CancelledBy::Customer, 17_500, at)]);
    }

    #[test]
    fn the_24_hour_window_needs_a_departure_at_least_7_days_after_booking() {
        let cmd = place_cmd_at(now() + Duration::days(6));
        let at = now() + Duration::hours(1);
        BookingTestFramework::with(())
            .given(vec![placed_with(cmd), confirmed()])
            .when(cancel_at(CancelledBy::Customer, at))
            .then_expect_events(vec![cancelled(CancelledBy::Customer, 17_500, at)]);
    }

    #[test]
    fn a_non_refundable_fare_refunds_nothing_after_24_hours() {
        let mut cmd = place_cmd();
        cmd.seats[0].fare = fare(Cabin::Economy, 10_000, false, 0);
        let at = now() + Duration::days(2);
        BookingTestFramework::with(())
            .given(vec![placed_with(cmd), confirmed()])
            .when(cancel_at(CancelledBy::Customer, at))
            .then_expect_events(vec![cancelled(CancelledBy::Customer, 0, at)]);
    }

    #[test]
    fn the_airline_cancelling_refunds_everything_paid() {
        let mut cmd = place_cmd();
        cmd.seats[0].fare = fare(Cabin::Economy, 10_000, false, 0);
        let at = now() + Duration::days(2);
        BookingTestFramework::with(())
            .given(vec![placed_with(cmd), confirmed()])
            .when(cancel_at(CancelledBy::Airline, at))
            .then_expect_events(vec![cancelled(CancelledBy::Airline, 20_000, at)]);
    }

    #[test]
    fn a_customer_cannot_cancel_after_departure() {
        given_paid()
            .when(cancel_at(CancelledBy::Customer, departure()))
            .then_expect_error(BookingError::Departed);
    }

    #[test]
    fn cancelling_twice_or_after_expiry_is_rejected() {
        given_placed()
            .and(vec![cancelled(CancelledBy::Customer, 0, now())])
            .when(cancel_at(CancelledBy::Customer, now()))
            .then_expect_error(BookingError::Cancelled);
        given_placed()
            .and(vec![BookingEvent::BookingExpired { expired_at: now() }])
            .when(cancel_at(CancelledBy::Airline, now()))
            .then_expect_error(BookingError::Expired);
    }
}

mod expiring {
    use super::*;

    #[test]
    fn an_unpaid_hold_past_its_deadline_expires() {
        let at = now() + Duration::minutes(16);
        given_placed()
            .when(BookingCommand::Expire { now: at })
            .then_expect_events(vec![BookingEvent::BookingExpired { expired_at: at }]);
    }

    #[test]
    fn expiring_early_or_after_payment_is_rejected() {
        given_placed()
            .when(BookingCommand::Expire { now: now() })
            .then_expect_error(BookingError::HoldNotExpired);
        given_paid()
            .when(BookingCommand::Expire {
                now: now() + Duration::hours(1),
            })
            .then_expect_error(BookingError::AlreadyConfirmed);
    }
}

mod seat_changes {
    use super::*;

    #[test]
    fn a_passenger_moves_to_another_seat() {
        given_paid()
            .when(BookingCommand::ChangeSeat {
                segment: 0,
                passenger: 1,
                to: seat("12F"),
                now: now(),
            })
            .then_expect_events(vec![BookingEvent::PassengerSeatChanged {
                segment: 0,
                passenger: 1,
                from: seat("10B"),
                to: seat("12F"),
            }]);
    }

    #[test]
    fn seat_changes_that_break_a_rule_are_rejected() {
        let change = |passenger, to: &str| BookingCommand::ChangeSeat {
            segment: 0,
            passenger,
            to: seat(to),
            now: now(),
        };
        given_paid()
            .when(change(2, "12F"))
            .then_expect_error(BookingError::NoSuchPassenger(2));
        given_paid()
            .when(change(9, "12F"))
            .then_expect_error(BookingError::NoSuchPassenger(9));
        given_paid()
            .when(change(0, "10A"))
            .then_expect_error(BookingError::SameSeat);
        given_paid()
            .when(change(0, "10B"))
            .then_expect_error(BookingError::SeatTakenInBooking);
        given_placed()
            .when(BookingCommand::ChangeSeat {
                segment: 0,
                passenger: 0,
                to: seat("12F"),
                now: now() + Duration::hours(1),
            })
            .then_expect_error(BookingError::HoldExpired);
        given_paid()
            .when(BookingCommand::ChangeSeat {
                segment: 0,
                passenger: 0,
                to: seat("12F"),
                now: departure(),
            })
            .then_expect_error(BookingError::Departed);
    }

    #[test]
    fn applying_a_seat_change_moves_the_passenger() {
        let mut b = Booking::default();
        for e in [
            placed(),
            BookingEvent::PassengerSeatChanged {
                segment: 0,
                passenger: 0,
                from: seat("10A"),
                to: seat("12F"),
            },
        ] {
            cqrs_es::Aggregate::apply(&mut b, e);
        }
        assert_eq!(
            b.state().unwrap().passengers().as_slice()[0].seat,
            Some(seat("12F"))
        );
    }
}

mod delays {
    use super::*;

    fn note() -> BookingCommand {
        BookingCommand::NoteFlightDelay {
            flight_id: flight_id(),
            connections: vec![],
            departure_at: departure() + Duration::hours(2),
            arrival_at: departure() + Duration::hours(10),
            reason: Label::parse("weather").unwrap(),
        }
    }

    #[test]
    fn a_live_booking_notes_the_delay() {
        given_paid()
            .when(note())
            .then_expect_events(vec![BookingEvent::FlightDelayNoted {
                flight_id: Some(flight_id()),
                departure_at: departure() + Duration::hours(2),
                arrival_at: departure() + Duration::hours(10),
                reason: Label::parse("weather").unwrap(),
            }]);
    }

    #[test]
    fn noting_the_same_delay_twice_records_it_once() {
        given_paid()
            .and(vec![BookingEvent::FlightDelayNoted {
                flight_id: Some(flight_id()),
                departure_at: departure() + Duration::hours(2),
                arrival_at: departure() + Duration::hours(10),
                reason: Label::parse("weather").unwrap(),
            }])
            .when(note())
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_ended_booking_ignores_the_delay() {
        given_placed()
            .and(vec![cancelled(CancelledBy::Customer, 0, now())])
            .when(note())
            .then_expect_events(vec![]);
    }
}

mod properties {
    use std::collections::BTreeSet;

    use cqrs_es::Aggregate;
    use proptest::prelude::*;

    use super::*;

    fn any_command() -> impl Strategy<Value = BookingCommand> {
        let minute = 0i64..(60 * 24 * 12);
        prop_oneof![
            (minute.clone(), 19_990i64..20_010).prop_map(|(m, amount)| {
                BookingCommand::RecordCapture {
                    reference: Label::parse("cap").unwrap(),
                    amount: eur(amount),
                    now: now() + Duration::minutes(m),
                }
            }),
            (minute.clone(), 0i64..20_010).prop_map(|(m, amount)| BookingCommand::RecordRefund {
                reference: Label::parse("ref").unwrap(),
                amount: eur(amount),
                offload: None,
                now: now() + Duration::minutes(m),
            }),
            (minute.clone(), 19_990i64..20_010).prop_map(|(m, amount)| BookingCommand::Confirm {
                payment: payment(amount),
                now: now() + Duration::minutes(m),
            }),
            (minute.clone(), any::<bool>()).prop_map(|(m, airline)| BookingCommand::Cancel {
                by: if airline {
                    CancelledBy::Airline
                } else {
                    CancelledBy::Customer
                },
                now: now() + Duration::minutes(m),
            }),
            minute.clone().prop_map(|m| BookingCommand::Expire {
                now: now() + Duration::minutes(m)
            }),
            (
                0usize..3,
                prop::sample::select(vec!["10A", "10B", "12F"]),
                minute
            )
                .prop_map(|(passenger, to, m)| BookingCommand::ChangeSeat {
                    segment: 0,
                    passenger,
                    to: seat(to),
                    now: now() + Duration::minutes(m),
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_commands_keep_the_booking_consistent_and_replayable(
            commands in prop::collection::vec(any_command(), 1..30)
        ) {
            let mut b = Booking::default();
            b.apply(placed());
            let mut log = vec![placed()];
            for command in commands {
                let before = b.state().unwrap().status;
                if let Ok(events) = b.decide(command) {
                    for e in events {
                        b.apply(e.clone());
                        log.push(e);
                    }
                }
                let s = b.state().unwrap();
                // Ended bookings stay ended; a refund never exceeds what was paid.
                if matches!(before, BookingStatus::Cancelled | BookingStatus::Expired) {
                    prop_assert_eq!(s.status, before);
                }
                let paid = s.payment.as_ref().map_or(0, |p| p.amount.amount_minor());
                prop_assert!(s.refund.map_or(0, |r| r.amount_minor()) <= paid);
                // Only a payment is captured, only in full; only the refund due is issued.
                prop_assert!(s.captured.is_none() || s.captured == s.payment.as_ref().map(|p| p.amount));
                prop_assert!(s.refund_issued.is_none() || s.refund_issued == s.refund);
                prop_assert_eq!(s.status == BookingStatus::Confirmed, s.payment.is_some() && s.refund.is_none());
                let seats: BTreeSet<_> = s.passengers().as_slice().iter().filter_map(|p| p.seat).collect();
                prop_assert_eq!(seats.len(), s.passengers().seated_count());
            }
            let mut replayed = Booking::default();
            for e in log {
                replayed.apply(e);
            }
            prop_assert_eq!(replayed, b);
        }
    }
}

mod money_movements {
    use super::*;

    fn capture(minor: i64) -> BookingCommand {
        BookingCommand::RecordCapture {
            reference: Label::parse("cap-1").unwrap(),
            amount: eur(minor),
            now: now() + Duration::minutes(6),
        }
    }

    fn captured(minor: i64) -> BookingEvent {
        BookingEvent::PaymentCaptured {
            reference: Label::parse("cap-1").unwrap(),
            amount: eur(minor),
            captured_at: now() + Duration::minutes(6),
        }
    }

    fn refund(minor: i64) -> BookingCommand {
        BookingCommand::RecordRefund {
            reference: Label::parse("ref-1").unwrap(),
            amount: eur(minor),
            offload: None,
            now: now() + Duration::minutes(8),
        }
    }

    fn refunded(minor: i64) -> BookingEvent {
        BookingEvent::RefundIssued {
            reference: Label::parse("ref-1").unwrap(),
            amount: eur(minor),
            offload: None,
            refunded_at: now() + Duration::minutes(8),
        }
    }

    fn airline_cancelled() -> BookingEvent {
        cancelled(CancelledBy::Airline, 20_000, now() + Duration::minutes(7))
    }

    #[test]
    fn a_paid_booking_records_its_capture() {
        given_paid()
            .when(capture(20_000))
            .then_expect_events(vec![captured(20_000)]);
    }

    #[test]
    fn recording_the_capture_again_does_nothing() {
        BookingTestFramework::with(())
            .given(vec![placed(), confirmed(), captured(20_000)])
            .when(capture(20_000))
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_unpaid_booking_has_nothing_to_capture() {
        given_placed()
            .when(capture(20_000))
            .then_expect_error(BookingError::NotPaid);
    }

    #[test]
    fn a_capture_of_another_amount_is_rejected() {
        given_paid()
            .when(capture(19_999))
            .then_expect_error(BookingError::CaptureMismatch {
                expected_minor: 20_000,
                currency: "EUR".to_owned(),
            });
    }

    #[test]
    fn a_booking_cancelled_before_its_capture_still_captures() {
        BookingTestFramework::with(())
            .given(vec![placed(), confirmed(), airline_cancelled()])
            .when(capture(20_000))
            .then_expect_events(vec![captured(20_000)]);
    }

    #[test]
    fn a_cancelled_booking_records_the_refund_it_was_given() {
        BookingTestFramework::with(())
            .given(vec![
                placed(),
                confirmed(),
                captured(20_000),
                airline_cancelled(),
            ])
            .when(refund(20_000))
            .then_expect_events(vec![refunded(20_000)]);
    }

    #[test]
    fn recording_the_refund_again_does_nothing() {
        BookingTestFramework::with(())
            .given(vec![
                placed(),
                confirmed(),
                captured(20_000),
                airline_cancelled(),
                refunded(20_000),
            ])
            .when(refund(20_000))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_refund_of_another_amount_is_rejected() {
        BookingTestFramework::with(())
            .given(vec![
                placed(),
                confirmed(),
                captured(20_000),
                airline_cancelled(),
            ])
            .when(refund(5_000))
            .then_expect_error(BookingError::RefundMismatch {
                expected_minor: 20_000,
                currency: "EUR".to_owned(),
            });
    }

    #[test]
    fn a_live_or_unpaid_cancelled_booking_has_no_refund_due() {
        given_paid()
            .when(refund(20_000))
            .then_expect_error(BookingError::NoRefundDue);
        BookingTestFramework::with(())
            .given(vec![placed(), cancelled(CancelledBy::Customer, 0, now())])
            .when(refund(0))
            .then_expect_error(BookingError::NoRefundDue);
    }
}

mod names {
    use cqrs_es::Aggregate;

    use super::*;
    use crate::values::PassengerName;

    fn correct(passenger: usize, first: &str, last: &str) -> BookingCommand {
        BookingCommand::CorrectName {
            passenger,
            first_name: PassengerName::parse(first).unwrap(),
            last_name: PassengerName::parse(last).unwrap(),
            now: now(),
        }
    }

    #[test]
    fn a_typo_of_up_to_three_characters_over_both_names_is_corrected_on_every_segment() {
        let party = party();
        let who = &party.as_slice()[0];
        let (first, last) = (who.first_name.as_str(), who.last_name.as_str());
        // Two swapped letters and one more: three edits.
        let fixed_last: String = {
            let mut chars: Vec<char> = last.chars().collect();
            chars.swap(1, 2);
            chars.into_iter().collect()
        };
        let fixed_first = format!("{first}e");
        let events = given_paid()
            .when(correct(0, &fixed_first, &fixed_last))
            .inspect_result()
            .unwrap();
        let mut booking = Booking::default();
        for event in [placed(), confirmed()].into_iter().chain(events) {
            booking.apply(event);
        }
        let s = booking.state().unwrap();
        assert!(s.segments.iter().all(|g| {
            let p = &g.passengers.as_slice()[0];
            p.first_name.as_str() == fixed_first && p.last_name.as_str() == fixed_last
        }));
    }

    #[test]
    fn more_than_a_typo_the_same_name_or_no_such_passenger_is_refused() {
        given_placed()
            .when(correct(0, "Someone", "Else"))
            .then_expect_error(BookingError::NameChangeTooLarge { edits: 11, max: 3 });
        let party = party();
        let who = &party.as_slice()[0];
        given_placed()
            .when(correct(0, who.first_name.as_str(), who.last_name.as_str()))
            .then_expect_error(BookingError::SameName);
        given_placed()
            .when(correct(9, "Ada", "Lovelace"))
            .then_expect_error(BookingError::NoSuchPassenger(9));
    }
}

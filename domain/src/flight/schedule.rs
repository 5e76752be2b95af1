//! Decisions about the flight itself: scheduling, times, fares, disruption.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Fare, FlightError, FlightEvent, FlightState, FlightStatus, ScheduleFlight};
use crate::aircraft::SeatLayout;
use crate::values::{Cabin, Label};

pub(super) fn schedule(cmd: ScheduleFlight) -> Result<Vec<FlightEvent>, FlightError> {
    if cmd.origin == cmd.destination {
        return Err(FlightError::SameOriginAndDestination);
    }
    check_times(cmd.departure_at, cmd.arrival_at, cmd.now)?;
    check_fares(&cmd.layout, &cmd.fares)?;
    Ok(vec![FlightEvent::FlightScheduled {
        id: cmd.id,
        number: cmd.number,
        origin: cmd.origin,
        destination: cmd.destination,
        departure_at: cmd.departure_at,
        arrival_at: cmd.arrival_at,
        aircraft_id: cmd.aircraft_id,
        layout: cmd.layout,
        fares: cmd.fares,
    }])
}

pub(super) fn reschedule(
    s: &FlightState,
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_operating(s, now)?;
    check_times(departure_at, arrival_at, now)?;
    if !s.holds.is_empty() {
        return Err(FlightError::HasBookings);
    }
    if (departure_at, arrival_at) == (s.departure_at, s.arrival_at) {
        return Ok(vec![]);
    }
    Ok(vec![FlightEvent::FlightRescheduled {
        departure_at,
        arrival_at,
    }])
}

pub(super) fn change_fares(
    s: &FlightState,
    fares: Vec<Fare>,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_open(s, now)?;
    check_fares(&s.layout, &fares)?;
    let current: Vec<&Fare> = s.fares.values().flatten().collect();
    let unchanged = fares.len() == current.len() && fares.iter().all(|f| current.contains(&f));
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![FlightEvent::FaresChanged { fares }])
}

pub(super) fn delay(
    s: &FlightState,
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
    reason: Label,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_operating(s, now)?;
    if departure_at <= s.departure_at {
        return Err(FlightError::DelayMustBeLater);
    }
    if arrival_at <= departure_at {
        return Err(FlightError::ArrivalNotAfterDeparture);
    }
    Ok(vec![FlightEvent::FlightDelayed {
        previous_departure_at: s.departure_at,
        departure_at,
        arrival_at,
        reason,
        affected_bookings: s.booking_ids(),
    }])
}

pub(super) fn cancel(
    s: &FlightState,
    reason: Label,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_operating(s, now)?;
    Ok(vec![FlightEvent::FlightCancelled {
        reason,
        affected_bookings: s.booking_ids(),
    }])
}

/// The flight still sells: it operates, has not left and has not closed.
pub(super) fn check_open(s: &FlightState, now: DateTime<Utc>) -> Result<(), FlightError> {
    check_operating(s, now)?;
    if s.is_closed() {
        return Err(FlightError::Closed);
    }
    Ok(())
}

/// The flight still operates and has not left.
pub(super) fn check_operating(s: &FlightState, now: DateTime<Utc>) -> Result<(), FlightError> {
    if s.status == FlightStatus::Cancelled {
        return Err(FlightError::FlightCancelled);
    }
    if now >= s.departure_at {
        return Err(FlightError::Departed);
    }
    Ok(())
}

fn check_times(
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), FlightError> {
    if departure_at <= now {
        return Err(FlightError::DepartureInPast);
    }
    if arrival_at <= departure_at {
        return Err(FlightError::ArrivalNotAfterDeparture);
    }
    Ok(())
}

fn check_fares(layout: &SeatLayout, fares: &[Fare]) -> Result<(), FlightError> {
    let cabins: BTreeSet<Cabin> = layout.cabins().iter().map(|c| c.cabin).collect();
    let mut priced = BTreeSet::new();
    for fare in fares {
        if !cabins.contains(&fare.cabin) {
            return Err(FlightError::FaresDoNotMatchCabins { cabin: fare.cabin });
        }
        priced.insert(fare.cabin);
        if fare.price.amount_minor() > Fare::MAX_AMOUNT_MINOR
            || fare.rules.cancellation_fee.amount_minor() > Fare::MAX_AMOUNT_MINOR
        {
            return Err(FlightError::FareTooHigh { cabin: fare.cabin });
        }
    }
    if let Some(cabin) = cabins.difference(&priced).next() {
        return Err(FlightError::FaresDoNotMatchCabins { cabin: *cabin });
    }
    check_classes(fares)?;
    let mut currencies = fares
        .iter()
        .flat_map(|f| [f.price.currency(), f.rules.cancellation_fee.currency()]);
    if let Some(first) = currencies.next()
        && currencies.any(|c| c != first)
    {
        return Err(FlightError::MixedCurrencies);
    }
    Ok(())
}

/// Booking classes nest: a cabin priced more than once names a distinct class for each fare (codes are
/// unique on the flight), and from the dearest to the cheapest prices fall and limits never rise.
fn check_classes(fares: &[Fare]) -> Result<(), FlightError> {
    let mut codes = BTreeSet::new();
    for fare in fares {
        if !codes.insert(fare.code()) {
            let invalid = |why| FlightError::InvalidClasses {
                cabin: fare.cabin,
                why,
            };
            return Err(if fare.class.is_none() {
                FlightError::FaresDoNotMatchCabins { cabin: fare.cabin }
            } else {
                invalid("a class code is used twice")
            });
        }
    }
    let mut by_cabin: std::collections::BTreeMap<Cabin, Vec<&Fare>> = Default::default();
    for fare in fares {
        by_cabin.entry(fare.cabin).or_default().push(fare);
    }
    for (cabin, mut classes) in by_cabin {
        let invalid = |why| FlightError::InvalidClasses { cabin, why };
        if classes.len() > 1 && classes.iter().any(|f| f.class.is_none()) {
            return Err(FlightError::FaresDoNotMatchCabins { cabin });
        }
        classes.sort_by_key(|f| std::cmp::Reverse(f.price.amount_minor()));
        for pair in classes.windows(2) {
            let (dearer, cheaper) = (pair[0], pair[1]);
            if dearer.price == cheaper.price {
                return Err(invalid("two classes have the same price"));
            }
            match (dearer.limit, cheaper.limit) {
                (Some(_), None) => {
                    return Err(invalid(
                        "a cheaper class has no limit below a limited dearer one",
                    ));
                }
                (Some(d), Some(c)) if c > d => {
                    return Err(invalid("a cheaper class may sell more than a dearer one"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

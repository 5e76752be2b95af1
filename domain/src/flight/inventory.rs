//! Decisions about seats: hold, confirm, release, expire, move.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::ClassCode;
use super::schedule::check_operating;
use super::{FlightError, FlightEvent, FlightState, Hold};
use crate::aircraft::SeatSpec;
use crate::values::{BookingId, SeatNumber, SeatOccupant};

pub(super) fn hold(
    s: &FlightState,
    booking_id: BookingId,
    (requested, class): (&[(SeatNumber, SeatOccupant)], Option<ClassCode>),
    hold_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_operating(s, now)?;
    if hold_until <= now {
        return Err(FlightError::HoldDeadlineInPast);
    }
    let (&(first, _), _) = requested
        .split_first()
        .ok_or(FlightError::NoSeatsRequested)?;
    let cabin = spec(s, first)?.cabin;
    let mut seen = BTreeSet::new();
    let mut unavailable = Vec::new();
    for &(seat, occupant) in requested {
        if !seen.insert(seat) {
            return Err(FlightError::DuplicateSeat(seat));
        }
        let spec = spec(s, seat)?;
        if spec.cabin != cabin {
            return Err(FlightError::MixedCabins);
        }
        if spec.is_exit_row() && !occupant.may_sit_in_exit_row() {
            return Err(FlightError::ExitRowRestricted(seat));
        }
        if s.taken.get(&seat).is_some_and(|owner| *owner != booking_id) {
            unavailable.push(seat);
        }
    }
    // A retried hold for the same booking and seats is a no-op, so the booking process can repeat it.
    if let Some(existing) = s.holds.get(&booking_id) {
        return if existing.seats == seen {
            Ok(vec![])
        } else {
            Err(FlightError::BookingAlreadyHolds)
        };
    }
    if !unavailable.is_empty() {
        return Err(FlightError::SeatsUnavailable(unavailable));
    }
    // Sold in the class asked for, or the cheapest open for the whole party; never past a limit.
    let fare = s.quote(cabin, seen.len(), class)?;
    Ok(vec![FlightEvent::SeatsHeld {
        booking_id,
        cabin,
        class: Some(fare.code()),
        seats: seen.into_iter().collect(),
        hold_until,
    }])
}

pub(super) fn confirm(
    s: &FlightState,
    booking_id: BookingId,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    let hold = s.holds.get(&booking_id).ok_or(FlightError::NoHold)?;
    if hold.confirmed {
        return Ok(vec![]);
    }
    check_operating(s, now)?;
    if now > hold.until {
        return Err(FlightError::HoldExpired);
    }
    Ok(vec![FlightEvent::SeatsConfirmed {
        booking_id,
        seats: seats_of(hold),
    }])
}

pub(super) fn release(s: &FlightState, booking_id: BookingId) -> Vec<FlightEvent> {
    s.holds
        .get(&booking_id)
        .map(|hold| FlightEvent::SeatsReleased {
            booking_id,
            seats: seats_of(hold),
        })
        .into_iter()
        .collect()
}

pub(super) fn expire(
    s: &FlightState,
    booking_id: BookingId,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    let Some(hold) = s.holds.get(&booking_id) else {
        return Ok(vec![]);
    };
    if hold.confirmed {
        return Err(FlightError::AlreadyConfirmed);
    }
    if now <= hold.until {
        return Err(FlightError::HoldNotExpired);
    }
    Ok(vec![FlightEvent::HoldExpired {
        booking_id,
        seats: seats_of(hold),
    }])
}

pub(super) fn move_seat(
    s: &FlightState,
    booking_id: BookingId,
    (from, to): (SeatNumber, SeatNumber),
    occupant: SeatOccupant,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_operating(s, now)?;
    let hold = s.holds.get(&booking_id).ok_or(FlightError::NoHold)?;
    if !hold.confirmed && now > hold.until {
        return Err(FlightError::HoldExpired);
    }
    // A retried move that already happened is a no-op, so the booking process can repeat the step.
    if !hold.seats.contains(&from) && hold.seats.contains(&to) {
        return Ok(vec![]);
    }
    if !hold.seats.contains(&from) {
        return Err(FlightError::SeatNotInBooking(from));
    }
    if from == to {
        return Err(FlightError::SameSeat);
    }
    let spec = spec(s, to)?;
    if spec.cabin != hold.cabin {
        return Err(FlightError::CabinChange);
    }
    if s.taken.contains_key(&to) {
        return Err(FlightError::SeatsUnavailable(vec![to]));
    }
    if spec.is_exit_row() && !occupant.may_sit_in_exit_row() {
        return Err(FlightError::ExitRowRestricted(to));
    }
    Ok(vec![FlightEvent::SeatChanged {
        booking_id,
        from,
        to,
    }])
}

fn spec(s: &FlightState, seat: SeatNumber) -> Result<&SeatSpec, FlightError> {
    s.seats.get(&seat).ok_or(FlightError::UnknownSeat(seat))
}

fn seats_of(hold: &Hold) -> Vec<SeatNumber> {
    hold.seats.iter().copied().collect()
}

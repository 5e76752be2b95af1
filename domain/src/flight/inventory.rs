//! Decisions about seats: hold (with seats, or places without one), confirm, release, expire, move,
//! assign.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::ClassCode;
use super::schedule::check_open;
use super::{FlightError, FlightEvent, FlightState, Hold};
use crate::aircraft::SeatSpec;
use crate::values::{BookingId, Cabin, SeatNumber, SeatOccupant};

/// What a hold asks for.
pub(super) struct Wanted<'a> {
    /// Seats and who sits in each.
    pub seats: &'a [(SeatNumber, SeatOccupant)],
    /// Passengers without a seat yet.
    pub unseated: &'a [SeatOccupant],
    /// The cabin, when no seat names it.
    pub cabin: Option<Cabin>,
    /// The class asked for.
    pub class: Option<ClassCode>,
}

pub(super) fn hold(
    s: &FlightState,
    booking_id: BookingId,
    wanted: Wanted<'_>,
    (hold_until, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<FlightEvent>, FlightError> {
    check_open(s, now)?;
    if hold_until <= now {
        return Err(FlightError::HoldDeadlineInPast);
    }
    let requested = wanted.seats;
    let cabin = match (requested.first(), wanted.cabin) {
        (Some(&(first, _)), asked) => {
            let cabin = spec(s, first)?.cabin;
            if asked.is_some_and(|c| c != cabin) {
                return Err(FlightError::MixedCabins);
            }
            cabin
        }
        (None, Some(cabin)) if !wanted.unseated.is_empty() => cabin,
        (None, _) => return Err(FlightError::NoSeatsRequested),
    };
    if !s.seats.values().any(|x| x.cabin == cabin) {
        return Err(FlightError::NoSuchCabin(cabin));
    }
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
        return if existing.seats == seen && existing.unseated == wanted.unseated {
            Ok(vec![])
        } else {
            Err(FlightError::BookingAlreadyHolds)
        };
    }
    if !unavailable.is_empty() {
        return Err(FlightError::SeatsUnavailable(unavailable));
    }
    let party = seen.len() + wanted.unseated.len();
    // Sold in the class asked for, or the cheapest open for the whole party; never past a limit
    // or the cabin's authorized places.
    let fare = s.quote(cabin, party, wanted.class)?;
    // Places beyond the cabin's seats (overbooking) are sold without seats only.
    let counts = s.counts(Some(cabin));
    if !seen.is_empty() && counts.sold + counts.held + party > counts.capacity {
        return Err(FlightError::OnlyWithoutSeats { cabin });
    }
    Ok(vec![FlightEvent::SeatsHeld {
        booking_id,
        cabin,
        class: Some(fare.code()),
        seats: seen.into_iter().collect(),
        unseated: wanted.unseated.to_vec(),
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
    check_open(s, now)?;
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
    let hold = live_hold(s, booking_id, now)?;
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
    check_seat_for(s, hold, to, occupant)?;
    Ok(vec![FlightEvent::SeatChanged {
        booking_id,
        from,
        to,
    }])
}

pub(super) fn assign(
    s: &FlightState,
    booking_id: BookingId,
    seat: SeatNumber,
    occupant: SeatOccupant,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    let hold = live_hold(s, booking_id, now)?;
    // A retried assignment that already happened is a no-op, so the booking process can repeat it.
    if hold.seats.contains(&seat) {
        return Ok(vec![]);
    }
    if !hold.unseated.contains(&occupant) {
        return Err(FlightError::NoUnseatedPassenger);
    }
    check_seat_for(s, hold, seat, occupant)?;
    Ok(vec![FlightEvent::SeatAssigned {
        booking_id,
        seat,
        occupant,
    }])
}

/// The booking's hold on a flight still on sale: paid, or unpaid within its deadline.
fn live_hold(
    s: &FlightState,
    booking_id: BookingId,
    now: DateTime<Utc>,
) -> Result<&Hold, FlightError> {
    check_open(s, now)?;
    let hold = s.holds.get(&booking_id).ok_or(FlightError::NoHold)?;
    if !hold.confirmed && now > hold.until {
        return Err(FlightError::HoldExpired);
    }
    Ok(hold)
}

/// `seat` can take `occupant` of `hold`: in its cabin, free, and an exit row only for an adult alone.
fn check_seat_for(
    s: &FlightState,
    hold: &Hold,
    seat: SeatNumber,
    occupant: SeatOccupant,
) -> Result<(), FlightError> {
    let spec = spec(s, seat)?;
    if spec.cabin != hold.cabin {
        return Err(FlightError::CabinChange);
    }
    if s.taken.contains_key(&seat) {
        return Err(FlightError::SeatsUnavailable(vec![seat]));
    }
    if spec.is_exit_row() && !occupant.may_sit_in_exit_row() {
        return Err(FlightError::ExitRowRestricted(seat));
    }
    Ok(())
}

pub(super) fn drop_hold(s: &FlightState, booking_id: BookingId) -> Vec<FlightEvent> {
    s.holds
        .get(&booking_id)
        .filter(|hold| !hold.confirmed)
        .map(|hold| FlightEvent::HoldExpired {
            booking_id,
            seats: seats_of(hold),
        })
        .into_iter()
        .collect()
}

fn spec(s: &FlightState, seat: SeatNumber) -> Result<&SeatSpec, FlightError> {
    s.seats.get(&seat).ok_or(FlightError::UnknownSeat(seat))
}

pub(super) fn seats_of(hold: &Hold) -> Vec<SeatNumber> {
    hold.seats.iter().copied().collect()
}

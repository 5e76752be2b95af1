//! The flight's close: unpaid holds expire, every passenger left without a seat gets one (a party
//! together where it can), and when a cabin was sold beyond its seats the overflow is offloaded: the
//! cheapest class first, and within a class the latest booked first. [`plan_close`] decides who and
//! where from the flight and its bookings; `Close` checks the plan against the flight and records it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::inventory::seats_of;
use super::{FlightError, FlightEvent, FlightState, FlightStatus, Hold};
use crate::values::{BookingId, Cabin, Passengers, SeatNumber, SeatOccupant};

/// A booking's party on the closing flight, as the booking records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    /// The booking.
    pub booking_id: BookingId,
    /// When it was placed (the latest booked are offloaded first).
    pub placed_at: DateTime<Utc>,
    /// The travellers on this flight, with their seats here.
    pub passengers: Passengers,
    /// What each seated passenger paid for this flight, minor units (the cheapest go first).
    pub fare_minor: i64,
}

/// Passengers of one booking denied boarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offload {
    /// The booking.
    pub booking_id: BookingId,
    /// The seated passengers offloaded (indexes in the booking; an infant goes with its adult).
    pub passengers: Vec<usize>,
    /// The seats they had.
    pub seats: Vec<SeatNumber>,
    /// The places they had without a seat.
    pub unseated: Vec<SeatOccupant>,
}

/// A seat given at close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// The booking.
    pub booking_id: BookingId,
    /// The passenger (index in the booking).
    pub passenger: usize,
    /// The seat.
    pub seat: SeatNumber,
    /// Who sits there.
    pub occupant: SeatOccupant,
}

/// What closing a flight does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClosePlan {
    /// Unpaid holds, which expire.
    pub expire: Vec<BookingId>,
    /// Passengers offloaded, per booking.
    pub offload: Vec<Offload>,
    /// Seats given to passengers who had none.
    pub assign: Vec<Assignment>,
}

/// Who is offloaded and who sits where when `s` closes; `parties` are the bookings of its paid holds.
pub fn plan_close(s: &FlightState, parties: &[Party]) -> ClosePlan {
    let parties: BTreeMap<BookingId, &Party> = parties.iter().map(|p| (p.booking_id, p)).collect();
    let mut plan = ClosePlan {
        expire: s
            .holds
            .iter()
            .filter(|(_, h)| !h.confirmed)
            .map(|(id, _)| *id)
            .collect(),
        ..ClosePlan::default()
    };
    for cabin in s.fares.keys() {
        plan_cabin(s, *cabin, &parties, &mut plan);
    }
    plan
}

/// One seated passenger of a party: index, seat if any, who sits.
type Traveller = (usize, Option<SeatNumber>, SeatOccupant);

fn plan_cabin(
    s: &FlightState,
    cabin: Cabin,
    parties: &BTreeMap<BookingId, &Party>,
    plan: &mut ClosePlan,
) {
    let physical = s.seats.values().filter(|x| x.cabin == cabin).count();
    let aboard: Vec<(BookingId, &Hold, &Party)> = s
        .holds
        .iter()
        .filter(|(_, h)| h.confirmed && h.cabin == cabin)
        .filter_map(|(id, h)| Some((*id, h, *parties.get(id)?)))
        .collect();
    let mut left: BTreeMap<BookingId, Vec<Traveller>> = aboard
        .iter()
        .map(|(id, _, p)| (*id, p.passengers.party_occupants()))
        .collect();
    let on_board: usize = aboard.iter().map(|(_, h, _)| h.passengers()).sum();
    let mut need = on_board.saturating_sub(physical);
    // The cheapest class first (by the fare the booking paid, which a later fare change does not
    // move); within it the latest booked first.
    let mut order = aboard.clone();
    order.sort_by_key(|(id, _, p)| (p.fare_minor, Reverse(p.placed_at), Reverse(*id)));
    let mut offloaded: BTreeMap<BookingId, Vec<Traveller>> = BTreeMap::new();
    for (id, _, _) in &order {
        if need == 0 {
            break;
        }
        let people = left.get_mut(id).map(std::mem::take).unwrap_or_default();
        let (taken, kept) = take_from_party(people, &mut need);
        left.insert(*id, kept);
        offloaded.entry(*id).or_default().extend(taken);
    }
    // Seats: earlier bookings choose first; a party sits together where it can.
    let mut free: BTreeSet<SeatNumber> = s
        .seats
        .values()
        .filter(|x| x.cabin == cabin)
        .map(|x| x.seat)
        .filter(|seat| {
            // Free, or held unpaid: those holds expire first.
            s.taken
                .get(seat)
                .and_then(|b| s.holds.get(b))
                .is_none_or(|h| !h.confirmed)
        })
        .collect();
    free.extend(
        offloaded
            .values()
            .flatten()
            .filter_map(|(_, seat, _)| *seat),
    );
    let mut by_time = aboard;
    by_time.sort_by_key(|(id, _, p)| (p.placed_at, *id));
    // Children and adults holding an infant may not sit in exit rows: they choose first, across the
    // cabin, so an adult never takes the last seat they could have; then everyone else.
    for restricted in [true, false] {
        for (id, _, _) in &by_time {
            let id = *id;
            let travellers = left.get(&id).cloned().unwrap_or_default();
            let rows: BTreeSet<u8> = travellers
                .iter()
                .filter_map(|(_, seat, _)| seat.map(|x| x.row()))
                .chain(
                    plan.assign
                        .iter()
                        .filter(|a| a.booking_id == id)
                        .map(|a| a.seat.row()),
                )
                .collect();
            let unseated: Vec<Traveller> = travellers
                .into_iter()
                .filter(|(_, seat, who)| seat.is_none() && who.may_sit_in_exit_row() != restricted)
                .collect();
            if unseated.is_empty() {
                continue;
            }
            let seats = seats_for(s, &free, &rows, &unseated);
            for (traveller, seat) in unseated.into_iter().zip(seats) {
                match seat {
                    Some(seat) => {
                        free.remove(&seat);
                        plan.assign.push(Assignment {
                            booking_id: id,
                            passenger: traveller.0,
                            seat,
                            occupant: traveller.2,
                        });
                    }
                    // No seat this passenger may take is left (exit rows only): offloaded.
                    None => offloaded.entry(id).or_default().push(traveller),
                }
            }
        }
    }
    for (booking_id, mut travellers) in offloaded {
        if travellers.is_empty() {
            continue;
        }
        travellers.sort_by_key(|t| t.0);
        plan.offload.push(Offload {
            booking_id,
            passengers: travellers.iter().map(|t| t.0).collect(),
            seats: travellers.iter().filter_map(|t| t.1).collect(),
            unseated: travellers
                .iter()
                .filter(|t| t.1.is_none())
                .map(|t| t.2)
                .collect(),
        });
    }
}

/// Takes up to `need` travellers from a party, those without a seat first and then from the end of the
/// list. A party with children is never split: it goes whole (which may offload more than needed).
fn take_from_party(people: Vec<Traveller>, need: &mut usize) -> (Vec<Traveller>, Vec<Traveller>) {
    let with_children = people.iter().any(|t| t.2 == SeatOccupant::Child);
    if with_children || *need >= people.len() {
        *need = need.saturating_sub(people.len());
        return (people, Vec::new());
    }
    let mut candidates: Vec<Traveller> = people.iter().rev().copied().collect();
    candidates.sort_by_key(|t| t.1.is_some());
    let taken: BTreeSet<usize> = candidates.iter().take(*need).map(|t| t.0).collect();
    *need = 0;
    people.into_iter().partition(|t| taken.contains(&t.0))
}

/// Seats for a party's travellers without one: a row with room for all of them (their party's rows
/// first), or else the first seat each may take; `None` where none is left.
fn seats_for(
    s: &FlightState,
    free: &BTreeSet<SeatNumber>,
    rows: &BTreeSet<u8>,
    travellers: &[Traveller],
) -> Vec<Option<SeatNumber>> {
    let may_sit = |seat: &SeatNumber, who: SeatOccupant| {
        s.seats
            .get(seat)
            .is_some_and(|x| !x.is_exit_row() || who.may_sit_in_exit_row())
    };
    let mut by_row: BTreeMap<u8, Vec<SeatNumber>> = BTreeMap::new();
    for seat in free {
        by_row.entry(seat.row()).or_default().push(*seat);
    }
    let mut row_order: Vec<u8> = by_row.keys().copied().collect();
    row_order.sort_by_key(|r| (!rows.contains(r), *r));
    for row in row_order {
        let seats = &by_row[&row];
        if seats.len() >= travellers.len()
            && travellers
                .iter()
                .zip(seats)
                .all(|(t, seat)| may_sit(seat, t.2))
        {
            return seats
                .iter()
                .take(travellers.len())
                .map(|x| Some(*x))
                .collect();
        }
    }
    let mut left = free.clone();
    let is_exit = |seat: &SeatNumber| s.seats.get(seat).is_some_and(|x| x.is_exit_row());
    travellers
        .iter()
        .map(|t| {
            // Whoever may sit in an exit row takes one first, leaving the other seats to whoever may not.
            let seat = left
                .iter()
                .filter(|seat| may_sit(seat, t.2))
                .find(|seat| !t.2.may_sit_in_exit_row() || is_exit(seat))
                .or_else(|| left.iter().find(|seat| may_sit(seat, t.2)))
                .copied();
            if let Some(seat) = seat {
                left.remove(&seat);
            }
            seat
        })
        .collect()
}

/// Records a plan: the holds expire, the passengers are offloaded, the seats assigned, the flight
/// closed. The plan must leave every paid passenger with a seat and expire every unpaid hold.
pub(super) fn close(
    s: &FlightState,
    plan: &ClosePlan,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    if s.status == FlightStatus::Cancelled {
        return Err(FlightError::FlightCancelled);
    }
    if s.is_closed() {
        return Err(FlightError::Closed);
    }
    let invalid = FlightError::InvalidClosePlan;
    let mut events = Vec::new();
    let unpaid: BTreeSet<BookingId> = s
        .holds
        .iter()
        .filter(|(_, h)| !h.confirmed)
        .map(|(id, _)| *id)
        .collect();
    if unpaid != plan.expire.iter().copied().collect() {
        return Err(invalid("the unpaid holds changed"));
    }
    for id in &plan.expire {
        let hold = s.holds.get(id).ok_or(invalid("no such hold"))?;
        events.push(FlightEvent::HoldExpired {
            booking_id: *id,
            seats: seats_of(hold),
        });
    }
    let mut offloaded = 0;
    for o in &plan.offload {
        let hold = s
            .holds
            .get(&o.booking_id)
            .filter(|h| h.confirmed)
            .ok_or(invalid("an offload of a booking without paid seats"))?;
        let mut places = hold.unseated.clone();
        for who in &o.unseated {
            let at = places
                .iter()
                .position(|p| p == who)
                .ok_or(invalid("an offload of a place the booking does not hold"))?;
            places.remove(at);
        }
        if !o.seats.iter().all(|seat| hold.seats.contains(seat)) {
            return Err(invalid("an offload of a seat the booking does not hold"));
        }
        offloaded += o.seats.len() + o.unseated.len();
        events.push(FlightEvent::PassengersOffloaded {
            booking_id: o.booking_id,
            seats: o.seats.clone(),
            unseated: o.unseated.clone(),
        });
    }
    let mut after = s.clone();
    for event in &events {
        after.apply(event.clone());
    }
    for a in &plan.assign {
        let hold = after
            .holds
            .get(&a.booking_id)
            .ok_or(invalid("a seat for a booking without seats here"))?;
        let spec = after
            .seats
            .get(&a.seat)
            .ok_or(FlightError::UnknownSeat(a.seat))?;
        if spec.cabin != hold.cabin
            || after.taken.contains_key(&a.seat)
            || !hold.unseated.contains(&a.occupant)
            || (spec.is_exit_row() && !a.occupant.may_sit_in_exit_row())
        {
            return Err(invalid("a seat that is taken, elsewhere or not allowed"));
        }
        let event = FlightEvent::SeatAssigned {
            booking_id: a.booking_id,
            seat: a.seat,
            occupant: a.occupant,
        };
        after.apply(event.clone());
        events.push(event);
    }
    if after.holds.values().any(|h| !h.unseated.is_empty()) {
        return Err(invalid("a passenger is left without a seat"));
    }
    events.push(FlightEvent::FlightClosed {
        closed_at: now,
        assigned: u32::try_from(plan.assign.len()).unwrap_or(u32::MAX),
        offloaded: u32::try_from(offloaded).unwrap_or(u32::MAX),
        expired: u32::try_from(plan.expire.len()).unwrap_or(u32::MAX),
    });
    Ok(events)
}

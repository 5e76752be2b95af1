use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ClassCode, Fare, FlightCommand, FlightError, FlightEvent, Overbooking, capacity, close,
    inventory, nested_availability, schedule,
};
use crate::aircraft::{SeatLayout, SeatSpec};
use crate::values::{
    AircraftId, AirportCode, BookingId, Cabin, FlightId, FlightNumber, SeatNumber, SeatOccupant,
};

/// A flight, or nothing before it is scheduled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flight {
    state: Option<FlightState>,
}

/// Whether the flight operates as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlightStatus {
    /// On time, as far as we know.
    Scheduled,
    /// Departure moved later at least once.
    Delayed,
    /// Will not operate.
    Cancelled,
}

/// A seat's place in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatStatus {
    /// On sale.
    Free,
    /// Held for an unpaid booking.
    Held,
    /// Paid for.
    Sold,
}

/// A booking's seats on this flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The seats.
    pub seats: BTreeSet<SeatNumber>,
    /// Their cabin.
    pub cabin: Cabin,
    /// Their booking class (none: held before classes, the cabin's one class).
    #[serde(default)]
    pub class: Option<ClassCode>,
    /// Passengers of the booking without a seat yet, by who would sit there (since overbooking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseated: Vec<SeatOccupant>,
    /// When an unpaid hold lapses.
    pub until: DateTime<Utc>,
    /// Paid: the seats are sold.
    pub confirmed: bool,
}

impl Hold {
    /// The passengers it holds places for: seated and not seated yet.
    pub fn passengers(&self) -> usize {
        self.seats.len() + self.unseated.len()
    }
}

/// Places sold, held and on sale: sold + held + free = authorized (the seats plus any overbooking) until
/// the flight closes; a closed flight has none free.
/// Passengers without a seat count in sold or held, and in `unassigned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeatCounts {
    /// Seats on the aircraft.
    pub capacity: usize,
    /// Places that may be sold: the seats plus the overbooking.
    pub authorized: usize,
    /// Paid places.
    pub sold: usize,
    /// Places held unpaid.
    pub held: usize,
    /// Places on sale.
    pub free: usize,
    /// Passengers (held or sold) without a seat yet.
    pub unassigned: usize,
}

/// A scheduled flight's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlightState {
    /// Id.
    pub id: FlightId,
    /// Flight number.
    pub number: FlightNumber,
    /// Departure airport.
    pub origin: AirportCode,
    /// Arrival airport.
    pub destination: AirportCode,
    /// Departure instant.
    pub departure_at: DateTime<Utc>,
    /// Arrival instant.
    pub arrival_at: DateTime<Utc>,
    /// Aircraft type.
    pub aircraft_id: AircraftId,
    /// Status.
    pub status: FlightStatus,
    /// The layout the seats come from.
    pub layout: SeatLayout,
    /// Every seat, by number.
    pub seats: BTreeMap<SeatNumber, SeatSpec>,
    /// Current fares per cabin: its booking classes, the dearest first.
    pub fares: BTreeMap<Cabin, Vec<Fare>>,
    /// Seats per booking.
    pub holds: BTreeMap<BookingId, Hold>,
    /// Which booking has each taken seat.
    pub taken: BTreeMap<SeatNumber, BookingId>,
    /// Per cabin, the places sold beyond its seats (none: no overbooking).
    #[serde(default)]
    pub overbooking: BTreeMap<Cabin, Overbooking>,
    /// When the flight closed: seats assigned, the overflow offloaded, no more sales.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

impl FlightState {
    /// A seat's status.
    pub fn seat_status(&self, seat: SeatNumber) -> SeatStatus {
        match self.taken.get(&seat).and_then(|b| self.holds.get(b)) {
            None => SeatStatus::Free,
            Some(hold) if hold.confirmed => SeatStatus::Sold,
            Some(_) => SeatStatus::Held,
        }
    }

    /// Seat counts for the whole flight, or for one cabin.
    pub fn counts(&self, cabin: Option<Cabin>) -> SeatCounts {
        let in_cabin = |c: Cabin| cabin.is_none_or(|want| want == c);
        let capacity = self.seats.values().filter(|s| in_cabin(s.cabin)).count();
        let extra: usize = self
            .overbooking
            .iter()
            .filter(|(c, _)| in_cabin(**c))
            .map(|(_, o)| o.extra_seats as usize)
            .sum();
        let (mut sold, mut held, mut unassigned) = (0, 0, 0);
        for hold in self.holds.values().filter(|h| in_cabin(h.cabin)) {
            if hold.confirmed {
                sold += hold.passengers();
            } else {
                held += hold.passengers();
            }
            unassigned += hold.unseated.len();
        }
        let authorized = capacity + extra;
        SeatCounts {
            capacity,
            authorized,
            sold,
            held,
            // A closed flight sells nothing.
            free: if self.is_closed() {
                0
            } else {
                authorized.saturating_sub(sold + held)
            },
            unassigned,
        }
    }

    /// Whether the flight has closed.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Applies one event (as the aggregate does): a decision that checks what its events would leave.
    pub(super) fn apply(&mut self, event: FlightEvent) {
        apply_to_state(self, event);
    }

    /// Bookings with seats on this flight.
    pub fn booking_ids(&self) -> Vec<BookingId> {
        self.holds.keys().copied().collect()
    }

    /// Each booking class of `cabin` (the dearest first) with the seats it holds or sold and the seats
    /// it may still sell ([`nested_availability`]).
    pub fn classes(&self, cabin: Cabin) -> Vec<ClassAvailability> {
        let Some(fares) = self.fares.get(&cabin) else {
            return Vec::new();
        };
        let mut sold = vec![0; fares.len()];
        for hold in self.holds.values().filter(|h| h.cabin == cabin) {
            let code = hold.class.unwrap_or(ClassCode::default_for(cabin));
            if let Some(i) = fares.iter().position(|f| f.code() == code) {
                sold[i] += hold.passengers();
            }
        }
        let free = self.counts(Some(cabin)).free;
        nested_availability(fares, &sold, free)
            .into_iter()
            .zip(fares.iter().zip(sold))
            .map(|(available, (fare, sold))| ClassAvailability {
                fare: *fare,
                sold,
                available,
            })
            .collect()
    }

    /// The fare `party` seats of `cabin` sell at now: the class asked for if it is open for all of
    /// them, or else the cheapest class that is.
    ///
    /// # Errors
    /// [`FlightError::UnknownClass`], [`FlightError::ClassClosed`] (naming the class on sale), or
    /// [`FlightError::NoClassOpen`].
    pub fn quote(
        &self,
        cabin: Cabin,
        party: usize,
        wanted: Option<ClassCode>,
    ) -> Result<Fare, FlightError> {
        let classes = self.classes(cabin);
        let cheapest_open = classes.iter().rev().find(|c| c.available >= party);
        match wanted {
            None => cheapest_open
                .map(|c| c.fare)
                .ok_or(FlightError::NoClassOpen { cabin, party }),
            Some(class) => {
                let asked = classes
                    .iter()
                    .find(|c| c.fare.code() == class)
                    .ok_or(FlightError::UnknownClass { class, cabin })?;
                if asked.available >= party {
                    Ok(asked.fare)
                } else {
                    Err(FlightError::ClassClosed {
                        class,
                        party,
                        on_sale: cheapest_open.map(|c| c.fare.code()),
                    })
                }
            }
        }
    }
}

/// One booking class of a cabin as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassAvailability {
    /// The class: code, price, rules, nested limit.
    pub fare: Fare,
    /// Seats it holds or sold.
    pub sold: usize,
    /// Seats it may still sell.
    pub available: usize,
}

/// The fares by cabin, each cabin's classes the dearest first.
fn by_cabin(fares: Vec<Fare>) -> BTreeMap<Cabin, Vec<Fare>> {
    let mut by_cabin: BTreeMap<Cabin, Vec<Fare>> = BTreeMap::new();
    for fare in fares {
        by_cabin.entry(fare.cabin).or_default().push(fare);
    }
    for classes in by_cabin.values_mut() {
        classes.sort_by_key(|f| std::cmp::Reverse(f.price.amount_minor()));
    }
    by_cabin
}

impl Flight {
    /// The state, once scheduled.
    pub fn state(&self) -> Option<&FlightState> {
        self.state.as_ref()
    }

    /// Decides what a command does, without changing state.
    ///
    /// # Errors
    /// Any [`FlightError`] whose rule the command breaks; see each variant.
    pub fn decide(&self, command: FlightCommand) -> Result<Vec<FlightEvent>, FlightError> {
        let state = match (command, &self.state) {
            (FlightCommand::Schedule(cmd), None) => return schedule::schedule(*cmd),
            (FlightCommand::Schedule(_), Some(_)) => return Err(FlightError::AlreadyScheduled),
            (_, None) => return Err(FlightError::NotScheduled),
            (command, Some(state)) => (command, state),
        };
        match state {
            (FlightCommand::Schedule(_), _) => Err(FlightError::AlreadyScheduled),
            (
                FlightCommand::Reschedule {
                    departure_at,
                    arrival_at,
                    now,
                },
                s,
            ) => schedule::reschedule(s, departure_at, arrival_at, now),
            (FlightCommand::ChangeFares { fares, now }, s) => schedule::change_fares(s, fares, now),
            (
                FlightCommand::Delay {
                    departure_at,
                    arrival_at,
                    reason,
                    now,
                },
                s,
            ) => schedule::delay(s, departure_at, arrival_at, reason, now),
            (FlightCommand::Cancel { reason, now }, s) => schedule::cancel(s, reason, now),
            (
                FlightCommand::HoldSeats {
                    booking_id,
                    seats,
                    unseated,
                    cabin,
                    class,
                    hold_until,
                    now,
                },
                s,
            ) => inventory::hold(
                s,
                booking_id,
                inventory::Wanted {
                    seats: &seats,
                    unseated: &unseated,
                    cabin,
                    class,
                },
                (hold_until, now),
            ),
            (FlightCommand::ConfirmSeats { booking_id, now }, s) => {
                inventory::confirm(s, booking_id, now)
            }
            (FlightCommand::ReleaseSeats { booking_id }, s) => {
                Ok(inventory::release(s, booking_id))
            }
            (FlightCommand::ExpireHold { booking_id, now }, s) => {
                inventory::expire(s, booking_id, now)
            }
            (
                FlightCommand::MoveSeat {
                    booking_id,
                    from,
                    to,
                    occupant,
                    now,
                },
                s,
            ) => inventory::move_seat(s, booking_id, (from, to), occupant, now),
            (
                FlightCommand::AssignSeat {
                    booking_id,
                    seat,
                    occupant,
                    now,
                },
                s,
            ) => inventory::assign(s, booking_id, seat, occupant, now),
            (FlightCommand::DropHold { booking_id }, s) => Ok(inventory::drop_hold(s, booking_id)),
            (
                FlightCommand::SetOverbooking {
                    cabin,
                    overbooking,
                    now,
                },
                s,
            ) => capacity::set_overbooking(s, cabin, overbooking, now),
            (FlightCommand::Close { plan, now }, s) => close::close(s, &plan, now),
        }
    }
}

crate::decided::decided_aggregate!(Flight, "flight", FlightCommand, FlightEvent, FlightError);

impl Flight {
    /// Applies one event (cqrs-es `apply`): infallible, no validation.
    fn evolve(&mut self, event: FlightEvent) {
        if let FlightEvent::FlightScheduled {
            id,
            number,
            origin,
            destination,
            departure_at,
            arrival_at,
            aircraft_id,
            layout,
            fares,
        } = event
        {
            let seats = layout.seats().into_iter().map(|s| (s.seat, s)).collect();
            self.state = Some(FlightState {
                id,
                number,
                origin,
                destination,
                departure_at,
                arrival_at,
                aircraft_id,
                status: FlightStatus::Scheduled,
                layout,
                seats,
                fares: by_cabin(fares),
                holds: BTreeMap::new(),
                taken: BTreeMap::new(),
                overbooking: BTreeMap::new(),
                closed_at: None,
            });
        } else if let Some(state) = self.state.as_mut() {
            apply_to_state(state, event);
        }
    }
}

fn apply_to_state(s: &mut FlightState, event: FlightEvent) {
    match event {
        FlightEvent::FlightScheduled { .. } => {}
        FlightEvent::FlightRescheduled {
            departure_at,
            arrival_at,
        } => {
            s.departure_at = departure_at;
            s.arrival_at = arrival_at;
        }
        FlightEvent::FaresChanged { fares } => s.fares = by_cabin(fares),
        FlightEvent::FlightDelayed {
            departure_at,
            arrival_at,
            ..
        } => {
            s.departure_at = departure_at;
            s.arrival_at = arrival_at;
            s.status = FlightStatus::Delayed;
        }
        FlightEvent::FlightCancelled { .. } => s.status = FlightStatus::Cancelled,
        FlightEvent::SeatsHeld {
            booking_id,
            cabin,
            class,
            seats,
            unseated,
            hold_until,
        } => {
            for seat in &seats {
                s.taken.insert(*seat, booking_id);
            }
            let hold = Hold {
                seats: seats.into_iter().collect(),
                cabin,
                class,
                unseated,
                until: hold_until,
                confirmed: false,
            };
            s.holds.insert(booking_id, hold);
        }
        FlightEvent::SeatsConfirmed { booking_id, .. } => {
            if let Some(hold) = s.holds.get_mut(&booking_id) {
                hold.confirmed = true;
            }
        }
        FlightEvent::SeatsReleased { booking_id, .. }
        | FlightEvent::HoldExpired { booking_id, .. } => {
            if let Some(hold) = s.holds.remove(&booking_id) {
                for seat in hold.seats {
                    s.taken.remove(&seat);
                }
            }
        }
        FlightEvent::SeatChanged {
            booking_id,
            from,
            to,
        } => {
            if let Some(hold) = s.holds.get_mut(&booking_id) {
                hold.seats.remove(&from);
                hold.seats.insert(to);
                s.taken.remove(&from);
                s.taken.insert(to, booking_id);
            }
        }
        FlightEvent::SeatAssigned {
            booking_id,
            seat,
            occupant,
        } => {
            if let Some(hold) = s.holds.get_mut(&booking_id) {
                if let Some(at) = hold.unseated.iter().position(|o| *o == occupant) {
                    hold.unseated.remove(at);
                }
                hold.seats.insert(seat);
                s.taken.insert(seat, booking_id);
            }
        }
        FlightEvent::PassengersOffloaded {
            booking_id,
            seats,
            unseated,
        } => {
            if let Some(hold) = s.holds.get_mut(&booking_id) {
                for seat in &seats {
                    hold.seats.remove(seat);
                    s.taken.remove(seat);
                }
                for who in &unseated {
                    if let Some(at) = hold.unseated.iter().position(|o| o == who) {
                        hold.unseated.remove(at);
                    }
                }
                if hold.passengers() == 0 {
                    s.holds.remove(&booking_id);
                }
            }
        }
        FlightEvent::OverbookingSet {
            cabin,
            extra_seats,
            percent,
        } => {
            if extra_seats == 0 {
                s.overbooking.remove(&cabin);
            } else {
                s.overbooking.insert(
                    cabin,
                    Overbooking {
                        extra_seats,
                        percent,
                    },
                );
            }
        }
        FlightEvent::FlightClosed { closed_at, .. } => s.closed_at = Some(closed_at),
    }
}

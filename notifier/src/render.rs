//! The text of each passenger notification, from the event and the booking and flight it concerns.

use chrono::{DateTime, Utc};
use domain::booking::{BookingEvent, BookingState, CancelledBy};
use domain::flight::FlightState;
use domain::values::{AirportCode, FlightNumber, Money, TimeZone};

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What kind (`booking_held`, `flight_delayed`, ...).
    pub kind: &'static str,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

fn money(m: Money) -> String {
    let exp = u32::from(m.currency().minor_unit_exponent());
    let scale = 10_i64.pow(exp);
    if exp == 0 {
        format!("{} {}", m.amount_minor(), m.currency())
    } else {
        let frac = (m.amount_minor() % scale).unsigned_abs();
        format!(
            "{}.{frac:0width$} {}",
            m.amount_minor() / scale,
            m.currency(),
            width = exp as usize
        )
    }
}

/// One flight of the booking as the email tells it: its schedule now, and its airports' time zones
/// (where registered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Flight number.
    pub number: FlightNumber,
    /// From.
    pub origin: AirportCode,
    /// To.
    pub destination: AirportCode,
    /// Departure.
    pub departure_at: DateTime<Utc>,
    /// Arrival.
    pub arrival_at: DateTime<Utc>,
    /// The origin's zone.
    pub origin_zone: Option<TimeZone>,
    /// The destination's zone.
    pub destination_zone: Option<TimeZone>,
}

impl Leg {
    /// The leg of `flight`, zones to be filled in.
    pub fn of(flight: &FlightState) -> Self {
        Self {
            number: flight.number.clone(),
            origin: flight.origin,
            destination: flight.destination,
            departure_at: flight.departure_at,
            arrival_at: flight.arrival_at,
            origin_zone: None,
            destination_zone: None,
        }
    }
}

/// `at` in `zone`'s local time (named), or in UTC where the zone is unknown.
fn local(at: DateTime<Utc>, zone: Option<TimeZone>) -> String {
    match zone {
        Some(zone) => format!(
            "{} local time",
            at.with_timezone(&zone.tz()).format("%Y-%m-%d %H:%M")
        ),
        None => format!("{} UTC", at.format("%Y-%m-%d %H:%M")),
    }
}

fn trip(legs: &[Leg]) -> String {
    let lines: String = legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "  {}. Flight {} from {}, {}, to {}, {}.\n",
                i + 1,
                l.number,
                l.origin,
                local(l.departure_at, l.origin_zone),
                l.destination,
                local(l.arrival_at, l.destination_zone),
            )
        })
        .collect();
    if lines.is_empty() {
        lines
    } else {
        format!("Your flights:\n{lines}")
    }
}

fn passengers(b: &BookingState) -> String {
    b.passengers()
        .as_slice()
        .iter()
        .map(|p| {
            let seat = match (p.seat, p.kind) {
                (Some(s), _) => format!("seat {s}"),
                (None, domain::values::PassengerType::Infant) => "on an adult's lap".to_owned(),
                (None, _) => "seat to be chosen (or assigned at check-in close)".to_owned(),
            };
            format!("  - {} {}, {seat}\n", p.first_name, p.last_name)
        })
        .collect()
}

/// The email for `event` about `booking`, or `None` for events passengers are not told about.
pub fn email(event: &BookingEvent, booking: &BookingState, legs: &[Leg]) -> Option<Rendered> {
    let pnr = booking.pnr;
    let (kind, subject, lead) = match event {
        BookingEvent::BookingPlaced(_) => (
            "booking_held",
            format!(
                "Booking {pnr}: seats held until {} UTC",
                booking.hold_until.format("%H:%M")
            ),
            format!(
                "Your seats are held. Pay {} before {} UTC to confirm.\n",
                money(booking.total),
                booking.hold_until.format("%Y-%m-%d %H:%M")
            ),
        ),
        BookingEvent::BookingConfirmed { payment, .. } => (
            "booking_confirmed",
            format!("Booking {pnr} confirmed"),
            format!(
                "We received {} (reference {}). Your booking is confirmed.\n",
                money(payment.amount),
                payment.reference
            ),
        ),
        BookingEvent::BookingCancelled { by, refund, .. } => {
            let why = match by {
                CancelledBy::Airline => {
                    "We are sorry: your flight was cancelled, and so is your booking."
                }
                CancelledBy::Customer => "Your booking is cancelled, as you asked.",
            };
            (
                "booking_cancelled",
                format!("Booking {pnr} cancelled"),
                format!("{why}\nRefund: {}.\n", money(*refund)),
            )
        }
        BookingEvent::BookingExpired { .. } => (
            "booking_expired",
            format!("Booking {pnr} expired"),
            "The hold on your seats ended before payment, and the seats were released.\n"
                .to_owned(),
        ),
        BookingEvent::PassengerSeatChanged {
            segment,
            passenger,
            from,
            to,
        } => {
            let name = booking
                .passengers()
                .as_slice()
                .get(*passenger)
                .map_or_else(String::new, |p| format!("{} {}", p.first_name, p.last_name));
            let on = legs
                .get(*segment)
                .map_or_else(String::new, |l| format!(" on flight {}", l.number));
            (
                "seat_changed",
                format!("Booking {pnr}: seat changed"),
                format!("{name} moved from seat {from} to seat {to}{on}.\n"),
            )
        }
        BookingEvent::FlightDelayNoted {
            flight_id,
            departure_at,
            arrival_at,
            reason,
        } => {
            let at = flight_id.and_then(|f| booking.segment_of(f)).unwrap_or(0);
            let leg = legs.get(at);
            let which = leg.map_or_else(String::new, |l| format!("Flight {} ", l.number));
            (
                "flight_delayed",
                format!("Booking {pnr}: your flight is delayed"),
                format!(
                    "{which}now departs {} and arrives {}. Reason: {reason}.\n",
                    local(*departure_at, leg.and_then(|l| l.origin_zone)),
                    local(*arrival_at, leg.and_then(|l| l.destination_zone)),
                ),
            )
        }
        BookingEvent::ConnectionBroken {
            arriving,
            departing,
            airport,
            minutes,
            minimum,
        } => {
            let number = |f| {
                booking
                    .segment_of(f)
                    .and_then(|i| legs.get(i))
                    .map_or_else(|| f.to_string(), |l| l.number.to_string())
            };
            (
                "connection_broken",
                format!("Booking {pnr}: your connection at {airport} is at risk"),
                format!(
                    "After a delay, flight {} now leaves {airport} {minutes} minutes after flight {} lands \
                     there; the minimum to connect at {airport} is {minimum} minutes. Contact us to be \
                     rebooked, or cancel: as the airline changed your trip, the refund is in full.\n",
                    number(*departing),
                    number(*arriving),
                ),
            )
        }
        BookingEvent::RefundIssued {
            amount, reference, ..
        } => (
            "refund_issued",
            format!("Booking {pnr}: refund sent"),
            format!(
                "We sent your refund of {} back to your card (reference {reference}).\n",
                money(*amount)
            ),
        ),
        BookingEvent::PassengerNameCorrected {
            previous_first_name,
            previous_last_name,
            first_name,
            last_name,
            ..
        } => (
            "name_corrected",
            format!("Booking {pnr}: name corrected"),
            format!(
                "{previous_first_name} {previous_last_name} now reads {first_name} {last_name} on every flight.\n"
            ),
        ),
        BookingEvent::SeatsAssigned { segment, seats } => {
            let on = legs
                .get(*segment)
                .map_or_else(String::new, |l| format!(" on flight {}", l.number));
            let lines: String = seats
                .iter()
                .map(|given| {
                    let name = booking
                        .passengers()
                        .as_slice()
                        .get(given.passenger)
                        .map_or_else(String::new, |p| format!("{} {}", p.first_name, p.last_name));
                    format!("  - {name}: seat {}\n", given.seat)
                })
                .collect();
            (
                "seats_assigned",
                format!("Booking {pnr}: your seats{on}"),
                format!("Your seats{on}:\n{lines}"),
            )
        }
        BookingEvent::PassengersOffloaded {
            segment,
            passengers,
            refund,
            compensation,
            ..
        } => {
            let names: Vec<String> = passengers
                .iter()
                .filter_map(|i| {
                    booking
                        .segments
                        .get(*segment)?
                        .passengers
                        .as_slice()
                        .get(*i)
                })
                .map(|p| format!("{} {}", p.first_name, p.last_name))
                .collect();
            let on = legs
                .get(*segment)
                .map_or_else(String::new, |l| format!("flight {}", l.number));
            (
                "passengers_offloaded",
                format!("Booking {pnr}: denied boarding on {on}"),
                format!(
                    "We are sorry: {on} is overbooked, and {} cannot board it. Their fare on it, {}, is \
                     refunded to your card, and you are owed a denied-boarding compensation of {}. Contact \
                     us to travel on another flight.\n",
                    names.join(", "),
                    money(*refund),
                    money(*compensation),
                ),
            )
        }
        // Taking the authorized money changes nothing the passenger sees.
        BookingEvent::PaymentCaptured { .. } => return None,
    };
    let body = format!(
        "{lead}\n{}Passengers:\n{}\nBooking reference: {pnr}\n",
        trip(legs),
        passengers(booking)
    );
    Some(Rendered {
        kind,
        subject,
        body,
    })
}

#[cfg(test)]
mod tests {
    use domain::values::Currency;

    use super::*;

    #[test]
    fn amounts_print_in_major_units() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(money(Money::try_new(12_905, eur).unwrap()), "129.05 EUR");
        assert_eq!(money(Money::try_new(5, eur).unwrap()), "0.05 EUR");
        assert_eq!(money(Money::try_new(1200, jpy).unwrap()), "1200 JPY");
    }
}

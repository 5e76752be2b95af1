//! The text of each passenger notification, from the event and the booking and flight it concerns.

use domain::booking::{BookingEvent, BookingState, CancelledBy};
use domain::flight::FlightState;
use domain::values::Money;

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

fn trip(flight: Option<&FlightState>) -> String {
    flight.map_or_else(String::new, |f| {
        format!(
            "Flight {} from {} to {}, departing {} UTC.\n",
            f.number,
            f.origin,
            f.destination,
            f.departure_at.format("%Y-%m-%d %H:%M")
        )
    })
}

fn passengers(b: &BookingState) -> String {
    b.passengers
        .as_slice()
        .iter()
        .map(|p| {
            let seat = p
                .seat
                .map_or_else(|| "on an adult's lap".to_owned(), |s| format!("seat {s}"));
            format!("  - {} {}, {seat}\n", p.first_name, p.last_name)
        })
        .collect()
}

/// The email for `event` about `booking`, or `None` for events passengers are not told about.
pub fn email(
    event: &BookingEvent,
    booking: &BookingState,
    flight: Option<&FlightState>,
) -> Option<Rendered> {
    let pnr = booking.pnr;
    let (kind, subject, lead) = match event {
        BookingEvent::BookingPlaced { .. } => (
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
            passenger,
            from,
            to,
        } => {
            let name = booking
                .passengers
                .as_slice()
                .get(*passenger)
                .map_or_else(String::new, |p| format!("{} {}", p.first_name, p.last_name));
            (
                "seat_changed",
                format!("Booking {pnr}: seat changed"),
                format!("{name} moved from seat {from} to seat {to}.\n"),
            )
        }
        BookingEvent::FlightDelayNoted {
            departure_at,
            arrival_at,
            reason,
        } => (
            "flight_delayed",
            format!("Booking {pnr}: your flight is delayed"),
            format!(
                "New departure {} UTC, arrival {} UTC. Reason: {reason}.\n",
                departure_at.format("%Y-%m-%d %H:%M"),
                arrival_at.format("%Y-%m-%d %H:%M")
            ),
        ),
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
        // Taking the authorized money changes nothing the passenger sees.
        BookingEvent::PaymentCaptured { .. } => return None,
    };
    let body = format!(
        "{lead}\n{}Passengers:\n{}\nBooking reference: {pnr}\n",
        trip(flight),
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

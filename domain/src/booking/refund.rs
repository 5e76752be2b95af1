use chrono::{DateTime, Duration, Utc};

use super::{BookingState, BookingStatus, CancelledBy};
use crate::values::Money;

/// What a cancellation refunds:
/// - nothing was paid (held): nothing;
/// - the airline cancels: everything paid;
/// - the customer cancels within 24 hours of booking, for a departure at least 7 days after booking:
///   everything paid;
/// - otherwise a refundable fare returns the total less the cancellation fee, a non-refundable none.
///
/// What offloads at a flight's close refunded already is not paid twice: "paid" is the payment less it.
pub fn refund_for(booking: &BookingState, by: CancelledBy, now: DateTime<Utc>) -> Money {
    let paid = match (&booking.status, &booking.payment) {
        (BookingStatus::Confirmed, Some(payment)) => booking
            .offloads
            .iter()
            .try_fold(payment.amount, |left, o| left.saturating_minus(o.refund))
            .unwrap_or_else(|_| Money::zero(payment.amount.currency())),
        _ => return Money::zero(booking.total.currency()),
    };
    let grace = now - booking.placed_at <= Duration::hours(24)
        && booking.departure_at() - booking.placed_at >= Duration::days(7);
    match by {
        CancelledBy::Airline => paid,
        CancelledBy::Customer if grace => paid,
        CancelledBy::Customer if booking.fare_rules.refundable => paid
            .saturating_minus(booking.fare_rules.cancellation_fee)
            .unwrap_or_else(|_| Money::zero(paid.currency())),
        CancelledBy::Customer => Money::zero(paid.currency()),
    }
}

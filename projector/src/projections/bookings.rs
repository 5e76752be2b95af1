//! Bookings by id, PNR, customer and flight.

use domain::booking::BookingEvent;
use infra::event_log::StoredEvent;
use sqlx::PgConnection;

use super::{ProjectionError, aggregate_uuid, decode};

pub(super) async fn apply(
    conn: &mut PgConnection,
    event: &StoredEvent,
) -> Result<(), ProjectionError> {
    if event.aggregate_type != "booking" {
        return Ok(());
    }
    let id = aggregate_uuid(event)?;
    match decode::<BookingEvent>(event)? {
        BookingEvent::BookingPlaced {
            pnr,
            customer_id,
            flight_id,
            cabin,
            passengers,
            contact_email,
            total,
            hold_until,
            placed_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_bookings (booking_id, reference, customer_id, flight_id, status, cabin, passengers, \
                 contact_email, total_minor, currency, hold_until, placed_at, version) \
                 VALUES ($1, $2, $3, $4, 'held', $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(pnr.as_str())
            .bind(customer_id.as_uuid())
            .bind(flight_id.as_uuid())
            .bind(cabin.as_str())
            .bind(serde_json::to_value(&passengers).unwrap_or_default())
            .bind(contact_email.as_str())
            .bind(total.amount_minor())
            .bind(total.currency().as_str())
            .bind(hold_until)
            .bind(placed_at)
            .bind(event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        BookingEvent::BookingConfirmed { confirmed_at, .. } => {
            sqlx::query("UPDATE rm_bookings SET status = 'confirmed', confirmed_at = $2 WHERE booking_id = $1")
                .bind(id)
                .bind(confirmed_at)
                .execute(&mut *conn)
                .await?;
        }
        BookingEvent::BookingCancelled {
            refund,
            cancelled_at,
            ..
        } => {
            sqlx::query(
                "UPDATE rm_bookings SET status = 'cancelled', cancelled_at = $2, refund_minor = $3 WHERE booking_id = $1",
            )
            .bind(id)
            .bind(cancelled_at)
            .bind(refund.amount_minor())
            .execute(&mut *conn)
            .await?;
        }
        BookingEvent::BookingExpired { expired_at } => {
            sqlx::query(
                "UPDATE rm_bookings SET status = 'expired', expired_at = $2 WHERE booking_id = $1",
            )
            .bind(id)
            .bind(expired_at)
            .execute(&mut *conn)
            .await?;
        }
        BookingEvent::PassengerSeatChanged { passenger, to, .. } => {
            sqlx::query(
                "UPDATE rm_bookings SET passengers = jsonb_set(passengers, ARRAY[$2::text, 'seat'], to_jsonb($3::text)) \
                 WHERE booking_id = $1",
            )
            .bind(id)
            .bind(passenger.to_string())
            .bind(to.to_string())
            .execute(&mut *conn)
            .await?;
        }
        BookingEvent::PaymentCaptured { captured_at, .. } => {
            sqlx::query("UPDATE rm_bookings SET captured_at = $2 WHERE booking_id = $1")
                .bind(id)
                .bind(captured_at)
                .execute(&mut *conn)
                .await?;
        }
        BookingEvent::RefundIssued { refunded_at, .. } => {
            sqlx::query("UPDATE rm_bookings SET refunded_at = $2 WHERE booking_id = $1")
                .bind(id)
                .bind(refunded_at)
                .execute(&mut *conn)
                .await?;
        }
        BookingEvent::FlightDelayNoted { .. } => {}
    }
    sqlx::query("UPDATE rm_bookings SET version = $2 WHERE booking_id = $1")
        .bind(id)
        .bind(event.sequence)
        .execute(conn)
        .await?;
    Ok(())
}

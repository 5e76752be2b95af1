//! Facts for the analytics reports: each flight's route, day and capacity, and each booking's seats,
//! money and milestones. The reports add these up at read time.

use domain::booking::BookingEvent;
use domain::flight::FlightEvent;
use infra::event_log::StoredEvent;
use sqlx::PgConnection;

use super::{ProjectionError, aggregate_uuid, decode};

pub(super) async fn apply(
    conn: &mut PgConnection,
    event: &StoredEvent,
) -> Result<(), ProjectionError> {
    match event.aggregate_type.as_str() {
        "flight" => flight(conn, event).await,
        "booking" => booking(conn, event).await,
        _ => Ok(()),
    }
}

async fn flight(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decode::<FlightEvent>(event)? {
        FlightEvent::FlightScheduled {
            origin,
            destination,
            departure_at,
            layout,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_analytics_flights (flight_id, origin, destination, departure_at, capacity, status) \
                 VALUES ($1, $2, $3, $4, $5, 'scheduled') ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(origin.as_str())
            .bind(destination.as_str())
            .bind(departure_at)
            .bind(layout.seats().len() as i32)
            .execute(conn)
            .await?;
        }
        FlightEvent::FlightRescheduled { departure_at, .. }
        | FlightEvent::FlightDelayed { departure_at, .. } => {
            sqlx::query("UPDATE rm_analytics_flights SET departure_at = $2 WHERE flight_id = $1")
                .bind(id)
                .bind(departure_at)
                .execute(conn)
                .await?;
        }
        FlightEvent::FlightCancelled { .. } => {
            sqlx::query(
                "UPDATE rm_analytics_flights SET status = 'cancelled' WHERE flight_id = $1",
            )
            .bind(id)
            .execute(conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn booking(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decode::<BookingEvent>(event)? {
        BookingEvent::BookingPlaced {
            flight_id,
            passengers,
            total,
            placed_at,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_analytics_bookings (booking_id, flight_id, origin, destination, seats, total_minor, \
                 currency, placed_at) \
                 SELECT $1, $2, f.origin, f.destination, $3, $4, $5, $6 FROM rm_analytics_flights f WHERE f.flight_id = $2 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(flight_id.as_uuid())
            .bind(passengers.seated_count() as i32)
            .bind(total.amount_minor())
            .bind(total.currency().as_str())
            .bind(placed_at)
            .execute(conn)
            .await?;
        }
        BookingEvent::BookingConfirmed { confirmed_at, .. } => {
            sqlx::query("UPDATE rm_analytics_bookings SET confirmed_at = $2 WHERE booking_id = $1")
                .bind(id)
                .bind(confirmed_at)
                .execute(conn)
                .await?;
        }
        BookingEvent::BookingCancelled {
            refund,
            cancelled_at,
            ..
        } => {
            sqlx::query("UPDATE rm_analytics_bookings SET cancelled_at = $2, refund_minor = $3 WHERE booking_id = $1")
                .bind(id)
                .bind(cancelled_at)
                .bind(refund.amount_minor())
                .execute(conn)
                .await?;
        }
        BookingEvent::BookingExpired { expired_at } => {
            sqlx::query("UPDATE rm_analytics_bookings SET expired_at = $2 WHERE booking_id = $1")
                .bind(id)
                .bind(expired_at)
                .execute(conn)
                .await?;
        }
        BookingEvent::PassengerSeatChanged { .. }
        | BookingEvent::FlightDelayNoted { .. }
        | BookingEvent::PaymentCaptured { .. }
        | BookingEvent::RefundIssued { .. } => {}
    }
    Ok(())
}

//! Facts for the analytics reports: each flight's route, day and capacity, and each booking's seats,
//! money and milestones (once per booking, on its route from the first origin to the outbound's last
//! destination), and the flights each booking travels on (for load factors, which count every segment). The reports add these up at read time.
//!
//! A batch is gathered in memory and written at its end: new flights, flight changes, new bookings
//! (which copy their flight's route, so after the flights), booking milestones. Within a batch a later
//! event's value wins, as if the events had been applied one by one. Flights go in first without
//! changing that: a booking's flight is always scheduled before it in the log (the server mints flight
//! ids, and a booking is decided on its flight's state).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::booking::BookingEvent;
use domain::flight::FlightEvent;
use infra::event_log::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ProjectionError, aggregate_uuid, decode};

/// What a batch changes, written by [`finish`].
#[derive(Debug, Default)]
pub struct Pending {
    scheduled: Scheduled,
    flights: BTreeMap<Uuid, FlightChange>,
    placed: Placed,
    bookings: BTreeMap<Uuid, Milestones>,
    offloads: Vec<(Uuid, Uuid, i64)>,
}

#[derive(Debug, Default)]
struct Scheduled {
    id: Vec<Uuid>,
    origin: Vec<String>,
    destination: Vec<String>,
    departure_at: Vec<DateTime<Utc>>,
    capacity: Vec<i32>,
}

#[derive(Debug, Default)]
struct FlightChange {
    departure_at: Option<DateTime<Utc>>,
    cancelled: bool,
}

#[derive(Debug, Default)]
struct Placed {
    id: Vec<Uuid>,
    flight: Vec<Uuid>,
    /// The outbound's last flight (where the route ends).
    last: Vec<Uuid>,
    /// Every flight of every booking.
    segments: Vec<SegmentRow>,
    seats: Vec<i32>,
    total: Vec<i64>,
    currency: Vec<String>,
    placed_at: Vec<DateTime<Utc>>,
}

/// A booking's flight, with what it was sold at there.
#[derive(Debug)]
struct SegmentRow {
    booking: Uuid,
    flight: Uuid,
    class: String,
    seats: i32,
    fare_minor: i64,
    currency: String,
}

#[derive(Debug, Default)]
struct Milestones {
    confirmed_at: Option<DateTime<Utc>>,
    cancelled: Option<(DateTime<Utc>, i64)>,
    expired_at: Option<DateTime<Utc>>,
}

pub(super) fn apply(event: &StoredEvent, pending: &mut Pending) -> Result<(), ProjectionError> {
    match event.aggregate_type.as_str() {
        "flight" => flight(event, pending),
        "booking" => booking(event, pending),
        _ => Ok(()),
    }
}

fn flight(event: &StoredEvent, pending: &mut Pending) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decode::<FlightEvent>(event)? {
        FlightEvent::FlightScheduled {
            origin,
            destination,
            departure_at,
            layout,
            ..
        } => {
            let s = &mut pending.scheduled;
            s.id.push(id);
            s.origin.push(origin.as_str().to_owned());
            s.destination.push(destination.as_str().to_owned());
            s.departure_at.push(departure_at);
            s.capacity.push(layout.seats().len() as i32);
        }
        FlightEvent::FlightRescheduled { departure_at, .. }
        | FlightEvent::FlightDelayed { departure_at, .. } => {
            pending.flights.entry(id).or_default().departure_at = Some(departure_at);
        }
        FlightEvent::FlightCancelled { .. } => {
            pending.flights.entry(id).or_default().cancelled = true;
        }
        _ => {}
    }
    Ok(())
}

fn booking(event: &StoredEvent, pending: &mut Pending) -> Result<(), ProjectionError> {
    let id = aggregate_uuid(event)?;
    match decode::<BookingEvent>(event)? {
        BookingEvent::BookingPlaced(b) => {
            let p = &mut pending.placed;
            let first = &b.segments[0];
            let last = b
                .segments
                .iter()
                .rfind(|s| s.slice == first.slice)
                .unwrap_or(first);
            p.id.push(id);
            p.flight.push(*first.flight_id.as_uuid());
            p.last.push(*last.flight_id.as_uuid());
            p.segments.extend(b.segments.iter().map(|s| SegmentRow {
                booking: id,
                flight: *s.flight_id.as_uuid(),
                class: s.fare.code().to_string(),
                seats: s.passengers.seated_count() as i32,
                fare_minor: s.fare.price.amount_minor(),
                currency: s.fare.price.currency().as_str().to_owned(),
            }));
            p.seats.push(first.passengers.seated_count() as i32);
            p.total.push(b.total.amount_minor());
            p.currency.push(b.total.currency().as_str().to_owned());
            p.placed_at.push(b.placed_at);
        }
        BookingEvent::BookingConfirmed { confirmed_at, .. } => {
            pending.bookings.entry(id).or_default().confirmed_at = Some(confirmed_at);
        }
        BookingEvent::BookingCancelled {
            refund,
            cancelled_at,
            ..
        } => {
            pending.bookings.entry(id).or_default().cancelled =
                Some((cancelled_at, refund.amount_minor()));
        }
        BookingEvent::BookingExpired { expired_at } => {
            pending.bookings.entry(id).or_default().expired_at = Some(expired_at);
        }
        BookingEvent::PassengersOffloaded {
            flight_id, refund, ..
        } => {
            pending
                .offloads
                .push((id, *flight_id.as_uuid(), refund.amount_minor()));
        }
        BookingEvent::PassengerSeatChanged { .. }
        | BookingEvent::SeatsAssigned { .. }
        | BookingEvent::PassengerNameCorrected { .. }
        | BookingEvent::FlightDelayNoted { .. }
        | BookingEvent::ConnectionBroken { .. }
        | BookingEvent::PaymentCaptured { .. }
        | BookingEvent::RefundIssued { .. } => {}
    }
    Ok(())
}

/// Writes the batch, at most six statements; offloads last, after the rows they change.
pub(super) async fn finish(
    conn: &mut PgConnection,
    mut pending: Pending,
) -> Result<(), sqlx::Error> {
    let offloads = std::mem::take(&mut pending.offloads);
    let s = pending.scheduled;
    if !s.id.is_empty() {
        sqlx::query(
            "INSERT INTO rm_analytics_flights (flight_id, origin, destination, departure_at, capacity, status) \
             SELECT id, origin, destination, departure_at, capacity, 'scheduled' \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[]) \
                  AS u(id, origin, destination, departure_at, capacity) \
             ON CONFLICT DO NOTHING",
        )
        .bind(s.id)
        .bind(s.origin)
        .bind(s.destination)
        .bind(s.departure_at)
        .bind(s.capacity)
        .execute(&mut *conn)
        .await?;
    }
    if !pending.flights.is_empty() {
        let (ids, changes): (Vec<Uuid>, Vec<FlightChange>) = pending.flights.into_iter().unzip();
        let departures: Vec<Option<DateTime<Utc>>> =
            changes.iter().map(|c| c.departure_at).collect();
        let cancelled: Vec<bool> = changes.iter().map(|c| c.cancelled).collect();
        sqlx::query(
            "UPDATE rm_analytics_flights f SET departure_at = COALESCE(u.departure_at, f.departure_at), \
             status = CASE WHEN u.cancelled THEN 'cancelled' ELSE f.status END \
             FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bool[]) AS u(id, departure_at, cancelled) \
             WHERE f.flight_id = u.id",
        )
        .bind(ids)
        .bind(departures)
        .bind(cancelled)
        .execute(&mut *conn)
        .await?;
    }
    let p = pending.placed;
    if !p.id.is_empty() {
        sqlx::query(
            "INSERT INTO rm_analytics_bookings (booking_id, flight_id, origin, destination, seats, total_minor, \
             currency, placed_at) \
             SELECT u.id, u.flight, f.origin, l.destination, u.seats, u.total, u.currency, u.placed_at \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::bigint[], $5::text[], $6::timestamptz[], $7::uuid[]) \
                  AS u(id, flight, seats, total, currency, placed_at, last) \
             JOIN rm_analytics_flights f ON f.flight_id = u.flight \
             JOIN rm_analytics_flights l ON l.flight_id = u.last \
             ON CONFLICT DO NOTHING",
        )
        .bind(p.id)
        .bind(p.flight)
        .bind(p.seats)
        .bind(p.total)
        .bind(p.currency)
        .bind(p.placed_at)
        .bind(p.last)
        .execute(&mut *conn)
        .await?;
        let segments = p.segments;
        sqlx::query(
            "INSERT INTO rm_analytics_segments (booking_id, flight_id, class, seats, fare_minor, currency) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::bigint[], $6::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(segments.iter().map(|s| s.booking).collect::<Vec<_>>())
        .bind(segments.iter().map(|s| s.flight).collect::<Vec<_>>())
        .bind(segments.iter().map(|s| s.class.clone()).collect::<Vec<_>>())
        .bind(segments.iter().map(|s| s.seats).collect::<Vec<_>>())
        .bind(segments.iter().map(|s| s.fare_minor).collect::<Vec<_>>())
        .bind(segments.iter().map(|s| s.currency.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    if !pending.bookings.is_empty() {
        let n = pending.bookings.len();
        let mut ids = Vec::with_capacity(n);
        let (mut confirmed, mut cancelled, mut refunds, mut expired) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, m) in pending.bookings {
            ids.push(id);
            confirmed.push(m.confirmed_at);
            cancelled.push(m.cancelled.map(|(at, _)| at));
            refunds.push(m.cancelled.map(|(_, refund)| refund));
            expired.push(m.expired_at);
        }
        sqlx::query(
            "UPDATE rm_analytics_bookings b SET confirmed_at = COALESCE(u.confirmed_at, b.confirmed_at), \
             cancelled_at = COALESCE(u.cancelled_at, b.cancelled_at), \
             refund_minor = CASE WHEN u.cancelled_at IS NULL THEN b.refund_minor ELSE u.refund_minor END, \
             expired_at = COALESCE(u.expired_at, b.expired_at) \
             FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::timestamptz[]) \
                  AS u(id, confirmed_at, cancelled_at, refund_minor, expired_at) \
             WHERE b.booking_id = u.id",
        )
        .bind(ids)
        .bind(confirmed)
        .bind(cancelled)
        .bind(refunds)
        .bind(expired)
        .execute(&mut *conn)
        .await?;
    }
    if !offloads.is_empty() {
        // Offloaded passengers no longer fly on that segment: their seats and fare leave its revenue.
        let (bookings, flights, refunds): (Vec<Uuid>, Vec<Uuid>, Vec<i64>) =
            offloads.iter().copied().fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut b, mut f, mut r), (booking, flight, refund)| {
                    b.push(booking);
                    f.push(flight);
                    r.push(refund);
                    (b, f, r)
                },
            );
        sqlx::query(
            "UPDATE rm_analytics_segments s SET seats = greatest(s.seats - u.refund / nullif(s.fare_minor, 0), 0) \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[]) AS u(booking, flight, refund) \
             WHERE s.booking_id = u.booking AND s.flight_id = u.flight AND s.fare_minor > 0",
        )
        .bind(bookings)
        .bind(flights)
        .bind(refunds)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

//! Bookings by id, PNR, customer and flight (every flight of a journey: `flight_ids`; the first one is
//! `flight_id`, with its cabin and the party's seats there in `cabin` and `passengers`).
//!
//! A batch is gathered in memory and written at its end in a few statements: the new rows, then seat
//! changes in event order, then each touched booking's milestones and version at once. Within a batch a
//! later event's value wins, as if the events had been applied one by one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::booking::{BookedSegment, BookingEvent};
use infra::event_log::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ProjectionError, aggregate_uuid, decode};

/// What a batch changes, written by [`finish`].
#[derive(Debug, Default)]
pub struct Pending {
    placed: Placed,
    /// `(booking, segment index, passenger index, seat)`, in event order.
    seat_changes: Vec<(Uuid, String, String, String)>,
    offloads: Vec<(Uuid, String, serde_json::Value)>,
    renames: Vec<(Uuid, String, String, String)>,
    touched: BTreeMap<Uuid, Milestones>,
}

/// New rows, column by column.
#[derive(Debug, Default)]
struct Placed {
    id: Vec<Uuid>,
    reference: Vec<String>,
    customer: Vec<Uuid>,
    flight: Vec<Uuid>,
    cabin: Vec<String>,
    passengers: Vec<serde_json::Value>,
    segments: Vec<serde_json::Value>,
    email: Vec<String>,
    total: Vec<i64>,
    currency: Vec<String>,
    hold_until: Vec<DateTime<Utc>>,
    placed_at: Vec<DateTime<Utc>>,
}

/// A touched booking's latest status, milestones and version.
#[derive(Debug, Default)]
struct Milestones {
    status: Option<&'static str>,
    confirmed_at: Option<DateTime<Utc>>,
    cancelled: Option<(DateTime<Utc>, i64)>,
    expired_at: Option<DateTime<Utc>>,
    captured_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    version: i64,
}

pub(super) fn apply(event: &StoredEvent, pending: &mut Pending) -> Result<(), ProjectionError> {
    if event.aggregate_type != "booking" {
        return Ok(());
    }
    let id = aggregate_uuid(event)?;
    let decoded = decode::<BookingEvent>(event)?;
    let touched = pending.touched.entry(id).or_default();
    touched.version = touched.version.max(event.sequence);
    match decoded {
        BookingEvent::BookingPlaced(b) => {
            let placed = &mut pending.placed;
            let first = &b.segments[0];
            placed.id.push(id);
            placed.reference.push(b.pnr.as_str().to_owned());
            placed.customer.push(*b.customer_id.as_uuid());
            placed.flight.push(*first.flight_id.as_uuid());
            placed.cabin.push(first.cabin().as_str().to_owned());
            placed
                .passengers
                .push(serde_json::to_value(&first.passengers).unwrap_or_default());
            placed.segments.push(segments_json(&b.segments));
            placed.email.push(b.contact_email.as_str().to_owned());
            placed.total.push(b.total.amount_minor());
            placed.currency.push(b.total.currency().as_str().to_owned());
            placed.hold_until.push(b.hold_until);
            placed.placed_at.push(b.placed_at);
        }
        BookingEvent::BookingConfirmed { confirmed_at, .. } => {
            touched.status = Some("confirmed");
            touched.confirmed_at = Some(confirmed_at);
        }
        BookingEvent::BookingCancelled {
            refund,
            cancelled_at,
            ..
        } => {
            touched.status = Some("cancelled");
            touched.cancelled = Some((cancelled_at, refund.amount_minor()));
        }
        BookingEvent::BookingExpired { expired_at } => {
            touched.status = Some("expired");
            touched.expired_at = Some(expired_at);
        }
        BookingEvent::PassengerSeatChanged {
            segment,
            passenger,
            to,
            ..
        } => {
            pending.seat_changes.push((
                id,
                segment.to_string(),
                passenger.to_string(),
                to.to_string(),
            ));
        }
        BookingEvent::PassengerNameCorrected {
            passenger,
            first_name,
            last_name,
            ..
        } => pending.renames.push((
            id,
            passenger.to_string(),
            first_name.as_str().to_owned(),
            last_name.as_str().to_owned(),
        )),
        BookingEvent::SeatsAssigned { segment, seats } => {
            for given in seats {
                pending.seat_changes.push((
                    id,
                    segment.to_string(),
                    given.passenger.to_string(),
                    given.seat.to_string(),
                ));
            }
        }
        BookingEvent::PaymentCaptured { captured_at, .. } => {
            touched.captured_at = Some(captured_at);
        }
        // An offload's refund is in `offloads`; `refunded` is the cancellation's.
        BookingEvent::RefundIssued {
            refunded_at,
            offload: None,
            ..
        } => {
            touched.refunded_at = Some(refunded_at);
        }
        BookingEvent::RefundIssued { .. } => {}
        BookingEvent::PassengersOffloaded {
            flight_id,
            segment,
            passengers,
            refund,
            compensation,
            offloaded_at,
        } => {
            let offload = serde_json::json!({
                "flight_id": flight_id,
                "segment": segment,
                "passengers": passengers,
                "refund_minor": refund.amount_minor(),
                "compensation_minor": compensation.amount_minor(),
                "currency": refund.currency().as_str(),
                "offloaded_at": offloaded_at,
            });
            pending.offloads.push((id, segment.to_string(), offload));
        }
        BookingEvent::FlightDelayNoted { .. } | BookingEvent::ConnectionBroken { .. } => {}
    }
    Ok(())
}

/// The segments as the read model keeps them (`BookedSegment::summary`).
fn segments_json(segments: &[BookedSegment]) -> serde_json::Value {
    let summaries: Vec<_> = segments.iter().map(BookedSegment::summary).collect();
    serde_json::to_value(summaries).unwrap_or_default()
}

/// Writes the batch: new rows, seat changes in order, then milestones and versions.
pub(super) async fn finish(conn: &mut PgConnection, pending: Pending) -> Result<(), sqlx::Error> {
    let placed = pending.placed;
    if !placed.id.is_empty() {
        sqlx::query(
            "INSERT INTO rm_bookings (booking_id, reference, customer_id, flight_id, status, cabin, passengers, \
             contact_email, total_minor, currency, hold_until, placed_at, version, segments, flight_ids) \
             SELECT id, reference, customer, flight, 'held', cabin, passengers, email, total, currency, hold_until, \
                    placed_at, 0, segments, \
                    ARRAY(SELECT (s ->> 'flight_id')::uuid FROM jsonb_array_elements(segments) s) \
             FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], \
                         $8::bigint[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::jsonb[]) \
                  AS u(id, reference, customer, flight, cabin, passengers, email, total, currency, hold_until, placed_at, \
                       segments) \
             ON CONFLICT DO NOTHING",
        )
        .bind(placed.id)
        .bind(placed.reference)
        .bind(placed.customer)
        .bind(placed.flight)
        .bind(placed.cabin)
        .bind(placed.passengers)
        .bind(placed.email)
        .bind(placed.total)
        .bind(placed.currency)
        .bind(placed.hold_until)
        .bind(placed.placed_at)
        .bind(placed.segments)
        .execute(&mut *conn)
        .await?;
    }
    // Rare, and two changes of one booking must apply in order: one statement each.
    for (id, segment, passenger, seat) in pending.seat_changes {
        sqlx::query(
            "UPDATE rm_bookings SET \
             passengers = CASE WHEN $2 = '0' \
                 THEN jsonb_set(passengers, ARRAY[$3::text, 'seat'], to_jsonb($4::text)) ELSE passengers END, \
             segments = jsonb_set(segments, ARRAY[$2::text, 'seats', $3::text], to_jsonb($4::text)) \
             WHERE booking_id = $1",
        )
        .bind(id)
        .bind(segment)
        .bind(passenger)
        .bind(seat)
        .execute(&mut *conn)
        .await?;
    }
    for (id, passenger, first, last) in pending.renames {
        sqlx::query(
            "UPDATE rm_bookings SET passengers = jsonb_set(jsonb_set(passengers, ARRAY[$2::text, 'first_name'], \
             to_jsonb($3::text)), ARRAY[$2::text, 'last_name'], to_jsonb($4::text)) WHERE booking_id = $1",
        )
        .bind(id)
        .bind(passenger)
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    }
    for (id, segment, offload) in pending.offloads {
        sqlx::query(
            "UPDATE rm_bookings SET offloads = offloads || jsonb_build_array($3::jsonb), \
             segments = jsonb_set(segments, ARRAY[$2::text, 'offloaded'], \
                 coalesce(segments -> $2::int -> 'offloaded', '[]'::jsonb) || ($3::jsonb -> 'passengers')) \
             WHERE booking_id = $1",
        )
        .bind(id)
        .bind(segment)
        .bind(offload)
        .execute(&mut *conn)
        .await?;
    }
    if pending.touched.is_empty() {
        return Ok(());
    }
    let n = pending.touched.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let (mut confirmed, mut cancelled, mut refunds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut expired, mut captured, mut refunded) = (Vec::new(), Vec::new(), Vec::new());
    let mut versions = Vec::with_capacity(n);
    for (id, m) in pending.touched {
        ids.push(id);
        statuses.push(m.status);
        confirmed.push(m.confirmed_at);
        cancelled.push(m.cancelled.map(|(at, _)| at));
        refunds.push(m.cancelled.map(|(_, refund)| refund));
        expired.push(m.expired_at);
        captured.push(m.captured_at);
        refunded.push(m.refunded_at);
        versions.push(m.version);
    }
    sqlx::query(
        "UPDATE rm_bookings b SET status = COALESCE(u.status, b.status), \
         confirmed_at = COALESCE(u.confirmed_at, b.confirmed_at), \
         cancelled_at = COALESCE(u.cancelled_at, b.cancelled_at), \
         refund_minor = CASE WHEN u.cancelled_at IS NULL THEN b.refund_minor ELSE u.refund_minor END, \
         expired_at = COALESCE(u.expired_at, b.expired_at), \
         captured_at = COALESCE(u.captured_at, b.captured_at), \
         refunded_at = COALESCE(u.refunded_at, b.refunded_at), \
         version = u.version \
         FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], \
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::bigint[]) \
              AS u(id, status, confirmed_at, cancelled_at, refund_minor, expired_at, captured_at, refunded_at, version) \
         WHERE b.booking_id = u.id",
    )
    .bind(ids)
    .bind(statuses)
    .bind(confirmed)
    .bind(cancelled)
    .bind(refunds)
    .bind(expired)
    .bind(captured)
    .bind(refunded)
    .bind(versions)
    .execute(conn)
    .await?;
    Ok(())
}

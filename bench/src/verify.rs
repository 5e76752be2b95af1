//! After the write scenarios, an independent ledger: `airline verify`'s SQL straight over the event log and
//! the payments ledger (seats held or sold ↔ bookings held or confirmed, one booking per seat, no orphan
//! hold, payments captured, nothing twice), then each scenario's counts from the log against what its
//! clients saw. Nothing here loads an aggregate; a violation fails the run.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// What a scenario's clients saw: `booked` single-seat bookings answered 201 on `flights`.
pub struct Seen {
    pub scenario: String,
    pub flights: Vec<Uuid>,
    pub booked: u64,
}

/// Runs the invariants, then compares every scenario's log with its clients.
///
/// # Errors
/// Any violation or mismatch; database failures.
pub async fn ledger(pool: &PgPool, seen: &[Seen]) -> anyhow::Result<String> {
    let report = airline::verify::run(pool, Duration::ZERO).await?;
    anyhow::ensure!(
        report.is_clean(),
        "the event log breaks an invariant:\n{report}"
    );
    let mut lines = Vec::new();
    for s in seen {
        let flights: Vec<String> = s.flights.iter().map(Uuid::to_string).collect();
        let (placed, seats, holds): (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT count(*) FROM events e CROSS JOIN LATERAL jsonb_array_elements( \
                  coalesce(e.payload #> '{BookingPlaced,segments}', jsonb_build_array(e.payload -> 'BookingPlaced'))) s \
                  WHERE e.aggregate_type = 'booking' AND e.event_type = 'BookingPlaced' \
                  AND s ->> 'flight_id' = ANY($1)), \
               (SELECT coalesce(sum(jsonb_array_length(payload -> 'SeatsHeld' -> 'seats')), 0)::bigint FROM events \
                  WHERE aggregate_type = 'flight' AND aggregate_id = ANY($1) AND event_type = 'SeatsHeld'), \
               (SELECT count(*) FROM events WHERE aggregate_type = 'flight' AND aggregate_id = ANY($1) \
                  AND event_type IN ('SeatsReleased', 'HoldExpired', 'SeatChanged'))",
        )
        .bind(&flights)
        .fetch_one(pool)
        .await?;
        anyhow::ensure!(
            placed as u64 == s.booked && seats as u64 == s.booked && holds == 0,
            "{}: the clients saw {} bookings (seats, a journey's counted on each flight); the log has {placed} \
             placed, {seats} seats held and {holds} releases",
            s.scenario,
            s.booked
        );
        lines.push(format!(
            "{}: {} bookings seen = {placed} placed = {seats} seats held",
            s.scenario, s.booked
        ));
    }
    let checks = report.checks.len();
    tracing::warn!(checks, "ledger clean: {}", lines.join("; "));
    Ok(format!(
        "ledger: {checks} invariants clean; log = clients in every scenario"
    ))
}

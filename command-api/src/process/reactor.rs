//! The reactor: follows the event log (its own checkpointed subscription, one active instance) and
//! carries consequences across aggregates. A delayed flight is noted on each affected booking; a
//! cancelled flight cancels each one with a full refund; a cancelled or expired booking releases its
//! seats. Events are handled at least once; every command it issues is idempotent.

use domain::booking::{BookingCommand, BookingError, CancelledBy};
use domain::flight::FlightEvent;
use domain::values::BookingId;
use infra::event_log::{StoredEvent, Subscription, read_after};

use super::Outcome;
use crate::error::{ApiError, Result, store_error};
use crate::executor::{CommandError, CommandMeta};
use crate::state::AppState;

/// The reactor's subscription name.
pub const SUBSCRIPTION: &str = "command-api.reactor";

/// Handles the next batch of events after the checkpoint.
///
/// # Errors
/// Store failures; the checkpoint stays before the event that failed.
pub async fn process_next_batch(
    state: &AppState,
    subscription: &Subscription,
    limit: i64,
) -> Result<Outcome> {
    let mut conn = state.pool.acquire().await?;
    let checkpoint = subscription.checkpoint(&mut conn).await?;
    let events = read_after(&mut *conn, checkpoint, limit).await?;
    if events.is_empty() {
        return Ok(Outcome::Idle);
    }
    for event in &events {
        react(state, event).await?;
        subscription
            .save_checkpoint(&mut conn, event.position())
            .await?;
    }
    Ok(Outcome::Processed(events.len()))
}

fn meta_for(event: &StoredEvent) -> CommandMeta {
    CommandMeta {
        principal: None,
        correlation_id: event
            .metadata
            .get("correlation_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        causation_id: Some(event.event_id.to_string()),
        idempotency_key: None,
    }
}

async fn react(state: &AppState, event: &StoredEvent) -> Result<()> {
    let meta = meta_for(event);
    match event.aggregate_type.as_str() {
        "flight"
            if matches!(
                event.event_type.as_str(),
                "FlightDelayed" | "FlightCancelled"
            ) =>
        {
            let parsed: FlightEvent =
                serde_json::from_value(event.payload.clone()).map_err(|e| {
                    ApiError::Internal(anyhow::anyhow!("event {}: {e}", event.event_id))
                })?;
            on_flight_event(state, &meta, parsed).await
        }
        "booking"
            if matches!(
                event.event_type.as_str(),
                "BookingCancelled" | "BookingExpired"
            ) =>
        {
            let booking_id: BookingId = event.aggregate_id.parse().map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("event {}: {e}", event.event_id))
            })?;
            let booking = state
                .bookings
                .load(&event.aggregate_id)
                .await
                .map_err(store_error)?;
            let Some(s) = booking.aggregate.state() else {
                return Ok(());
            };
            super::booking::release(state, &meta, &s.flight_id.to_string(), booking_id).await
        }
        _ => Ok(()),
    }
}

async fn on_flight_event(state: &AppState, meta: &CommandMeta, event: FlightEvent) -> Result<()> {
    let (affected, command) = match event {
        FlightEvent::FlightDelayed {
            departure_at,
            arrival_at,
            reason,
            affected_bookings,
            ..
        } => (
            affected_bookings,
            BookingCommand::NoteFlightDelay {
                departure_at,
                arrival_at,
                reason,
            },
        ),
        FlightEvent::FlightCancelled {
            affected_bookings, ..
        } => (
            affected_bookings,
            BookingCommand::Cancel {
                by: CancelledBy::Airline,
                now: state.clock.now(),
            },
        ),
        _ => return Ok(()),
    };
    let name = match command {
        BookingCommand::NoteFlightDelay { .. } => "NoteFlightDelay",
        _ => "CancelBooking",
    };
    for booking_id in affected {
        let key = booking_id.to_string();
        match state
            .bookings
            .execute(&key, None, name, command.clone(), meta)
            .await
        {
            // Done already (a redelivery), ended, or a hold whose booking never came: nothing to tell.
            Ok(_)
            | Err(CommandError::Rejected(
                BookingError::Cancelled | BookingError::Expired | BookingError::NotPlaced,
            )) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

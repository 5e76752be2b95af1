//! The read models and how each event changes them. Each projection runs as its own subscription and
//! applies events inside the transaction that also moves its checkpoint.

mod analytics;
mod bookings;
mod flights;

use infra::event_log::StoredEvent;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Why applying an event failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database failed; retry.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The checkpoint is not where a batch read ahead of it starts: another worker moved it.
    #[error("the checkpoint moved: the batch was read for another position")]
    Moved,
    /// A stored event that does not decode: a bug or an unknown event version; the subscription stops.
    #[error("event {event_id} ({event_type}) does not decode: {reason}")]
    Decode {
        /// Which event.
        event_id: Uuid,
        /// Its type.
        event_type: String,
        /// Why.
        reason: String,
    },
}

/// What a change makes stale in the cache. Search moves the search generation; a seat map's reference
/// is its version in `rm_seat_map_versions`, which the projection writes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invalidation {
    /// Any search result may have changed.
    Search,
    /// This flight's seat map is now at this version.
    SeatMap(Uuid, u64),
}

/// The read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Airports, aircraft, flight search rows, fares and seats per cabin, seat maps.
    Flights,
    /// Bookings by id, PNR, customer and flight.
    Bookings,
    /// Facts behind the analytics reports.
    Analytics,
}

impl Projection {
    /// Every projection.
    pub const ALL: [Self; 3] = [Self::Flights, Self::Bookings, Self::Analytics];

    /// The subscription (and `airline replay`) name.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Flights => "flights",
            Self::Bookings => "bookings",
            Self::Analytics => "analytics",
        }
    }

    /// The failpoint at the start of each of its batches (`projector.batch.<name>`).
    pub const fn failpoint(&self) -> &'static str {
        match self {
            Self::Flights => "projector.batch.flights",
            Self::Bookings => "projector.batch.bookings",
            Self::Analytics => "projector.batch.analytics",
        }
    }

    /// Looks one up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The tables it owns (rebuilt together by a replay).
    pub const fn tables(&self) -> &'static [&'static str] {
        match self {
            Self::Flights => &[
                "rm_airports",
                "rm_aircraft",
                "rm_flights",
                "rm_flight_cabins",
                "rm_flight_classes",
                "rm_class_holds",
                "rm_seats",
                "rm_seat_map_versions",
            ],
            Self::Bookings => &["rm_bookings"],
            Self::Analytics => &[
                "rm_analytics_flights",
                "rm_analytics_bookings",
                "rm_analytics_segments",
            ],
        }
    }

    /// Applies one event; some of its writes may wait in `batch` until [`Projection::finish`].
    ///
    /// # Errors
    /// [`ProjectionError`].
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &StoredEvent,
        batch: &mut Batch,
    ) -> Result<Vec<Invalidation>, ProjectionError> {
        match self {
            Self::Flights => flights::apply(conn, event, &mut batch.flights).await,
            Self::Bookings => bookings::apply(event, &mut batch.bookings).map(|()| vec![]),
            Self::Analytics => analytics::apply(event, &mut batch.analytics).map(|()| vec![]),
        }
    }
}

impl Projection {
    /// Writes what a batch deferred; call it in the same transaction, after the last `apply`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn finish(
        &self,
        conn: &mut PgConnection,
        batch: Batch,
    ) -> Result<(), ProjectionError> {
        match self {
            Self::Flights => Ok(flights::finish(conn, batch.flights).await?),
            Self::Bookings => Ok(bookings::finish(conn, batch.bookings).await?),
            Self::Analytics => Ok(analytics::finish(conn, batch.analytics).await?),
        }
    }
}

/// Writes a projection defers to the end of a batch.
#[derive(Debug, Default)]
pub struct Batch {
    flights: flights::Pending,
    bookings: bookings::Pending,
    analytics: analytics::Pending,
}

pub(crate) fn decode<'e, T: Deserialize<'e>>(event: &'e StoredEvent) -> Result<T, ProjectionError> {
    // Decoded from the borrowed tree: no copy of the payload per event.
    T::deserialize(&event.payload).map_err(|e| ProjectionError::Decode {
        event_id: event.event_id,
        event_type: event.event_type.clone(),
        reason: e.to_string(),
    })
}

pub(crate) fn aggregate_uuid(event: &StoredEvent) -> Result<Uuid, ProjectionError> {
    event
        .aggregate_id
        .parse()
        .map_err(|e: uuid::Error| ProjectionError::Decode {
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            reason: e.to_string(),
        })
}

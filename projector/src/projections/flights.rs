//! Airports, aircraft, flights for search (with local times), fares and seats per cabin, seat maps.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use domain::aircraft::AircraftEvent;
use domain::airport::AirportEvent;
use domain::flight::{ClassCode, Fare, FlightEvent};
use infra::event_log::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Invalidation, ProjectionError, aggregate_uuid, decode};

/// Seat changes and per-flight bookkeeping deferred to the end of a batch: each seat's final state, and
/// each touched flight's last version and whether its counts and seat map changed. A batch that touches a
/// seat fifty times writes it once.
#[derive(Debug, Default)]
pub struct Pending {
    seats: BTreeMap<(Uuid, String), (&'static str, Option<Uuid>)>,
    flights: BTreeMap<Uuid, Touched>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Touched {
    version: i64,
    recount: bool,
    seat_map: bool,
}

pub(super) async fn apply(
    conn: &mut PgConnection,
    event: &StoredEvent,
    pending: &mut Pending,
) -> Result<Vec<Invalidation>, ProjectionError> {
    match event.aggregate_type.as_str() {
        // An airport's time zone or connecting time changes what searches and journeys show.
        "airport" => airport(conn, event)
            .await
            .map(|()| vec![Invalidation::Search]),
        "aircraft" => aircraft(conn, event).await.map(|()| vec![]),
        "flight" => flight(conn, event, pending).await,
        _ => Ok(vec![]),
    }
}

async fn airport(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    match decode::<AirportEvent>(event)? {
        AirportEvent::AirportRegistered {
            code,
            name,
            city,
            country,
            time_zone,
            min_connection_minutes,
        } => {
            sqlx::query(
                "INSERT INTO rm_airports (code, name, city, country, time_zone, version, min_connection_minutes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO UPDATE SET name = $2, city = $3, \
                 country = $4, time_zone = $5, version = $6, min_connection_minutes = $7",
            )
            .bind(code.as_str())
            .bind(name.as_str())
            .bind(city.as_str())
            .bind(country.as_str())
            .bind(time_zone.as_str())
            .bind(event.sequence)
            .bind(i32::from(min_connection_minutes.minutes()))
            .execute(conn)
            .await?;
        }
        AirportEvent::AirportUpdated {
            name,
            city,
            country,
            time_zone,
            min_connection_minutes,
        } => {
            sqlx::query(
                "UPDATE rm_airports SET name = COALESCE($2, name), city = COALESCE($3, city), \
                 country = COALESCE($4, country), time_zone = COALESCE($5, time_zone), version = $6, \
                 min_connection_minutes = COALESCE($7, min_connection_minutes) WHERE code = $1",
            )
            .bind(&event.aggregate_id)
            .bind(name.as_ref().map(|v| v.as_str()))
            .bind(city.as_ref().map(|v| v.as_str()))
            .bind(country.as_ref().map(|v| v.as_str()))
            .bind(time_zone.as_ref().map(|v| v.as_str()))
            .bind(event.sequence)
            .bind(min_connection_minutes.map(|m| i32::from(m.minutes())))
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn aircraft(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let AircraftEvent::AircraftRegistered { id, model, layout } = decode::<AircraftEvent>(event)?;
    sqlx::query(
        "INSERT INTO rm_aircraft (aircraft_id, model, cabins, seat_count, version) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (aircraft_id) DO NOTHING",
    )
    .bind(id.as_uuid())
    .bind(model.as_str())
    .bind(serde_json::to_value(&layout).unwrap_or_default())
    .bind(layout.seats().len() as i32)
    .bind(event.sequence)
    .execute(conn)
    .await?;
    Ok(())
}

fn local(at: DateTime<Utc>, tz: &str) -> NaiveDateTime {
    tz.parse::<chrono_tz::Tz>()
        .map_or_else(|_| at.naive_utc(), |tz| at.with_timezone(&tz).naive_local())
}

async fn time_zone(conn: &mut PgConnection, code: &str) -> Result<String, sqlx::Error> {
    let tz: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM rm_airports WHERE code = $1")
            .bind(code)
            .fetch_optional(conn)
            .await?;
    Ok(tz.unwrap_or_else(|| "UTC".to_owned()))
}

async fn flight(
    conn: &mut PgConnection,
    event: &StoredEvent,
    pending: &mut Pending,
) -> Result<Vec<Invalidation>, ProjectionError> {
    let id = aggregate_uuid(event)?;
    let version = event.sequence as u64;
    let seat_map = Invalidation::SeatMap(id, version);
    let changes = match decode::<FlightEvent>(event)? {
        FlightEvent::FlightScheduled {
            number,
            origin,
            destination,
            departure_at,
            arrival_at,
            aircraft_id,
            layout,
            fares,
            ..
        } => {
            let origin_tz = time_zone(conn, origin.as_str()).await?;
            let destination_tz = time_zone(conn, destination.as_str()).await?;
            sqlx::query(
                "INSERT INTO rm_flights (flight_id, number, origin, destination, departure_at, arrival_at, origin_tz, \
                 destination_tz, departure_local, arrival_local, duration_min, status, aircraft_id, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled', $12, $13) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(number.as_str())
            .bind(origin.as_str())
            .bind(destination.as_str())
            .bind(departure_at)
            .bind(arrival_at)
            .bind(&origin_tz)
            .bind(&destination_tz)
            .bind(local(departure_at, &origin_tz))
            .bind(local(arrival_at, &destination_tz))
            .bind((arrival_at - departure_at).num_minutes() as i32)
            .bind(aircraft_id.as_uuid())
            .bind(event.sequence)
            .execute(&mut *conn)
            .await?;
            let seats = layout.seats();
            for fare in &fares {
                let capacity = seats.iter().filter(|s| s.cabin == fare.cabin).count() as i32;
                upsert_cabin(conn, id, fare, Some(capacity)).await?;
            }
            replace_classes(conn, id, &fares).await?;
            let (names, rows, letters, cabins, characteristics): (
                Vec<_>,
                Vec<_>,
                Vec<_>,
                Vec<_>,
                Vec<_>,
            ) = seats
                .iter()
                .map(|s| {
                    let chars: Vec<String> = s
                        .characteristics
                        .iter()
                        .map(|c| {
                            serde_json::to_value(c)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        })
                        .collect();
                    (
                        s.seat.to_string(),
                        i32::from(s.seat.row()),
                        s.seat.letter().to_string(),
                        s.cabin.to_string(),
                        chars.join(","),
                    )
                })
                .collect();
            sqlx::query(
                "INSERT INTO rm_seats (flight_id, seat, row_number, letter, cabin, characteristics) \
                 SELECT $1, s, r, l, c, string_to_array(ch, ',') FROM UNNEST($2::text[], $3::int[], $4::text[], $5::text[], $6::text[]) \
                 AS t(s, r, l, c, ch) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(names)
            .bind(rows)
            .bind(letters)
            .bind(cabins)
            .bind(characteristics)
            .execute(&mut *conn)
            .await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::FlightRescheduled {
            departure_at,
            arrival_at,
        } => {
            retime(conn, id, departure_at, arrival_at, None).await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::FlightDelayed {
            departure_at,
            arrival_at,
            ..
        } => {
            retime(conn, id, departure_at, arrival_at, Some("delayed")).await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::FaresChanged { fares } => {
            for fare in &fares {
                upsert_cabin(conn, id, fare, None).await?;
            }
            replace_classes(conn, id, &fares).await?;
            vec![Invalidation::Search]
        }
        FlightEvent::FlightCancelled { .. } => {
            sqlx::query("UPDATE rm_flights SET status = 'cancelled' WHERE flight_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::SeatsHeld {
            booking_id,
            seats,
            unseated,
            cabin,
            class,
            ..
        } => {
            let class = class.unwrap_or(ClassCode::default_for(cabin));
            let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
            sqlx::query(
                "INSERT INTO rm_class_holds (flight_id, booking_id, class, seats, unseated, cabin) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (flight_id, booking_id) DO UPDATE SET class = $3, seats = $4, unseated = $5, cabin = $6",
            )
            .bind(id)
            .bind(booking_id.as_uuid())
            .bind(class.to_string())
            .bind(count(seats.len() + unseated.len()))
            .bind(count(unseated.len()))
            .bind(cabin.as_str())
            .execute(&mut *conn)
            .await?;
            for seat in seats {
                pending.seats.insert(
                    (id, seat.to_string()),
                    ("held", Some(*booking_id.as_uuid())),
                );
            }
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::SeatsConfirmed { booking_id, seats } => {
            sqlx::query(
                "UPDATE rm_class_holds SET confirmed = true WHERE flight_id = $1 AND booking_id = $2",
            )
            .bind(id)
            .bind(booking_id.as_uuid())
            .execute(&mut *conn)
            .await?;
            for seat in seats {
                pending.seats.insert(
                    (id, seat.to_string()),
                    ("sold", Some(*booking_id.as_uuid())),
                );
            }
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::SeatAssigned {
            booking_id, seat, ..
        } => {
            let confirmed: Option<bool> = sqlx::query_scalar(
                "UPDATE rm_class_holds SET unseated = greatest(unseated - 1, 0) \
                 WHERE flight_id = $1 AND booking_id = $2 RETURNING confirmed",
            )
            .bind(id)
            .bind(booking_id.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
            let status = if confirmed == Some(true) {
                "sold"
            } else {
                "held"
            };
            pending.seats.insert(
                (id, seat.to_string()),
                (status, Some(*booking_id.as_uuid())),
            );
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::PassengersOffloaded {
            booking_id,
            seats,
            unseated,
        } => {
            let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
            sqlx::query(
                "UPDATE rm_class_holds SET seats = greatest(seats - $3, 0), unseated = greatest(unseated - $4, 0) \
                 WHERE flight_id = $1 AND booking_id = $2",
            )
            .bind(id)
            .bind(booking_id.as_uuid())
            .bind(count(seats.len() + unseated.len()))
            .bind(count(unseated.len()))
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "DELETE FROM rm_class_holds WHERE flight_id = $1 AND booking_id = $2 AND seats = 0",
            )
            .bind(id)
            .bind(booking_id.as_uuid())
            .execute(&mut *conn)
            .await?;
            for seat in seats {
                pending.seats.insert((id, seat.to_string()), ("free", None));
            }
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::OverbookingSet {
            cabin,
            extra_seats,
            percent,
        } => {
            sqlx::query(
                "UPDATE rm_flight_cabins SET overbooking = $3, overbooking_percent = $4 \
                 WHERE flight_id = $1 AND cabin = $2",
            )
            .bind(id)
            .bind(cabin.as_str())
            .bind(i32::try_from(extra_seats).unwrap_or(i32::MAX))
            .bind(percent.map(|p| i32::try_from(p).unwrap_or(i32::MAX)))
            .execute(&mut *conn)
            .await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::FlightClosed { closed_at, .. } => {
            sqlx::query("UPDATE rm_flights SET closed_at = $2 WHERE flight_id = $1")
                .bind(id)
                .bind(closed_at)
                .execute(&mut *conn)
                .await?;
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::SeatsReleased { seats, booking_id }
        | FlightEvent::HoldExpired { seats, booking_id } => {
            sqlx::query("DELETE FROM rm_class_holds WHERE flight_id = $1 AND booking_id = $2")
                .bind(id)
                .bind(booking_id.as_uuid())
                .execute(&mut *conn)
                .await?;
            for seat in seats {
                pending.seats.insert((id, seat.to_string()), ("free", None));
            }
            vec![Invalidation::Search, seat_map]
        }
        FlightEvent::SeatChanged {
            booking_id,
            from,
            to,
        } => {
            let from_key = (id, from.to_string());
            let status = match pending.seats.get(&from_key) {
                Some((status, _)) => *status,
                None => {
                    let stored: Option<String> = sqlx::query_scalar(
                        "SELECT status FROM rm_seats WHERE flight_id = $1 AND seat = $2",
                    )
                    .bind(id)
                    .bind(&from_key.1)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if stored.as_deref() == Some("sold") {
                        "sold"
                    } else {
                        "held"
                    }
                }
            };
            pending
                .seats
                .insert((id, to.to_string()), (status, Some(*booking_id.as_uuid())));
            pending.seats.insert(from_key, ("free", None));
            vec![seat_map]
        }
    };
    let touched = pending.flights.entry(id).or_default();
    touched.version = touched.version.max(event.sequence);
    touched.recount |= changes.contains(&Invalidation::Search);
    touched.seat_map |= changes
        .iter()
        .any(|c| matches!(c, Invalidation::SeatMap(..)));
    Ok(changes)
}

/// Places per cabin, recounted from the seat map and the places held without seats: sold + held + free
/// is the capacity plus the overbooking (a closed flight has none free).
const CABINS_RECOUNT: &str = "
WITH s AS (
    SELECT flight_id, cabin, count(*) FILTER (WHERE status = 'held') AS held,
           count(*) FILTER (WHERE status = 'sold') AS sold
    FROM rm_seats WHERE flight_id = ANY($1) GROUP BY flight_id, cabin
), u AS (
    SELECT h.flight_id, h.cabin, coalesce(sum(h.unseated) FILTER (WHERE NOT h.confirmed), 0) AS held,
           coalesce(sum(h.unseated) FILTER (WHERE h.confirmed), 0) AS sold
    FROM rm_class_holds h
    WHERE h.flight_id = ANY($1) AND h.unseated > 0 GROUP BY h.flight_id, h.cabin
)
UPDATE rm_flight_cabins c
SET seats_held = s.held + coalesce(u.held, 0), seats_sold = s.sold + coalesce(u.sold, 0),
    unassigned = coalesce(u.held + u.sold, 0),
    seats_free = CASE WHEN f.closed_at IS NOT NULL THEN 0
                      ELSE greatest(0, c.capacity + c.overbooking - s.held - s.sold - coalesce(u.held + u.sold, 0)) END
FROM s LEFT JOIN u ON u.flight_id = s.flight_id AND u.cabin = s.cabin JOIN rm_flights f ON f.flight_id = s.flight_id
WHERE c.flight_id = s.flight_id AND c.cabin = s.cabin";

/// Each class's seats held or sold and what it may still sell: its nested limit less what it and the
/// cheaper classes hold, bounded by every dearer class's and by the cabin's free seats (as the write
/// side's `nested_availability`).
const CLASSES_RECOUNT: &str = "
WITH sold AS (
    SELECT flight_id, class, sum(seats) AS sold FROM rm_class_holds WHERE flight_id = ANY($1) GROUP BY 1, 2
), k AS (
    SELECT c.flight_id, c.class, c.cabin, c.rank, c.nested_limit, coalesce(s.sold, 0) AS sold, cab.seats_free
    FROM rm_flight_classes c
    LEFT JOIN sold s ON s.flight_id = c.flight_id AND s.class = c.class
    JOIN rm_flight_cabins cab ON cab.flight_id = c.flight_id AND cab.cabin = c.cabin
    WHERE c.flight_id = ANY($1)
), n AS (
    SELECT *, nested_limit - sum(sold) OVER (PARTITION BY flight_id, cabin ORDER BY rank DESC
                                             ROWS UNBOUNDED PRECEDING) AS left_here
    FROM k
), a AS (
    SELECT flight_id, class, sold,
           greatest(0, least(seats_free, coalesce(min(left_here) OVER (PARTITION BY flight_id, cabin ORDER BY rank
                                                                      ROWS UNBOUNDED PRECEDING), seats_free)))
               AS available
    FROM n
)
UPDATE rm_flight_classes c SET sold = a.sold, available = a.available
FROM a WHERE c.flight_id = a.flight_id AND c.class = a.class";

/// A cabin's price is its cheapest class open for one seat (the cheapest class when none is).
const CABIN_PRICE: &str = "
UPDATE rm_flight_cabins cab SET price_minor = p.price_minor, refundable = p.refundable, fee_minor = p.fee_minor
FROM (SELECT DISTINCT ON (flight_id, cabin) flight_id, cabin, price_minor, refundable, fee_minor
      FROM rm_flight_classes WHERE flight_id = ANY($1)
      ORDER BY flight_id, cabin, (available > 0) DESC, price_minor) p
WHERE cab.flight_id = p.flight_id AND cab.cabin = p.cabin";

/// The flight's classes as `fares` sets them (ranked the dearest first in each cabin); what they
/// hold is recounted with the flight.
async fn replace_classes(
    conn: &mut PgConnection,
    id: Uuid,
    fares: &[Fare],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rm_flight_classes WHERE flight_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for fare in fares {
        let rank = fares
            .iter()
            .filter(|f| f.cabin == fare.cabin && f.price.amount_minor() > fare.price.amount_minor())
            .count();
        sqlx::query(
            "INSERT INTO rm_flight_classes (flight_id, cabin, class, rank, price_minor, currency, refundable, \
             fee_minor, nested_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(fare.cabin.as_str())
        .bind(fare.code().to_string())
        .bind(i32::try_from(rank).unwrap_or(i32::MAX))
        .bind(fare.price.amount_minor())
        .bind(fare.price.currency().as_str())
        .bind(fare.rules.refundable)
        .bind(fare.rules.cancellation_fee.amount_minor())
        .bind(fare.limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn upsert_cabin(
    conn: &mut PgConnection,
    id: Uuid,
    fare: &Fare,
    capacity: Option<i32>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rm_flight_cabins (flight_id, cabin, price_minor, currency, refundable, fee_minor, capacity, seats_free) \
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 0), COALESCE($7, 0)) \
         ON CONFLICT (flight_id, cabin) DO UPDATE SET price_minor = $3, currency = $4, refundable = $5, fee_minor = $6",
    )
    .bind(id)
    .bind(fare.cabin.as_str())
    .bind(fare.price.amount_minor())
    .bind(fare.price.currency().as_str())
    .bind(fare.rules.refundable)
    .bind(fare.rules.cancellation_fee.amount_minor())
    .bind(capacity)
    .execute(conn)
    .await?;
    Ok(())
}

async fn retime(
    conn: &mut PgConnection,
    id: Uuid,
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
    status: Option<&str>,
) -> Result<(), sqlx::Error> {
    let zones: Option<(String, String)> =
        sqlx::query_as("SELECT origin_tz, destination_tz FROM rm_flights WHERE flight_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let (origin_tz, destination_tz) = zones.unwrap_or_else(|| ("UTC".to_owned(), "UTC".to_owned()));
    sqlx::query(
        "UPDATE rm_flights SET departure_at = $2, arrival_at = $3, departure_local = $4, arrival_local = $5, \
         duration_min = $6, status = COALESCE($7, status) WHERE flight_id = $1",
    )
    .bind(id)
    .bind(departure_at)
    .bind(arrival_at)
    .bind(local(departure_at, &origin_tz))
    .bind(local(arrival_at, &destination_tz))
    .bind((arrival_at - departure_at).num_minutes() as i32)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what the batch deferred: every seat's final state, then counts, versions and seat-map versions
/// of every touched flight, a handful of statements in all.
pub(super) async fn finish(conn: &mut PgConnection, pending: Pending) -> Result<(), sqlx::Error> {
    if !pending.seats.is_empty() {
        let mut flights = Vec::with_capacity(pending.seats.len());
        let (mut seats, mut statuses, mut bookings) = (Vec::new(), Vec::new(), Vec::new());
        for ((flight, seat), (status, booking)) in pending.seats {
            flights.push(flight);
            seats.push(seat);
            statuses.push(status);
            bookings.push(booking);
        }
        sqlx::query(
            "UPDATE rm_seats s SET status = u.status, booking_id = u.booking \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[]) AS u(flight, seat, status, booking) \
             WHERE s.flight_id = u.flight AND s.seat = u.seat",
        )
        .bind(flights)
        .bind(seats)
        .bind(statuses)
        .bind(bookings)
        .execute(&mut *conn)
        .await?;
    }
    if pending.flights.is_empty() {
        return Ok(());
    }
    let recount: Vec<Uuid> = pending
        .flights
        .iter()
        .filter(|(_, t)| t.recount)
        .map(|(id, _)| *id)
        .collect();
    if !recount.is_empty() {
        sqlx::query(CABINS_RECOUNT)
            .bind(&recount)
            .execute(&mut *conn)
            .await?;
        sqlx::query(CLASSES_RECOUNT)
            .bind(&recount)
            .execute(&mut *conn)
            .await?;
        sqlx::query(CABIN_PRICE)
            .bind(&recount)
            .execute(&mut *conn)
            .await?;
    }
    let (ids, versions): (Vec<Uuid>, Vec<i64>) = pending
        .flights
        .iter()
        .map(|(id, t)| (*id, t.version))
        .unzip();
    sqlx::query(
        "UPDATE rm_flights f SET version = u.version, updated_at = now() \
         FROM UNNEST($1::uuid[], $2::bigint[]) AS u(id, version) WHERE f.flight_id = u.id",
    )
    .bind(&ids)
    .bind(&versions)
    .execute(&mut *conn)
    .await?;
    let (ids, versions): (Vec<Uuid>, Vec<i64>) = pending
        .flights
        .iter()
        .filter(|(_, t)| t.seat_map)
        .map(|(id, t)| (*id, t.version))
        .unzip();
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO rm_seat_map_versions (flight_id, version) SELECT * FROM UNNEST($1::uuid[], $2::bigint[]) \
             ON CONFLICT (flight_id) DO UPDATE SET version = EXCLUDED.version",
        )
        .bind(&ids)
        .bind(&versions)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

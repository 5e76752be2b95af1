//! The fair baseline: plain cqrs-es (`CqrsFramework` over postgres-es) doing the work our booking does
//! (a PNR, the hold on the flight, the booking placed, its hold deadline) behind the same HTTP stack
//! (axum with the shared layers) and driven by the same clients and requests as the hot flight. As the
//! framework comes: each step is its own commit, and a version conflict is tried again at once, with no
//! serialization per flight. The flight's fixed facts (cabins, fares, departure) are read once per
//! flight and kept, so the baseline reads no more than it must.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateContext, AggregateError, EventStore};
use domain::booking::{Booking, BookingCommand, PlaceBooking, SegmentSeats};
use domain::flight::{Fare, Flight, FlightCommand};
use domain::journey::{Itinerary, Segment};
use domain::values::{
    BookingId, Cabin, EmailAddress, FlightId, Passenger, Passengers, Pnr, SeatNumber, UserId,
};
use infra::auth::JwtVerifier;
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Options;
use crate::report::Row;
use crate::system::System;

/// What a flight's bookings need of it, and never changes during the run.
#[derive(Clone)]
struct FlightFacts {
    cabins: BTreeMap<SeatNumber, Cabin>,
    fares: BTreeMap<Cabin, Fare>,
    leg: Segment,
}

#[derive(Clone)]
struct Baseline {
    pool: PgPool,
    flights: Arc<PostgresCqrs<Flight>>,
    bookings: Arc<PostgresCqrs<Booking>>,
    store: Arc<PersistedEventStore<PostgresEventRepository, Flight>>,
    facts: Arc<tokio::sync::Mutex<HashMap<FlightId, FlightFacts>>>,
    verifier: JwtVerifier,
    retries: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Body {
    flight_id: FlightId,
    contact_email: String,
    passengers: Vec<Passenger>,
}

fn problem(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, why.to_string()).into_response()
}

impl Baseline {
    async fn facts(&self, flight: FlightId) -> Result<FlightFacts, Response> {
        if let Some(f) = self.facts.lock().await.get(&flight) {
            return Ok(f.clone());
        }
        let mut context = self
            .store
            .load_aggregate(&flight.to_string())
            .await
            .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, e))?;
        let state = context
            .aggregate()
            .state()
            .ok_or_else(|| problem(StatusCode::NOT_FOUND, "no such flight"))?;
        let facts = FlightFacts {
            cabins: state.seats.iter().map(|(n, s)| (*n, s.cabin)).collect(),
            // The baseline's flights sell one class per cabin.
            fares: state
                .fares
                .iter()
                .filter_map(|(cabin, classes)| Some((*cabin, *classes.last()?)))
                .collect(),
            leg: Segment {
                flight_id: flight,
                origin: state.origin,
                destination: state.destination,
                departure_at: state.departure_at,
                arrival_at: state.arrival_at,
            },
        };
        self.facts.lock().await.insert(flight, facts.clone());
        Ok(facts)
    }

    async fn reserve_pnr(&self, booking: BookingId) -> Result<Pnr, Response> {
        loop {
            let pnr = Pnr::from_random_bytes(rand::random());
            match sqlx::query("INSERT INTO pnr_registry (pnr, booking_id) VALUES ($1, $2)")
                .bind(pnr.as_str())
                .bind(booking.as_uuid())
                .execute(&self.pool)
                .await
            {
                Ok(_) => return Ok(pnr),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                Err(e) => return Err(problem(StatusCode::SERVICE_UNAVAILABLE, e)),
            }
        }
    }
}

async fn place(
    State(b): State<Baseline>,
    headers: HeaderMap,
    Json(body): Json<Body>,
) -> Result<Response, Response> {
    let token = infra::auth::bearer_token(&headers)
        .ok_or_else(|| problem(StatusCode::UNAUTHORIZED, "no token"))?;
    let claims = b
        .verifier
        .verify(token)
        .map_err(|e| problem(StatusCode::UNAUTHORIZED, e))?;
    let contact = EmailAddress::parse(&body.contact_email)
        .map_err(|e| problem(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let passengers = Passengers::try_new(body.passengers)
        .map_err(|e| problem(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let occupants = passengers.occupants();
    let facts = b.facts(body.flight_id).await?;
    let cabin = occupants
        .first()
        .and_then(|(seat, _)| facts.cabins.get(seat))
        .copied()
        .ok_or_else(|| problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown seat"))?;
    let fare = *facts
        .fares
        .get(&cabin)
        .ok_or_else(|| problem(StatusCode::UNPROCESSABLE_ENTITY, "no fare"))?;
    let now = Utc::now();
    let hold_until = now + chrono::Duration::minutes(60);
    let booking_id = BookingId::from_uuid(Uuid::now_v7());
    let pnr = b.reserve_pnr(booking_id).await?;
    let hold = FlightCommand::HoldSeats {
        booking_id,
        seats: occupants.clone(),
        unseated: vec![],
        cabin: None,
        class: None,
        hold_until,
        now,
    };
    loop {
        match b
            .flights
            .execute(&body.flight_id.to_string(), hold.clone())
            .await
        {
            Ok(()) => break,
            Err(AggregateError::AggregateConflict) => {
                b.retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(AggregateError::UserError(e)) => return Err(problem(StatusCode::CONFLICT, e)),
            Err(e) => return Err(problem(StatusCode::SERVICE_UNAVAILABLE, e)),
        }
    }
    let placed = BookingCommand::Place(Box::new(PlaceBooking {
        id: booking_id,
        pnr,
        customer_id: UserId::from_uuid(claims.sub),
        itinerary: Itinerary::single(facts.leg.clone()),
        seats: vec![SegmentSeats { fare, passengers }],
        contact_email: contact,
        hold_until,
        now,
    }));
    b.bookings
        .execute(&booking_id.to_string(), placed)
        .await
        .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, e))?;
    sqlx::query(
        "INSERT INTO hold_deadlines (booking_id, flight_id, hold_until, customer_id, seats) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(booking_id.as_uuid())
    .bind(body.flight_id.as_uuid())
    .bind(hold_until)
    .bind(claims.sub)
    .bind(occupants.len() as i32)
    .execute(&b.pool)
    .await
    .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"booking_id": booking_id, "pnr": pnr.as_str(), "status": "held"})),
    )
        .into_response())
}

/// The baseline's hot flight: the same clients and requests as [`crate::scenarios::hot_flight`],
/// against the baseline server. Returns the row and the flights it booked.
pub async fn hot_flight(system: &System, options: &Options) -> anyhow::Result<(Row, Vec<Uuid>)> {
    let baseline = Baseline {
        pool: system.pool.clone(),
        flights: Arc::new(postgres_es::postgres_cqrs(system.pool.clone(), vec![], ())),
        bookings: Arc::new(postgres_es::postgres_cqrs(system.pool.clone(), vec![], ())),
        store: Arc::new(PersistedEventStore::new_event_store(
            PostgresEventRepository::new(system.pool.clone()),
        )),
        facts: Arc::default(),
        verifier: system.verifier()?,
        retries: Arc::default(),
    };
    let retries = baseline.retries.clone();
    let app = Router::new()
        .route("/api/v1/bookings", post(place))
        .with_state(baseline);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let http = crate::system::http();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let router = infra::http::serve_stack(app, &http);
        infra::serve::serve(listener, router, &http, async move {
            let _ = stopped.await;
        })
        .await
    });
    let seats = system.seats().len();
    let (load, flights) = crate::scenarios::fill_flights(system, options, &base, 6).await?;
    let _ = stop.send(());
    let _ = server.await;
    let scenario = format!(
        "hot flight, fair cqrs-es baseline over HTTP ({} flights x {seats} seats)",
        options.hot_flights
    );
    let note = format!(
        "CqrsFramework + postgres-es: PNR, hold, place, deadline, each its own commit; {} conflict retries",
        retries.load(Ordering::Relaxed)
    );
    Ok((load.into_row(scenario, options.clients, note), flights))
}

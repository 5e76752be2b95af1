//! The aggregates a decision can touch, their in-memory cache, and loading them with postgres-es.

use std::collections::HashMap;
use std::sync::Mutex;

use cqrs_es::Aggregate;
use cqrs_es::persist::PersistedEventRepository;
use domain::aircraft::Aircraft;
use domain::airport::Airport;
use domain::booking::Booking;
use domain::flight::Flight;
use domain::values::FlightId;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

use crate::error::ApiError;

/// An aggregate with the version (number of events) it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<A> {
    /// The state.
    pub aggregate: A,
    /// Events applied; the ETag.
    pub version: u64,
}

impl<A: Default> Versioned<A> {
    fn empty() -> Self {
        Self {
            aggregate: A::default(),
            version: 0,
        }
    }
}

/// An aggregate type the executor can load, decide on and append to.
///
/// Decisions call the domain's pure `decide` and `apply` (what its cqrs-es `handle` does through an
/// `EventSink`), so a batch is decided synchronously on the runner's task.
pub trait Stream: Aggregate<Services = ()> + Clone + Send + Sync + 'static
where
    ApiError: From<Self::Error>,
{
    /// The decision, without changing state.
    ///
    /// # Errors
    /// The aggregate's own rule errors.
    fn decide_command(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
    /// This type's streams in a set.
    fn slots(set: &mut Streams) -> &mut HashMap<String, Versioned<Self>>;
    /// This type's streams in a set, read-only.
    fn slots_ref(set: &Streams) -> &HashMap<String, Versioned<Self>>;
    /// This type's store.
    fn store(stores: &Stores) -> &Store<Self>;
}

/// Loaded streams of every type, by id.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    flights: HashMap<String, Versioned<Flight>>,
    bookings: HashMap<String, Versioned<Booking>>,
    airports: HashMap<String, Versioned<Airport>>,
    aircraft: HashMap<String, Versioned<Aircraft>>,
}

macro_rules! stream {
    ($aggregate:ty, $field:ident) => {
        impl Stream for $aggregate {
            fn decide_command(
                &self,
                command: Self::Command,
            ) -> Result<Vec<Self::Event>, Self::Error> {
                self.decide(command)
            }
            fn slots(set: &mut Streams) -> &mut HashMap<String, Versioned<Self>> {
                &mut set.$field
            }
            fn slots_ref(set: &Streams) -> &HashMap<String, Versioned<Self>> {
                &set.$field
            }
            fn store(stores: &Stores) -> &Store<Self> {
                &stores.$field
            }
        }
    };
}

stream!(Flight, flights);
stream!(Booking, bookings);
stream!(Airport, airports);
stream!(Aircraft, aircraft);

/// Which stream: the aggregate type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// `Aggregate::TYPE`.
    pub kind: &'static str,
    /// The aggregate id.
    pub id: String,
}

impl StreamKey {
    /// The key of `A` with `id`.
    pub fn of<A: Aggregate>(id: &str) -> Self {
        Self {
            kind: A::TYPE,
            id: id.to_owned(),
        }
    }

    /// The lane of every decision about `flight`'s seats: the flight's own stream.
    pub fn seats_of(flight: FlightId) -> Self {
        Self::of::<Flight>(&flight.to_string())
    }
}

/// The lanes a decision runs on: every stream whose lane must not commit while it decides (the flights
/// of a journey), sorted, none twice. It queues on the first and holds each lane's gate, in this order,
/// while it decides and commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    keys: Vec<StreamKey>,
}

impl Lane {
    /// The lanes of every flight in `flights` (at least one).
    pub fn seats_of_all(flights: &[FlightId]) -> Self {
        let mut keys: Vec<StreamKey> = flights.iter().map(|f| StreamKey::seats_of(*f)).collect();
        keys.sort();
        keys.dedup();
        Self { keys }
    }

    /// The lane it queues on, if any.
    pub(super) fn first(&self) -> Option<&StreamKey> {
        self.keys.first()
    }

    /// Every lane, in order.
    pub(super) fn keys(&self) -> &[StreamKey] {
        &self.keys
    }
}

impl From<StreamKey> for Lane {
    fn from(key: StreamKey) -> Self {
        Self { keys: vec![key] }
    }
}

/// Aggregates kept in memory per store; past this many, one is dropped to make room.
const CACHE_CAPACITY: usize = 20_000;

/// One aggregate type's loader: postgres-es reads the events, and the aggregates seen are kept in memory
/// with their versions so that a load reads only the events appended since (by any process). The
/// `(type, id, sequence)` key still guards every decision made on them.
pub struct Store<A> {
    repo: PostgresEventRepository,
    cache: Mutex<HashMap<String, Versioned<A>>>,
}

impl<A: Stream> Store<A>
where
    ApiError: From<A::Error>,
{
    fn new(pool: PgPool) -> Self {
        Self {
            repo: PostgresEventRepository::new(pool),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The aggregate as of now (`Default` with version 0 when it has no events).
    ///
    /// # Errors
    /// Store failures (503 when Postgres is unreachable).
    pub async fn load(&self, id: &str) -> Result<Versioned<A>, ApiError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(id).cloned());
        let mut state = cached.unwrap_or_else(Versioned::empty);
        let newer = self
            .repo
            .get_last_events::<A>(id, state.version as usize)
            .await
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("loading {} {id}: {e}", A::TYPE)))?;
        if newer.is_empty() {
            return Ok(state);
        }
        for serialized in newer {
            let event: A::Event = serde_json::from_value(serialized.payload).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("{} {id}: unreadable event: {e}", A::TYPE))
            })?;
            state.aggregate.apply(event);
            state.version = serialized.sequence as u64;
        }
        self.remember(id, state.clone());
        Ok(state)
    }

    /// Keeps `state` as the newest known state of `id` (never replacing a newer one).
    pub fn remember(&self, id: &str, state: Versioned<A>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache
            .get(id)
            .is_some_and(|known| known.version >= state.version)
        {
            return;
        }
        if cache.len() >= CACHE_CAPACITY
            && !cache.contains_key(id)
            && let Some(evict) = cache.keys().next().cloned()
        {
            cache.remove(&evict);
        }
        cache.insert(id.to_owned(), state);
    }
}

/// A store per aggregate type.
pub struct Stores {
    flights: Store<Flight>,
    bookings: Store<Booking>,
    airports: Store<Airport>,
    aircraft: Store<Aircraft>,
}

impl Stores {
    /// Stores on `pool`'s `events` table.
    pub fn new(pool: &PgPool) -> Self {
        Self {
            flights: Store::new(pool.clone()),
            bookings: Store::new(pool.clone()),
            airports: Store::new(pool.clone()),
            aircraft: Store::new(pool.clone()),
        }
    }

    /// Loads `key` into `set`.
    pub(super) async fn load_into(&self, key: &StreamKey) -> Result<Loaded, ApiError> {
        Ok(match key.kind {
            Flight::TYPE => Loaded::Flight(self.flights.load(&key.id).await?),
            Booking::TYPE => Loaded::Booking(self.bookings.load(&key.id).await?),
            Airport::TYPE => Loaded::Airport(self.airports.load(&key.id).await?),
            Aircraft::TYPE => Loaded::Aircraft(self.aircraft.load(&key.id).await?),
            other => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "no store for aggregate type {other}"
                )));
            }
        })
    }

    /// Remembers every stream of `set` whose version is newer than in the cache.
    pub(super) fn remember_all(&self, set: &Streams) {
        for (id, s) in &set.flights {
            self.flights.remember(id, s.clone());
        }
        for (id, s) in &set.bookings {
            self.bookings.remember(id, s.clone());
        }
        for (id, s) in &set.airports {
            self.airports.remember(id, s.clone());
        }
        for (id, s) in &set.aircraft {
            self.aircraft.remember(id, s.clone());
        }
    }
}

/// A stream just loaded, of whichever type.
pub(super) enum Loaded {
    Flight(Versioned<Flight>),
    Booking(Versioned<Booking>),
    Airport(Versioned<Airport>),
    Aircraft(Versioned<Aircraft>),
}

impl Streams {
    pub(super) fn contains(&self, key: &StreamKey) -> bool {
        match key.kind {
            Flight::TYPE => self.flights.contains_key(&key.id),
            Booking::TYPE => self.bookings.contains_key(&key.id),
            Airport::TYPE => self.airports.contains_key(&key.id),
            Aircraft::TYPE => self.aircraft.contains_key(&key.id),
            _ => false,
        }
    }

    pub(super) fn insert(&mut self, id: String, loaded: Loaded) {
        match loaded {
            Loaded::Flight(s) => self.flights.insert(id, s).map(drop),
            Loaded::Booking(s) => self.bookings.insert(id, s).map(drop),
            Loaded::Airport(s) => self.airports.insert(id, s).map(drop),
            Loaded::Aircraft(s) => self.aircraft.insert(id, s).map(drop),
        };
    }
}

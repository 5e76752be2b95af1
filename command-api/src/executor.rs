//! Runs commands against one aggregate type on the postgres-es event store.
//!
//! Per command: take this process's lock for the aggregate (so local writers queue instead of fighting
//! over versions), load it, check `If-Match`, let the aggregate decide, append with the next sequences.
//! A writer in another process that appended first makes the append fail on the `(type, id, sequence)`
//! key; then the command is decided again on the new state, a bounded number of times with jitter. A
//! command that is no longer valid on the new state fails with its domain error (a seat taken meanwhile
//! is a 409), so nothing is ever double-booked. Snapshots are off: postgres-es 0.5 corrupts them.
//!
//! Instead, each runner keeps the aggregates it has seen in memory with their versions, and reads only
//! the events appended since (by any process). A cached state is never trusted to decide alone: the
//! append still names the next sequence, so a state that missed another writer's events conflicts and is
//! brought up to date before deciding again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventRepository, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use infra::auth::Principal;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

/// An aggregate with the version (number of events) it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<A> {
    /// The state.
    pub aggregate: A,
    /// Events applied; the ETag.
    pub version: u64,
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused: a business rule.
    #[error(transparent)]
    Rejected(E),
    /// `If-Match` named another version.
    #[error("the resource is at version {current}")]
    PreconditionFailed {
        /// The version it is at.
        current: u64,
    },
    /// Other writers kept winning the race for every attempt.
    #[error("too many concurrent changes to this resource")]
    Contended,
    /// The store failed.
    #[error("event store: {0}")]
    Store(AggregateError<E>),
}

/// Who issued a command and why, stored as the events' metadata.
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    /// The caller, if a person.
    pub principal: Option<Principal>,
    /// The request id that started this chain of commands.
    pub correlation_id: String,
    /// What caused this command (an event id, for process steps).
    pub causation_id: Option<String>,
    /// The request's Idempotency-Key.
    pub idempotency_key: Option<String>,
}

impl CommandMeta {
    fn to_map(&self, command: &str) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("command".to_owned(), command.to_owned()),
            ("correlation_id".to_owned(), self.correlation_id.clone()),
        ]);
        if let Some(p) = self.principal {
            map.insert("user_id".to_owned(), p.user_id.to_string());
            map.insert("role".to_owned(), p.role.as_str().to_owned());
        } else {
            map.insert("role".to_owned(), "system".to_owned());
        }
        if let Some(c) = &self.causation_id {
            map.insert("causation_id".to_owned(), c.clone());
        }
        if let Some(k) = &self.idempotency_key {
            map.insert("idempotency_key".to_owned(), k.clone());
        }
        map
    }
}

/// Aggregates kept in memory per runner; past this many, one is dropped to make room.
const CACHE_CAPACITY: usize = 20_000;

/// One aggregate type's command runner.
pub struct Aggregates<A: Aggregate> {
    store: PersistedEventStore<PostgresEventRepository, A>,
    repo: PostgresEventRepository,
    cache: Mutex<HashMap<String, Versioned<A>>>,
    locks: KeyedLocks,
    max_attempts: u32,
}

impl<A> Aggregates<A>
where
    A: Aggregate<Services = ()> + Clone + Send + Sync,
    A::Command: Clone + Send,
    A::Error: Send,
{
    /// A runner on `pool`'s `events` table.
    pub fn new(pool: PgPool, max_attempts: u32) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone())),
            repo: PostgresEventRepository::new(pool),
            cache: Mutex::new(HashMap::new()),
            locks: KeyedLocks::default(),
            max_attempts: max_attempts.max(1),
        }
    }

    fn cached(&self, id: &str) -> Option<Versioned<A>> {
        self.cache.lock().ok()?.get(id).cloned()
    }

    fn remember(&self, id: &str, state: Versioned<A>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY
                && !cache.contains_key(id)
                && let Some(evict) = cache.keys().next().cloned()
            {
                cache.remove(&evict);
            }
            cache.insert(id.to_owned(), state);
        }
    }

    /// The cached state brought up to date with the events appended since it was cached.
    async fn fresh(&self, id: &str) -> Result<Versioned<A>, AggregateError<A::Error>> {
        let mut state = self.cached(id).unwrap_or_else(|| Versioned {
            aggregate: A::default(),
            version: 0,
        });
        let newer = self
            .repo
            .get_last_events::<A>(id, state.version as usize)
            .await
            .map_err(|e| AggregateError::DatabaseConnectionError(Box::new(e)))?;
        if newer.is_empty() {
            return Ok(state);
        }
        for serialized in newer {
            let event: A::Event = serde_json::from_value(serialized.payload)
                .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?;
            state.aggregate.apply(event);
            state.version = serialized.sequence as u64;
        }
        self.remember(id, state.clone());
        Ok(state)
    }

    /// The aggregate as of now (`Default` with version 0 when it has no events).
    ///
    /// # Errors
    /// Store failures.
    pub async fn load(&self, id: &str) -> Result<Versioned<A>, AggregateError<A::Error>> {
        self.fresh(id).await
    }

    /// Decides and appends `command`; returns the state after it. A command that decides no events
    /// appends nothing and returns the current state.
    ///
    /// # Errors
    /// See [`CommandError`].
    pub async fn execute(
        &self,
        id: &str,
        expected_version: Option<u64>,
        name: &str,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Versioned<A>, CommandError<A::Error>> {
        let _local = self.locks.lock(id).await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let state = self.fresh(id).await.map_err(CommandError::Store)?;
            let current = state.version;
            let mut context = EventStoreAggregateContext {
                aggregate_id: id.to_owned(),
                aggregate: state.aggregate,
                current_sequence: current as usize,
                current_snapshot: None,
            };
            if let Some(expected) = expected_version
                && expected != current
            {
                return Err(CommandError::PreconditionFailed { current });
            }
            let sink = EventSink::default();
            context
                .aggregate
                .handle(command.clone(), &(), &sink)
                .await
                .map_err(CommandError::Rejected)?;
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Versioned {
                    version: current,
                    aggregate: context.aggregate,
                });
            }
            let after = Versioned {
                version: current + events.len() as u64,
                aggregate: context.aggregate.clone(),
            };
            match self.store.commit(events, context, meta.to_map(name)).await {
                Ok(_) => {
                    self.remember(id, after.clone());
                    return Ok(after);
                }
                Err(AggregateError::AggregateConflict) if attempt < self.max_attempts => {
                    metrics::counter!("command_conflicts_total", "aggregate" => A::TYPE)
                        .increment(1);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(AggregateError::AggregateConflict) => return Err(CommandError::Contended),
                Err(e) => return Err(CommandError::Store(e)),
            }
        }
    }
}

/// Up to 2^attempt ms, at most 100 ms, with full jitter so racing processes spread out.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = (1u64 << attempt.min(7)).min(100);
    Duration::from_micros(rand::random_range(0..=cap_ms * 1000))
}

/// One async mutex per key, created on demand and removed when nobody holds or waits for it.
#[derive(Debug, Default)]
struct KeyedLocks {
    inner: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct KeyedGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    async fn lock(&self, key: &str) -> KeyedGuard<'_> {
        let mutex = {
            let mut map = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(key.to_owned()).or_default().clone()
        };
        let guard = mutex.clone().lock_owned().await;
        KeyedGuard {
            locks: self,
            key: key.to_owned(),
            mutex,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self
            .locks
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Held by the map and by us only: nobody waits, so the entry can go.
        if Arc::strong_count(&self.mutex) == 2 {
            map.remove(&self.key);
        }
    }
}

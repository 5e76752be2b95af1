//! Runs commands against one aggregate type on the postgres-es event store.
//!
//! Per aggregate, commands are serialized inside this process and group-committed: callers that queue
//! while another is writing are decided together by the next caller to take the lock, one after another
//! on the in-memory state, and appended in one transaction (postgres-es's insert), each event keeping its
//! own command's metadata. The append names the next sequences, so a writer in another process that
//! appended first makes it fail on the `(type, id, sequence)` key; the batch is then decided again on the
//! new state, a bounded number of times with jitter. A command that is no longer valid on the new state
//! fails with its domain error (a seat taken meanwhile is a 409), so nothing is ever double-booked.
//!
//! Snapshots are off (postgres-es 0.5 corrupts them). Instead each runner keeps the aggregates it has
//! seen in memory with their versions and reads only the events appended since (by any process); the
//! sequence key still guards every decision made on them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use infra::auth::Principal;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use tokio::sync::oneshot;

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
    repo: PostgresEventRepository,
    cache: Mutex<HashMap<String, Versioned<A>>>,
    mailboxes: Mutex<HashMap<String, Vec<Pending<A>>>>,
    new_ids: Mutex<HashSet<String>>,
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
            repo: PostgresEventRepository::new(pool),
            cache: Mutex::new(HashMap::new()),
            mailboxes: Mutex::new(HashMap::new()),
            new_ids: Mutex::new(HashSet::new()),
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

    /// Declares that `id` was just made and has no events, so its next command skips reading them. A wrong
    /// declaration costs a conflict and a retry, never a wrong decision.
    pub fn expect_new(&self, id: &str) {
        if let Ok(mut ids) = self.new_ids.lock() {
            ids.insert(id.to_owned());
        }
    }

    /// The cached state brought up to date with the events appended since it was cached.
    async fn fresh(&self, id: &str) -> Result<Versioned<A>, AggregateError<A::Error>> {
        let mut state = self.cached(id).unwrap_or_else(|| Versioned {
            aggregate: A::default(),
            version: 0,
        });
        if self.new_ids.lock().is_ok_and(|mut ids| ids.remove(id)) {
            return Ok(state);
        }
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
    /// Commands for one aggregate that arrive while another is being written queue up and are decided
    /// together by whichever caller takes the lock next (group commit): one read of newer events, each
    /// command decided in turn on the state the previous ones left, and one append for all of them, each
    /// event keeping its own command's metadata. A command the aggregate rejects fails alone; a batch that
    /// loses the race to another process is decided again from the fresh state.
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
        let (reply, mut answer) = oneshot::channel();
        let pending = Pending {
            expected: expected_version,
            command,
            metadata: meta.to_map(name),
            reply,
        };
        if let Ok(mut mailboxes) = self.mailboxes.lock() {
            mailboxes.entry(id.to_owned()).or_default().push(pending);
        }
        let _local = self.locks.lock(id).await;
        // A caller ahead of us may have decided our command with its own.
        if let Ok(result) = answer.try_recv() {
            return result;
        }
        let batch = self
            .mailboxes
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id))
            .unwrap_or_default();
        self.run_batch(id, batch).await;
        answer
            .await
            .unwrap_or_else(|_| Err(unexpected("the command was dropped")))
    }

    async fn run_batch(&self, id: &str, batch: Vec<Pending<A>>) {
        if batch.len() > 1 {
            metrics::histogram!("command_batch_size", "aggregate" => A::TYPE)
                .record(batch.len() as f64);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let state = match self.fresh(id).await {
                Ok(state) => state,
                Err(e) => {
                    return reply_all(batch, |_| {
                        Err(store_failure(&e.to_string(), is_connection(&e)))
                    });
                }
            };
            let (outcomes, events, after) = decide_all(id, state, &batch).await;
            if events.is_empty() {
                return reply_each(batch, outcomes);
            }
            match self.repo.persist::<A>(&events, None).await {
                Ok(()) => {
                    self.remember(id, after);
                    return reply_each(batch, outcomes);
                }
                Err(PersistenceError::OptimisticLockError) if attempt < self.max_attempts => {
                    metrics::counter!("command_conflicts_total", "aggregate" => A::TYPE)
                        .increment(1);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(PersistenceError::OptimisticLockError) => {
                    return reply_all(batch, |_| Err(CommandError::Contended));
                }
                Err(e) => {
                    let connection = matches!(e, PersistenceError::ConnectionError(_));
                    return reply_all(batch, |_| Err(store_failure(&e.to_string(), connection)));
                }
            }
        }
    }
}

/// One queued command and where its answer goes.
struct Pending<A: Aggregate> {
    expected: Option<u64>,
    command: A::Command,
    metadata: HashMap<String, String>,
    reply: oneshot::Sender<Result<Versioned<A>, CommandError<A::Error>>>,
}

type Outcome<A> = Result<Versioned<A>, CommandError<<A as Aggregate>::Error>>;

/// Decides every command of a batch in turn from `state`: the outcomes, the events to append, and the
/// state after all of them.
async fn decide_all<A>(
    id: &str,
    state: Versioned<A>,
    batch: &[Pending<A>],
) -> (Vec<Outcome<A>>, Vec<SerializedEvent>, Versioned<A>)
where
    A: Aggregate<Services = ()> + Clone + Send + Sync,
    A::Command: Clone + Send,
{
    let (mut working, mut version) = (state.aggregate, state.version);
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    for pending in batch {
        if let Some(expected) = pending.expected
            && expected != version
        {
            outcomes.push(Err(CommandError::PreconditionFailed { current: version }));
            continue;
        }
        // `handle` may have applied events before failing; a rejected command leaves no trace.
        let before = working.clone();
        let sink = EventSink::default();
        match working.handle(pending.command.clone(), &(), &sink).await {
            Err(e) => {
                working = before;
                outcomes.push(Err(CommandError::Rejected(e)));
            }
            Ok(()) => {
                let metadata = serde_json::to_value(&pending.metadata).unwrap_or_default();
                for event in sink.collect().await {
                    version += 1;
                    events.push(SerializedEvent {
                        aggregate_id: id.to_owned(),
                        sequence: version as usize,
                        aggregate_type: A::TYPE.to_owned(),
                        event_type: event.event_type(),
                        event_version: event.event_version(),
                        payload: serde_json::to_value(&event).unwrap_or_default(),
                        metadata: metadata.clone(),
                    });
                }
                outcomes.push(Ok(Versioned {
                    aggregate: working.clone(),
                    version,
                }));
            }
        }
    }
    (
        outcomes,
        events,
        Versioned {
            aggregate: working,
            version,
        },
    )
}

fn reply_each<A: Aggregate>(batch: Vec<Pending<A>>, outcomes: Vec<Outcome<A>>) {
    for (pending, outcome) in batch.into_iter().zip(outcomes) {
        let _ = pending.reply.send(outcome);
    }
}

fn reply_all<A: Aggregate>(batch: Vec<Pending<A>>, outcome: impl Fn(usize) -> Outcome<A>) {
    for (i, pending) in batch.into_iter().enumerate() {
        let _ = pending.reply.send(outcome(i));
    }
}

fn is_connection<E: std::error::Error>(e: &AggregateError<E>) -> bool {
    matches!(e, AggregateError::DatabaseConnectionError(_))
}

fn store_failure<E: std::error::Error>(message: &str, connection: bool) -> CommandError<E> {
    let cause: Box<dyn std::error::Error + Send + Sync> =
        Box::new(std::io::Error::other(message.to_owned()));
    CommandError::Store(if connection {
        AggregateError::DatabaseConnectionError(cause)
    } else {
        AggregateError::UnexpectedError(cause)
    })
}

fn unexpected<E: std::error::Error>(message: &str) -> CommandError<E> {
    store_failure(message, false)
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

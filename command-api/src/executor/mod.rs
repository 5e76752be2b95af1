//! Runs decisions: each one reads any number of aggregates, decides their events with the domain's rules,
//! and commits them together with the rows they need (booking reference, hold deadline, payments ledger,
//! idempotency outcome) in one Postgres transaction: a multi-stream append, each stream still guarded by
//! its own `(aggregate_type, aggregate_id, sequence)` key.
//!
//! Decisions queue on a lane (the flight they are about, for anything that touches seats; the aggregate
//! itself otherwise). A lane's queue is drained by one task the executor owns: everything queued while a
//! batch commits is decided together, one decision after another on the state the previous ones left,
//! and committed in one statement (group commit). A caller that goes away changes nothing: its decision
//! still commits, and so does its idempotency outcome, so a retry with the same key gets the answer.
//! A batch that loses a race to another process (a sequence taken) is decided again on fresh state, a
//! bounded number of times with jitter; a decision that is no longer valid then fails with its rule (a
//! seat taken meanwhile is a 409).
//!
//! A decision over several flights (a journey) names all their lanes: it queues on the first in sort
//! order, and its batch takes the gate of every lane its decisions name, one after another in that
//! order, before it decides, holding them until it has committed; every single-lane batch takes its
//! own lane's gate the same way. Gates are only ever taken in one global order, so no two batches can
//! each hold one the other waits for: no deadlock. Gates are fair (first come, first served), so a
//! journey waits behind at most the batches already queued at each of its flights, never behind an
//! endless stream of later ones: no starvation. And in this process no lane commits on a flight while a
//! journey over it decides, so the journey does not lose its race to the single-flight lanes. Another
//! process is kept out only by the sequence keys: there a journey retries like any batch.
//!
//! The queues are bounded, per lane and in all: a decision that finds them full is refused at once
//! ([`ApiError::Overloaded`], 503 with `Retry-After`), having changed nothing. A decision once queued marks
//! its request [`infra::http::Committing`], and the request then waits for its outcome rather than time
//! out: its answer is always the truth.
//!
//! Snapshots are off (postgres-es 0.5 corrupts them); see [`stream::Store`] for the cache instead.
//!
//! Past 400 lines on purpose: the lanes, their drain loop and the group commit share one queue and its
//! invariants; jobs, streams, the working set and the commit itself live beside it.

mod commit;
mod job;
mod meta;
mod stream;
mod working;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::Response;
use futures::FutureExt;
use infra::backoff::Backoff;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tracing::Instrument;

pub use meta::CommandMeta;
pub use stream::{Lane, Stream, StreamKey, Streams, Versioned};
pub use working::{PaymentRow, WorkingSet};

use crate::error::ApiError;
use crate::outcome::StoredResponse;
use commit::CommitError;
use job::{Job, Queued, Render, decide_all, fail_point_after_commit, fail_point_before_commit};
use job::{finish, finish_all, outcomes};
use stream::Stores;

/// A failpoint (with the `failpoints` feature): `return` fails the step as if the process died there;
/// `return(abort)` ends the process on the spot, for crash tests with a child process.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |arg: Option<String>| {
            if arg.as_deref() == Some("abort") {
                std::process::abort();
            }
            Err($crate::error::ApiError::Internal(anyhow::anyhow!(concat!(
                "failpoint ",
                $name
            ))))
        })
    };
}

/// Decisions queued per lane; a lane present in the map has a task draining it.
type Lanes = Mutex<HashMap<StreamKey, Vec<Box<dyn Queued>>>>;

/// Each lane's gate, held by the batch deciding on its streams (see the module docs). A gate nobody
/// holds or waits for is dropped.
type Gates = Mutex<HashMap<StreamKey, Arc<tokio::sync::Mutex<()>>>>;

/// The most decisions one batch takes; the rest wait for the next.
const MAX_BATCH: usize = 256;
/// Rounds of loading the streams a batch turned out to need.
const MAX_ROUNDS: usize = 6;
/// Streams loaded at once by one batch.
const LOAD_CONCURRENCY: usize = 4;

/// Seats one customer may hold unpaid at once unless configured otherwise.
pub const DEFAULT_MAX_HELD_SEATS: i64 = 20;
/// Seats one client address may hold unpaid at once, across accounts, unless configured otherwise.
pub const DEFAULT_MAX_HELD_SEATS_PER_CLIENT: i64 = 60;
/// Seats a new account may hold unpaid on one flight at once unless configured otherwise.
pub const DEFAULT_MAX_HELD_SEATS_PER_FLIGHT_NEW: i64 = 9;

/// The caps on seats held unpaid at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldCaps {
    /// Per customer, across flights.
    pub per_customer: i64,
    /// Per client address, across accounts and flights.
    pub per_client: i64,
    /// Per new account and flight.
    pub per_flight_new: i64,
}

/// Decides and commits; see the module docs.
pub struct Executor {
    pool: PgPool,
    stores: Stores,
    lanes: Lanes,
    gates: Gates,
    max_attempts: u32,
    caps: HoldCaps,
    /// Decisions waiting (queued, not yet taken by a batch), and the bounds on them.
    waiting: AtomicUsize,
    max_per_lane: usize,
    max_total: usize,
}

impl Executor {
    /// An executor on `pool`'s event store.
    pub fn new(pool: PgPool, max_attempts: u32) -> Self {
        Self {
            stores: Stores::new(&pool),
            pool,
            lanes: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            max_attempts: max_attempts.max(1),
            caps: HoldCaps {
                per_customer: DEFAULT_MAX_HELD_SEATS,
                per_client: DEFAULT_MAX_HELD_SEATS_PER_CLIENT,
                per_flight_new: DEFAULT_MAX_HELD_SEATS_PER_FLIGHT_NEW,
            },
            waiting: AtomicUsize::new(0),
            max_per_lane: usize::MAX,
            max_total: usize::MAX,
        }
    }

    /// Bounds the decisions waiting per lane and in all; past them a decision is refused at once with
    /// [`ApiError::Overloaded`] (unbounded unless set).
    #[must_use]
    pub fn with_bounds(mut self, per_lane: usize, total: usize) -> Self {
        self.max_per_lane = per_lane.max(1);
        self.max_total = total.max(1);
        self
    }

    /// Whether every lane together is at its bound: a request may be refused before it claims anything.
    pub fn is_full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= self.max_total
    }

    /// The most seats one customer may hold unpaid at once (default 20), and one client address
    /// across accounts (default 60).
    #[must_use]
    pub fn with_max_held_seats(mut self, per_customer: u32, per_client: u32) -> Self {
        self.caps = HoldCaps {
            per_customer: i64::from(per_customer),
            per_client: i64::from(per_client),
            ..self.caps
        };
        self
    }

    /// The most seats a new account may hold unpaid on one flight at once (default 9).
    #[must_use]
    pub fn with_new_account_cap(mut self, per_flight: u32) -> Self {
        self.caps.per_flight_new = i64::from(per_flight);
        self
    }

    /// The aggregate as of now (`Default` with version 0 when it has no events).
    ///
    /// # Errors
    /// Store failures.
    pub async fn load<A: Stream>(&self, id: &str) -> Result<Versioned<A>, ApiError>
    where
        ApiError: From<A::Error>,
    {
        A::store(&self.stores).load(id).await
    }

    /// Runs `decide` on `lane` and commits what it decided; returns its output.
    ///
    /// # Errors
    /// What `decide` returned; [`ApiError::Contended`] when other writers kept winning; store failures.
    pub async fn run<T, D>(
        self: &Arc<Self>,
        lane: impl Into<Lane>,
        meta: CommandMeta,
        decide: D,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        D: FnMut(&mut WorkingSet) -> Result<T, ApiError> + Send + 'static,
    {
        let meta = CommandMeta {
            claim: None,
            ..meta
        };
        self.submit(lane.into(), meta, decide, None)
            .await
            .map(|(t, _)| t)
    }

    /// Like [`Executor::run`] for an HTTP request: `render` makes the response from the output, and when
    /// the request holds an Idempotency-Key claim the response commits with the events.
    ///
    /// # Errors
    /// As [`Executor::run`]; what `render` returned.
    pub async fn respond<T, D, R>(
        self: &Arc<Self>,
        lane: impl Into<Lane>,
        meta: CommandMeta,
        decide: D,
        render: R,
    ) -> Result<(T, Response), ApiError>
    where
        T: Send + 'static,
        D: FnMut(&mut WorkingSet) -> Result<T, ApiError> + Send + 'static,
        R: Fn(&T) -> Result<StoredResponse, ApiError> + Send + 'static,
    {
        let stored = meta.claim.is_some();
        let (output, response) = self
            .submit(lane.into(), meta, decide, Some(Box::new(render)))
            .await?;
        let response = response
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a response was not rendered")))?;
        Ok((output, response.into_response_marked(stored)))
    }

    /// One command on one aggregate, on that aggregate's own lane (tools and admin routes).
    ///
    /// # Errors
    /// The aggregate's rule, 412 when `expected` is not the version appended to, store failures.
    pub async fn execute<A>(
        self: &Arc<Self>,
        (id, expected): (&str, Option<u64>),
        name: &'static str,
        command: A::Command,
        meta: CommandMeta,
    ) -> Result<Versioned<A>, ApiError>
    where
        A: Stream,
        A::Command: Clone + Send,
        ApiError: From<A::Error>,
    {
        let id = id.to_owned();
        self.run(
            StreamKey::of::<A>(&id),
            meta,
            one_command::<A>(id, expected, name, command),
        )
        .await
    }

    async fn submit<T, D>(
        self: &Arc<Self>,
        lanes: Lane,
        meta: CommandMeta,
        decide: D,
        render: Option<Render<T>>,
    ) -> Result<(T, Option<StoredResponse>), ApiError>
    where
        T: Send + 'static,
        D: FnMut(&mut WorkingSet) -> Result<T, ApiError> + Send + 'static,
    {
        let Some(lane) = lanes.first().cloned() else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a decision named no lane"
            )));
        };
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            meta,
            lanes: lanes.keys().to_vec(),
            decide,
            render,
            output: None,
            response: None,
            reply,
        });
        let committing = job.meta.committing.clone();
        let spawn = {
            let mut lanes = self
                .lanes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let queued = lanes.get(&lane).map_or(0, Vec::len);
            if queued >= self.max_per_lane || self.waiting.load(Ordering::Relaxed) >= self.max_total
            {
                metrics::counter!("command_overloaded_total", "aggregate" => lane.kind)
                    .increment(1);
                return Err(ApiError::Overloaded);
            }
            self.waiting.fetch_add(1, Ordering::Relaxed);
            match lanes.get_mut(&lane) {
                Some(queue) => {
                    queue.push(job);
                    false
                }
                None => {
                    lanes.insert(lane.clone(), vec![job]);
                    true
                }
            }
        };
        // Queued: from here the decision may commit, so the request's answer is its outcome.
        if let Some(committing) = committing {
            committing.mark();
        }
        if spawn {
            // The lane outlives the request that started it: its span has no parent.
            let span =
                tracing::info_span!(parent: None, "lane", aggregate = lane.kind, id = %lane.id);
            tokio::spawn(Arc::clone(self).drain(lane).instrument(span));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::Internal(anyhow::anyhow!(
                "the decision was dropped"
            )))
        })
    }

    /// Decides and commits the lane's queue, batch after batch, until it is empty.
    async fn drain(self: Arc<Self>, lane: StreamKey) {
        loop {
            let batch = {
                let mut lanes = self
                    .lanes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match lanes.get_mut(&lane) {
                    Some(queue) if !queue.is_empty() => {
                        let rest = queue.split_off(queue.len().min(MAX_BATCH));
                        let batch = std::mem::replace(queue, rest);
                        self.waiting.fetch_sub(batch.len(), Ordering::Relaxed);
                        batch
                    }
                    _ => {
                        lanes.remove(&lane);
                        return;
                    }
                }
            };
            if batch.len() > 1 {
                metrics::histogram!("command_batch_size", "aggregate" => lane.kind)
                    .record(batch.len() as f64);
            }
            let gated: BTreeSet<StreamKey> = std::iter::once(lane.clone())
                .chain(batch.iter().flat_map(|job| job.lanes().to_vec()))
                .collect();
            let held = self.take_gates(&gated).await;
            // A panic fails this batch's callers (their replies are dropped), never the lane.
            let run = std::panic::AssertUnwindSafe(self.run_batch(&lane, batch));
            if run.catch_unwind().await.is_err() {
                metrics::counter!("command_batch_panics_total").increment(1);
                tracing::error!("a decision batch panicked; its callers got an error");
            }
            drop(held);
            self.drop_idle_gates(&gated);
        }
    }

    /// Takes the gate of every lane in `keys`, in their (global) order.
    async fn take_gates(
        &self,
        keys: &BTreeSet<StreamKey>,
    ) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let mut held = Vec::with_capacity(keys.len());
        for key in keys {
            let gate = {
                let mut gates = self
                    .gates
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Arc::clone(gates.entry(key.clone()).or_default())
            };
            if keys.len() > 1 {
                metrics::counter!("command_gates_taken_total").increment(1);
            }
            held.push(gate.lock_owned().await);
        }
        held
    }

    /// Forgets the gates of `keys` that nobody holds or waits for (only the map has them).
    fn drop_idle_gates(&self, keys: &BTreeSet<StreamKey>) {
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            if gates.get(key).is_some_and(|g| Arc::strong_count(g) == 1) {
                gates.remove(key);
            }
        }
    }

    async fn run_batch(&self, lane: &StreamKey, mut jobs: Vec<Box<dyn Queued>>) {
        let mut failed: Vec<Option<ApiError>> = jobs.iter().map(|_| None).collect();
        // The streams to load, with the decisions that need them (none: the lane's own stream).
        let mut wanted: BTreeMap<StreamKey, Vec<usize>> = BTreeMap::from([(lane.clone(), vec![])]);
        let mut loaded = Streams::default();
        let (mut attempt, mut rounds) = (0u32, 0usize);
        loop {
            for (key, e) in self.load_wanted(&mut loaded, &wanted).await {
                let needed_by = wanted.remove(&key).unwrap_or_default();
                if needed_by.is_empty() {
                    return finish_all(jobs, failed, &e);
                }
                // A stream that cannot be read fails the decisions that need it, not the batch.
                for job in needed_by {
                    failed[job] = Some(e.replicate());
                }
            }
            let (mut ws, decided) = match decide_all(&mut jobs, &failed, &loaded) {
                Ok(decided) => decided,
                Err(crash) => return finish_all(jobs, failed, &crash),
            };
            if !ws.missing.is_empty() && rounds < MAX_ROUNDS {
                rounds += 1;
                for (key, jobs) in std::mem::take(&mut ws.missing) {
                    wanted.entry(key).or_default().extend(jobs);
                }
                continue;
            }
            if let Err(e) = fail_point_before_commit() {
                return finish_all(jobs, failed, &e);
            }
            let outcomes = outcomes(&jobs, &failed, &decided);
            let nothing = ws.events.is_empty() && outcomes.is_empty() && ws.side.is_empty();
            let committed = if nothing {
                Ok(())
            } else {
                commit::commit(&self.pool, &ws.events, &ws.side, &outcomes, self.caps).await
            };
            match committed {
                Ok(()) => {
                    self.stores.remember_all(ws.streams());
                    if let Err(e) = fail_point_after_commit() {
                        return finish_all(jobs, failed, &e);
                    }
                    return finish(jobs, failed, decided);
                }
                Err(CommitError::Conflict | CommitError::PnrTaken) => {
                    attempt += 1;
                    metrics::counter!("command_conflicts_total", "aggregate" => lane.kind)
                        .increment(1);
                    if attempt >= self.max_attempts {
                        return finish_all(jobs, failed, &ApiError::Contended);
                    }
                    for key in ws.created() {
                        wanted.entry(key).or_default();
                    }
                    loaded = Streams::default();
                    tokio::time::sleep(CONFLICT_RETRIES.full_jitter(attempt)).await;
                }
                Err(CommitError::Guard(_)) => {
                    match commit::failed_guards(&self.pool, &ws.side, &outcomes, self.caps).await {
                        Ok(lost) if !lost.is_empty() => {
                            for (job, guard) in lost {
                                failed[job] = Some(guard_problem(guard));
                            }
                        }
                        // The guard held again by the time we looked: decide again, after a pause.
                        Ok(_) => {
                            attempt += 1;
                            tokio::time::sleep(CONFLICT_RETRIES.full_jitter(attempt)).await;
                        }
                        Err(e) => return finish_all(jobs, failed, &ApiError::from(e)),
                    }
                    if attempt >= self.max_attempts {
                        return finish_all(jobs, failed, &ApiError::Contended);
                    }
                }
                Err(CommitError::Store(e)) => {
                    return finish_all(jobs, failed, &ApiError::from(e));
                }
            }
        }
    }

    /// Loads the wanted streams not loaded yet; the ones that failed, with why.
    async fn load_wanted(
        &self,
        loaded: &mut Streams,
        wanted: &BTreeMap<StreamKey, Vec<usize>>,
    ) -> Vec<(StreamKey, ApiError)> {
        use futures::StreamExt;
        let missing: Vec<StreamKey> = wanted
            .keys()
            .filter(|k| !loaded.contains(k))
            .cloned()
            .collect();
        let stores = &self.stores;
        // A few at a time: a cancelled flight's hundreds of bookings must not take the whole pool.
        let results: Vec<(StreamKey, Result<_, ApiError>)> = futures::stream::iter(missing)
            .map(|key| async move {
                let result = stores.load_into(&key).await;
                (key, result)
            })
            .buffered(LOAD_CONCURRENCY)
            .collect()
            .await;
        let mut failures = Vec::new();
        for (key, result) in results {
            match result {
                Ok(state) => loaded.insert(key.id.clone(), state),
                Err(e) => failures.push((key, e)),
            }
        }
        failures
    }
}

/// The decision of one command on one aggregate, `If-Match` checked against the version appended to.
pub fn one_command<A>(
    id: String,
    expected: Option<u64>,
    name: &'static str,
    command: A::Command,
) -> impl FnMut(&mut WorkingSet) -> Result<Versioned<A>, ApiError> + Send + 'static
where
    A: Stream,
    A::Command: Clone + Send,
    ApiError: From<A::Error>,
{
    move |ws| {
        ws.expect_version::<A>(&id, expected)?;
        ws.execute::<A>(&id, name, command.clone())?;
        Ok(ws.get::<A>(&id)?.clone())
    }
}

pub(super) fn guard_problem(guard: &'static str) -> ApiError {
    use axum::http::StatusCode;
    let (code, detail) = match guard {
        "hold_limit" => (
            "hold_limit_exceeded",
            "this would put you over the limit of seats on hold at once; pay for or cancel a held booking first",
        ),
        "payment_moved" => (
            "payment_voided",
            "the payment authorization was voided before it could be used; pay again",
        ),
        _ => (
            "idempotency_key_superseded",
            "another request with this Idempotency-Key took over; retry to get its outcome",
        ),
    };
    infra::problem::Problem::new(StatusCode::CONFLICT, code, detail).into()
}

/// Up to 2^attempt ms, at most 100 ms, with full jitter so racing processes spread out.
const CONFLICT_RETRIES: Backoff =
    Backoff::new(Duration::from_millis(1), Duration::from_millis(100));

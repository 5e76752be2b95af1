//! The supervisor that owns every background task of a service. A worker that returns an error, returns
//! early or panics is restarted with capped exponential backoff, logged with its error and counted in
//! `worker_restarts_total{worker}`. Each worker reports its state (`starting`, `running`, `standby`,
//! `backing_off`, `stopped`) and the time of its last progress through a [`Heartbeat`]; a worker that
//! makes no progress for longer than its bound is `stuck`, and [`Registry::report`] (what `/readyz`
//! shows) says so.
//!
//! A worker beats after every step, idle steps included, so a healthy worker is never silent for long:
//! silence means a step is hanging (a dependency that accepts and never answers).
//!
//! Past 400 lines on purpose: about 90 of them are its unit tests, which drive the restart loop with
//! paused time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::backoff::Backoff;

/// The pause before a restart: about 200 ms after the first failure, doubling per consecutive failure
/// up to 30 s, jittered so that workers failing on the same dependency do not restart in step.
const RESTARTS: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
/// A worker that ran this long before failing starts again from the first pause.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Started, no step finished yet.
    Starting,
    /// Stepping.
    Running,
    /// Waiting while another instance holds its subscription.
    Standby,
    /// Failed; waiting before the restart.
    BackingOff,
    /// Stopped on shutdown.
    Stopped,
}

/// How a worker is supervised.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name in logs, metrics and readiness (`projection:flights`, `relay`, `sweeper`, ...).
    pub name: String,
    /// No progress for this long (while starting or running) is stuck.
    pub stuck_after: Duration,
    /// Whether the service is not ready while this worker is unhealthy (a projection, the sweeper). A
    /// non-critical one (the relay, a mail consumer) only makes it `degraded`.
    pub critical: bool,
}

impl Spec {
    /// A critical worker.
    pub fn critical(name: impl Into<String>, stuck_after: Duration) -> Self {
        Self {
            name: name.into(),
            stuck_after,
            critical: true,
        }
    }

    /// A worker whose failure degrades the service without taking it out of service.
    pub fn degrading(name: impl Into<String>, stuck_after: Duration) -> Self {
        Self {
            name: name.into(),
            stuck_after,
            critical: false,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// When the worker was first started.
    born: Instant,
    last_progress: Option<Instant>,
    last_error: Option<String>,
    restarts: u64,
}

#[derive(Debug)]
struct Health {
    spec: Spec,
    inner: Mutex<Inner>,
}

impl Health {
    fn update(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.inner.lock() {
            let before = inner.state;
            f(&mut inner);
            if inner.state != before {
                let running = matches!(inner.state, State::Running | State::Standby);
                metrics::gauge!("worker_running", "worker" => self.spec.name.clone())
                    .set(if running { 1.0 } else { 0.0 });
            }
        }
    }
}

/// A worker's handle on its own health.
#[derive(Debug, Clone)]
pub struct Heartbeat(Arc<Health>);

impl Heartbeat {
    /// A step finished (with or without work): the worker is running and not stuck.
    pub fn beat(&self) {
        self.0.update(|i| {
            i.state = State::Running;
            i.last_progress = Some(Instant::now());
        });
    }

    /// The worker is a healthy standby (another instance is active).
    pub fn standby(&self) {
        self.0.update(|i| {
            i.state = State::Standby;
            i.last_progress = Some(Instant::now());
        });
    }
}

/// One worker as `/readyz` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerReport {
    /// Its name.
    pub name: String,
    /// `starting`, `running`, `standby`, `backing_off`, `stopped`.
    pub state: State,
    /// No progress for longer than its bound.
    pub stuck: bool,
    /// Whether its trouble makes the service not ready (otherwise only degraded).
    pub critical: bool,
    /// Restarts since the process started.
    pub restarts: u64,
    /// Seconds since its last progress (`None` before the first).
    pub last_progress_secs_ago: Option<f64>,
    /// The last error it failed with.
    pub last_error: Option<String>,
    /// Work waiting behind it (events, due holds), filled in by the service's readiness handler.
    pub lag: Option<i64>,
}

impl WorkerReport {
    /// Has finished a step, is not stuck (a failure shorter than the bound may be a blip) and is not
    /// stopped. A worker not yet seen working (its queues not declared, its first batch not done) is
    /// not healthy yet.
    pub fn healthy(&self) -> bool {
        self.last_progress_secs_ago.is_some() && !self.stuck && self.state != State::Stopped
    }
}

/// Every worker's report, and what they add up to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// No critical worker unhealthy.
    pub ready: bool,
    /// Some non-critical worker unhealthy.
    pub degraded: bool,
    /// Worker by worker.
    pub workers: Vec<WorkerReport>,
}

impl Report {
    /// The `/readyz` answer of a service with these workers: 503 `not_ready` when the database is down
    /// or a critical worker is unhealthy, 200 `degraded` when only a non-critical one is, 200 `ready`
    /// otherwise. `extra` adds the service's own fields (its dependencies' state).
    pub fn readiness(
        &self,
        database_up: bool,
        mut extra: serde_json::Map<String, serde_json::Value>,
    ) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
        let ready = database_up && self.ready;
        let word = match (ready, self.degraded) {
            (false, _) => "not_ready",
            (true, true) => "degraded",
            (true, false) => "ready",
        };
        extra.insert("status".into(), word.into());
        extra.insert(
            "database".into(),
            if database_up { "up" } else { "down" }.into(),
        );
        extra.insert(
            "workers".into(),
            serde_json::to_value(&self.workers).unwrap_or_default(),
        );
        let status = if ready {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        };
        (status, axum::Json(serde_json::Value::Object(extra)))
    }
}

/// The supervised workers' health, shared with the readiness handler.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<Vec<Arc<Health>>>>);

impl Registry {
    /// The state of every worker now.
    pub fn report(&self) -> Report {
        let workers: Vec<WorkerReport> = self
            .0
            .lock()
            .map(|all| all.iter().map(|h| report_of(h)).collect())
            .unwrap_or_default();
        let ready = workers.iter().all(|w| !w.critical || w.healthy());
        let degraded = workers.iter().any(|w| !w.critical && !w.healthy());
        Report {
            ready,
            degraded,
            workers,
        }
    }
}

fn report_of(health: &Health) -> WorkerReport {
    let spec = &health.spec;
    let Ok(inner) = health.inner.lock() else {
        return WorkerReport {
            name: spec.name.clone(),
            state: State::Stopped,
            stuck: true,
            critical: spec.critical,
            restarts: 0,
            last_progress_secs_ago: None,
            last_error: Some("health lock poisoned".to_owned()),
            lag: None,
        };
    };
    // Starting, running or failing without a step finishing: stuck once that lasts past the bound.
    let silent_for = inner.last_progress.unwrap_or(inner.born).elapsed();
    let stuck = inner.state != State::Stopped && silent_for > spec.stuck_after;
    WorkerReport {
        name: spec.name.clone(),
        state: inner.state,
        stuck,
        critical: spec.critical,
        restarts: inner.restarts,
        last_progress_secs_ago: inner.last_progress.map(|at| at.elapsed().as_secs_f64()),
        last_error: inner.last_error.clone(),
        lag: None,
    }
}

/// Owns a service's background tasks: starts them, restarts them, stops them.
#[derive(Debug)]
pub struct Supervisor {
    registry: Registry,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// A supervisor with no workers yet.
    pub fn new() -> Self {
        Self {
            registry: Registry::default(),
            stop: watch::channel(false).0,
            handles: Vec::new(),
        }
    }

    /// The workers' health, for `/readyz`.
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Starts a worker. `make` builds one run of it from a heartbeat and the stop signal; the run should
    /// return `Ok(())` only once stop is true (at a batch boundary). Anything else, a panic included, is
    /// a failure: the run is started again after a backoff.
    pub fn spawn<F, Fut>(&mut self, spec: Spec, make: F)
    where
        F: Fn(Heartbeat, watch::Receiver<bool>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let health = Arc::new(Health {
            spec: spec.clone(),
            inner: Mutex::new(Inner {
                state: State::Starting,
                born: Instant::now(),
                last_progress: None,
                last_error: None,
                restarts: 0,
            }),
        });
        if let Ok(mut all) = self.registry.0.lock() {
            all.push(health.clone());
        }
        metrics::counter!("worker_restarts_total", "worker" => spec.name.clone()).absolute(0);
        let stop = self.stop.subscribe();
        let span = tracing::info_span!("worker", worker = %spec.name);
        self.handles
            .push(tokio::spawn(supervise(health, make, stop).instrument(span)));
    }

    /// Signals every worker to stop and waits up to `bound` for them; the rest are aborted.
    pub async fn shutdown(self, bound: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + bound;
        for mut handle in self.handles {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!("a worker did not stop in time; aborting it");
                handle.abort();
            }
        }
    }
}

async fn supervise<F, Fut>(health: Arc<Health>, make: F, mut stop: watch::Receiver<bool>)
where
    F: Fn(Heartbeat, watch::Receiver<bool>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let name = health.spec.name.clone();
    let mut failures = 0;
    loop {
        health.update(|i| i.state = State::Starting);
        let started = Instant::now();
        let run = make(Heartbeat(health.clone()), stop.clone());
        // Its own task, so a panic ends only this run and comes back here as a JoinError.
        let task = tokio::spawn(run.in_current_span());
        // Aborting this supervisor (a shutdown past its bound) aborts the run too, not just the wait.
        let _abort = AbortOnDrop(task.abort_handle());
        let outcome = task.await;
        // Asked to stop, or the supervisor was dropped without a shutdown: either way, done.
        if *stop.borrow() || stop.has_changed().is_err() {
            health.update(|i| i.state = State::Stopped);
            return;
        }
        let error = match outcome {
            Ok(Ok(())) => "the worker returned before it was asked to stop".to_owned(),
            Ok(Err(e)) => format!("{e:#}"),
            Err(join) if join.is_panic() => {
                format!("panicked: {}", panic_message(join.into_panic()))
            }
            Err(join) => format!("cancelled: {join}"),
        };
        if started.elapsed() > HEALTHY_RUN {
            failures = 0;
        }
        let backoff = RESTARTS.equal_jitter(failures);
        metrics::counter!("worker_restarts_total", "worker" => name.clone()).increment(1);
        health.update(|i| {
            i.state = State::BackingOff;
            i.restarts += 1;
            i.last_error = Some(error.clone());
        });
        tracing::error!(worker = %name, error.message = %error, backoff_ms = backoff.as_millis() as u64,
            "worker failed; restarting");
        tokio::select! {
            _ = stop.changed() => {
                health.update(|i| i.state = State::Stopped);
                return;
            }
            () = tokio::time::sleep(backoff) => {}
        }
        failures += 1;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_panicking_or_failing_worker_is_restarted_and_counted() {
        let mut supervisor = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        supervisor.spawn(
            Spec::critical("flaky", Duration::from_secs(5)),
            move |beat, mut stop| {
                let run = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    match run {
                        0 => panic!("first run panics"),
                        1 => anyhow::bail!("second run fails"),
                        _ => {
                            beat.beat();
                            let _ = stop.wait_for(|s| *s).await;
                            Ok(())
                        }
                    }
                }
            },
        );
        let registry = supervisor.registry();
        let deadline = Instant::now() + Duration::from_secs(5);
        let worker = loop {
            let report = registry.report();
            let worker = report.workers[0].clone();
            if worker.state == State::Running || Instant::now() > deadline {
                break worker;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(worker.state, State::Running);
        assert_eq!(worker.restarts, 2);
        assert_eq!(worker.last_error.as_deref(), Some("second run fails"));
        assert!(registry.report().ready);
        supervisor.shutdown(Duration::from_secs(2)).await;
        assert_eq!(registry.report().workers[0].state, State::Stopped);
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_silent_worker_is_stuck_and_a_critical_one_makes_the_service_not_ready() {
        let mut supervisor = Supervisor::new();
        let alive = Arc::new(());
        let held = alive.clone();
        supervisor.spawn(
            Spec::critical("hangs", Duration::from_millis(100)),
            move |beat, _stop| {
                let held = held.clone();
                async move {
                    beat.beat();
                    std::future::pending::<()>().await;
                    drop(held);
                    Ok(())
                }
            },
        );
        supervisor.spawn(
            Spec::degrading("also_hangs", Duration::from_millis(100)),
            |beat, _stop| async move {
                beat.beat();
                std::future::pending::<()>().await;
                Ok(())
            },
        );
        let registry = supervisor.registry();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(registry.report().ready, "{:?}", registry.report());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let report = registry.report();
        assert!(report.workers.iter().all(|w| w.stuck));
        assert!(!report.ready);
        assert!(report.degraded);
        // A run that ignores the stop signal is aborted at the bound, the run itself and not only the
        // wait for it.
        let started = Instant::now();
        supervisor.shutdown(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            Arc::strong_count(&alive),
            1,
            "a hanging run outlived the shutdown"
        );
    }
}

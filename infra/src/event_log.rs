//! Reading the event log in commit-safe order, and the per-subscription checkpoints.
//!
//! Events are ordered by `(tx_id, global_position)` and only rows of transactions older than every
//! transaction still running (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`) are returned. A plain
//! `global_position` cursor skips an event whose transaction took a lower position but committed after a
//! higher one had been read; this order never does, at the price of waiting for the oldest open
//! transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// The channel the `events` insert trigger notifies.
pub const EVENTS_CHANNEL: &str = "airline_events";

/// What one step of a log-following worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled this many items.
    Processed(usize),
    /// Nothing to do.
    Idle,
}

/// A point in the commit order. Zero is before every event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, FromRow)]
pub struct Position {
    /// The appending transaction's id (xid8, which fits in an i64 for 2^63 transactions).
    pub tx_id: i64,
    /// The event's position in insertion order.
    pub global_position: i64,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StoredEvent {
    /// Unique id (the AMQP message id).
    pub event_id: Uuid,
    /// Appending transaction.
    pub tx_id: i64,
    /// Insertion order.
    pub global_position: i64,
    /// `flight`, `booking`, ...
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// 1-based version of the aggregate after this event.
    pub sequence: i64,
    /// Variant name.
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: String,
    /// The event.
    pub payload: Value,
    /// Who and why: user, role, correlation id, command.
    pub metadata: Value,
    /// When it was appended.
    pub recorded_at: DateTime<Utc>,
}

/// Whether a routing key (`booking.BookingConfirmed`) matches a topic pattern: `*` one word, `#` any
/// number, as RabbitMQ's topic exchanges match.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

impl std::fmt::Display for Position {
    /// `<tx_id>-<global_position>`: the form clients hand back (`Last-Event-ID`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.tx_id, self.global_position)
    }
}

impl std::str::FromStr for Position {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: &str = "a position is `<tx_id>-<global_position>`, two non-negative integers";
        let (tx, gp) = s.trim().split_once('-').ok_or(BAD)?;
        let parse = |n: &str| {
            n.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0 && n.bytes().all(|b| b.is_ascii_digit()))
        };
        Ok(Self {
            tx_id: parse(tx).ok_or(BAD)?,
            global_position: parse(gp).ok_or(BAD)?,
        })
    }
}

impl StoredEvent {
    /// `<aggregate_type>.<event_type>`, the routing key on the broker and the type in the event feed.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.aggregate_type, self.event_type)
    }

    /// Where this event stands in the commit order.
    pub const fn position(&self) -> Position {
        Position {
            tx_id: self.tx_id,
            global_position: self.global_position,
        }
    }
}

/// The columns of a [`StoredEvent`], for queries of the `events` table.
pub const SELECT_COLUMNS: &str = "event_id, tx_id::text::bigint AS tx_id, global_position, aggregate_type, \
     aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at";

/// Commit order, for `ORDER BY`. Qualified on purpose: [`SELECT_COLUMNS`] names its output `tx_id`
/// (the xid8 cast to bigint), and a bare `ORDER BY tx_id` sorts by that output column, which no index
/// has: every read would sort the whole rest of the log instead of walking `events_commit_order`.
pub const COMMIT_ORDER: &str = "events.tx_id, events.global_position";

/// The statement behind [`read_after`]: `$1`/`$2` the position (tx id as bigint, global position),
/// `$3` the limit.
pub fn read_after_sql() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM events \
         WHERE (tx_id, global_position) > ($1::bigint::text::xid8, $2) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY {COMMIT_ORDER} LIMIT $3"
    )
}

/// Up to `limit` committed events after `after`, in commit order.
///
/// # Errors
/// Database errors.
pub async fn read_after<'e>(
    executor: impl PgExecutor<'e>,
    after: Position,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(&read_after_sql())
        .bind(after.tx_id)
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(executor)
        .await
}

/// One aggregate's events, oldest first (for history and time travel).
///
/// # Errors
/// Database errors.
pub async fn aggregate_events<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         ORDER BY sequence"
    );
    sqlx::query_as(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(executor)
        .await
}

/// Why an aggregate could not be folded from its events.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// The database.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event that does not decode into the aggregate's event type.
    #[error("event {event_id} does not decode: {reason}")]
    Decode {
        /// Which event.
        event_id: Uuid,
        /// Why.
        reason: String,
    },
}

/// Folds aggregate `A` from its stored events with its own `apply`, stopping after the last event `keep`
/// accepts (events are visited oldest first). Returns the state and its version, or `None` when no event
/// was kept.
///
/// # Errors
/// [`FoldError`].
pub async fn fold<A: cqrs_es::Aggregate>(
    pool: &PgPool,
    id: &str,
    keep: impl FnMut(&StoredEvent) -> bool,
) -> Result<Option<(A, i64)>, FoldError> {
    let (aggregate, version) = fold_onto(pool, id, (A::default(), 0), keep).await?;
    Ok((version > 0).then_some((aggregate, version)))
}

/// Folds the events of aggregate `A` after `version` onto `aggregate` (its state at that version), like
/// [`fold`]: a cached state is brought up to date with only the events it has not seen.
///
/// # Errors
/// [`FoldError`].
pub async fn fold_onto<A: cqrs_es::Aggregate>(
    pool: &PgPool,
    id: &str,
    (mut aggregate, mut version): (A, i64),
    mut keep: impl FnMut(&StoredEvent) -> bool,
) -> Result<(A, i64), FoldError> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         AND sequence > $3 ORDER BY sequence"
    );
    let events: Vec<StoredEvent> = sqlx::query_as(&sql)
        .bind(A::TYPE)
        .bind(id)
        .bind(version)
        .fetch_all(pool)
        .await?;
    for e in events {
        if !keep(&e) {
            break;
        }
        let event: A::Event =
            serde_json::from_value(e.payload).map_err(|err| FoldError::Decode {
                event_id: e.event_id,
                reason: err.to_string(),
            })?;
        aggregate.apply(event);
        version = e.sequence;
    }
    Ok((aggregate, version))
}

/// How far a subscription is behind the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lag {
    /// Events appended after the checkpoint.
    pub events_behind: i64,
    /// Age of the oldest of them.
    pub oldest_age: Option<Duration>,
}

/// A named, checkpointed reader of the log.
#[derive(Debug, Clone)]
pub struct Subscription {
    name: String,
}

impl Subscription {
    /// A subscription called `name`; its row is created on first use.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last position processed, creating the row at zero if needed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn checkpoint(&self, conn: &mut PgConnection) -> Result<Position, sqlx::Error> {
        sqlx::query("INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(&self.name)
            .execute(&mut *conn)
            .await?;
        sqlx::query_as(
            "SELECT tx_id::text::bigint AS tx_id, global_position FROM subscriptions WHERE name = $1",
        )
        .bind(&self.name)
        .fetch_one(&mut *conn)
        .await
    }

    /// The last position processed, holding the subscription's row lock until the transaction ends, so two
    /// instances can never apply the same batch (the second waits and then reads the moved checkpoint).
    ///
    /// # Errors
    /// Database errors.
    pub async fn checkpoint_for_update(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Position, sqlx::Error> {
        sqlx::query("INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(&self.name)
            .execute(&mut *conn)
            .await?;
        sqlx::query_as(
            "SELECT tx_id::text::bigint AS tx_id, global_position FROM subscriptions WHERE name = $1 FOR UPDATE",
        )
        .bind(&self.name)
        .fetch_one(&mut *conn)
        .await
    }

    /// Moves the checkpoint; call it in the transaction that applied the events, so both commit together.
    ///
    /// # Errors
    /// Database errors.
    pub async fn save_checkpoint(
        &self,
        conn: &mut PgConnection,
        to: Position,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO subscriptions (name, tx_id, global_position, updated_at) \
             VALUES ($1, $2::bigint::text::xid8, $3, now()) \
             ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, \
               global_position = EXCLUDED.global_position, updated_at = now()",
        )
        .bind(&self.name)
        .bind(to.tx_id)
        .bind(to.global_position)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Moves the checkpoint from `from` to `to`, only if it still is at `from`; `false` when it had
    /// moved (another instance took over while this one worked outside a transaction).
    ///
    /// # Errors
    /// Database errors.
    pub async fn advance(
        &self,
        conn: &mut PgConnection,
        from: Position,
        to: Position,
    ) -> Result<bool, sqlx::Error> {
        let moved = sqlx::query(
            "UPDATE subscriptions SET tx_id = $4::bigint::text::xid8, global_position = $5, updated_at = now() \
             WHERE name = $1 AND tx_id = $2::bigint::text::xid8 AND global_position = $3",
        )
        .bind(&self.name)
        .bind(from.tx_id)
        .bind(from.global_position)
        .bind(to.tx_id)
        .bind(to.global_position)
        .execute(conn)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// Events after the checkpoint, and how old the oldest is.
    ///
    /// # Errors
    /// Database errors.
    pub async fn lag(&self, pool: &PgPool) -> Result<Lag, sqlx::Error> {
        let row: (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(e.recorded_at))::float8 \
             FROM events e LEFT JOIN subscriptions s ON s.name = $1 \
             WHERE (e.tx_id, e.global_position) > (COALESCE(s.tx_id, '0'::xid8), COALESCE(s.global_position, 0))",
        )
        .bind(&self.name)
        .fetch_one(pool)
        .await?;
        Ok(Lag {
            events_behind: row.0,
            oldest_age: row.1.map(|secs| Duration::from_secs_f64(secs.max(0.0))),
        })
    }

    /// Tries to become the one active instance of this subscription. The lock lives as long as the
    /// returned connection; a standby that calls this again takes over when the holder dies.
    ///
    /// # Errors
    /// Database errors.
    pub async fn try_lock(&self, pool: &PgPool) -> Result<Option<SubscriptionLock>, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&self.name)
                .fetch_one(&mut *conn)
                .await?;
        // Detached from the pool: dropping the lock closes the session, which releases the lock. A pooled
        // connection would go back to the pool still holding it.
        Ok(locked.then(|| SubscriptionLock {
            conn: conn.detach(),
        }))
    }
}

/// Holds a subscription's advisory lock for as long as it lives (its own connection, outside the pool).
#[derive(Debug)]
pub struct SubscriptionLock {
    conn: PgConnection,
}

impl SubscriptionLock {
    /// The Postgres backend holding the lock.
    ///
    /// # Errors
    /// Database errors (the session is gone: the lock is lost).
    pub async fn backend_pid(&mut self) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut self.conn)
            .await
    }
}

/// Wakes a subscriber when events are appended (LISTEN/NOTIFY), or after `poll` at the latest.
#[derive(Debug)]
pub struct Wakeup {
    listener: Option<PgListener>,
    pool: PgPool,
    poll: Duration,
}

impl Wakeup {
    /// Listens on [`EVENTS_CHANNEL`]; when listening fails it still wakes every `poll`.
    pub async fn new(pool: &PgPool, poll: Duration) -> Self {
        let listener = Self::listen(pool).await;
        Self {
            listener,
            pool: pool.clone(),
            poll,
        }
    }

    async fn listen(pool: &PgPool) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(pool).await.ok()?;
        listener.listen(EVENTS_CHANNEL).await.ok()?;
        Some(listener)
    }

    /// Waits for a notification or the poll interval, whichever comes first.
    pub async fn wait(&mut self) {
        if self.listener.is_none() {
            self.listener = Self::listen(&self.pool).await;
        }
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(self.poll).await;
            return;
        };
        match tokio::time::timeout(self.poll, listener.recv()).await {
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, "event notification listener failed; polling");
                self.listener = None;
            }
        }
    }
}

/// Runs `step` for as long as this instance holds `subscription`'s lock, waiting as a standby
/// otherwise; wakes on new events (or every `poll`) and beats `heartbeat` after every step. Returns
/// `Ok` once `stop` is true (between steps), and the error of a failed step, letting the lock go (its
/// session may have died with the database): the supervisor backs off and starts it again.
///
/// # Errors
/// The failed step's error, or the database's when the lock cannot be tried.
pub async fn run_subscription<F, Fut, E>(
    pool: &PgPool,
    subscription: &Subscription,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    heartbeat: &crate::supervisor::Heartbeat,
    mut step: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Outcome, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let lock = loop {
        if *stop.borrow() {
            return Ok(());
        }
        if let Some(lock) = subscription.try_lock(pool).await? {
            break lock;
        }
        heartbeat.standby();
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    };
    tracing::info!(subscription = subscription.name(), "subscription active");
    let mut wakeup = Wakeup::new(pool, poll).await;
    loop {
        if *stop.borrow() {
            drop(lock);
            return Ok(());
        }
        match step().await? {
            Outcome::Processed(_) => {
                heartbeat.beat();
                continue;
            }
            Outcome::Idle => heartbeat.beat(),
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() {
                // The supervisor is gone: stop as if asked.
                return Ok(());
            },
            () = wakeup.wait() => {}
        }
    }
}

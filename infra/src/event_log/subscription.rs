//! A named reader of the log: its checkpoint row in `subscriptions`, its lag, and the advisory lock
//! that lets one instance run it.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::stored::Position;

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

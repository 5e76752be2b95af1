//! The Postgres pool and the one migrator for every migration in `migrations/`.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::settings::DatabaseSettings;

/// Every migration in `migrations/`. Only the process that owns the schema runs it.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool for these settings. Connects lazily, so a service can start before Postgres is up
/// and report not-ready instead of dying.
///
/// # Errors
/// When the URL does not parse.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    Ok(options(settings).connect_lazy_with(settings.connect_options()?))
}

/// A connection idle for longer than this is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The pool options every service uses. sqlx pings a connection on every acquire by default: a round
/// trip in front of every statement (a fifth of the email consumer's CPU). Here only a connection that
/// sat idle for a second is pinged, so a pool left alone while Postgres restarted hands out live
/// connections, and a busy pool pays nothing. A connection that dies while busy fails the statement
/// that finds out (a 503, `is_unavailable`) and is dropped.
pub fn options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Whether `e` means the database is unreachable or refusing work for now (connection lost or refused,
/// the server shutting down or starting up, too many connections, the pool exhausted), as opposed to a
/// bug or a bad statement: the request may be retried, and the answer is a 503.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot connect now;
            // 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Whether any cause in `error`'s chain is a database error for which [`is_unavailable`] holds (the
/// event store's errors wrap sqlx's).
pub fn unavailable_in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<sqlx::Error>().is_some_and(is_unavailable) {
            return true;
        }
        cause = e.source();
    }
    false
}

//! The Postgres pool and the one migrator for every migration in `migrations/`.

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
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        .connect_lazy_with(settings.connect_options()?))
}

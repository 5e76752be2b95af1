//! Test support (feature `test-support`): a fresh, migrated Postgres database per test, dropped when
//! the test ends, pass or fail.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::db::MIGRATOR;

/// A throwaway database.
#[derive(Debug)]
pub struct TestDatabase {
    /// A small pool on it.
    pub pool: PgPool,
    /// Options that reach it (for a second pool, or a second service instance).
    pub options: PgConnectOptions,
    /// Its name.
    pub name: String,
    admin: PgConnectOptions,
}

/// Options for the server in `DATABASE_URL`; panics with a clear message when it is unset.
pub fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a Postgres server whose role may CREATE DATABASE");
    url.parse().expect("DATABASE_URL must be a postgres:// URL")
}

impl TestDatabase {
    /// Creates and migrates a database with a pool of `max_connections`.
    pub async fn create(max_connections: u32) -> Self {
        let admin = admin_options();
        let name = format!("airline_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("cannot connect to DATABASE_URL");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut conn)
            .await
            .expect("cannot create the test database");
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options.clone())
            .await
            .expect("cannot connect to the test database");
        MIGRATOR.run(&pool).await.expect("migrations failed");
        Self {
            pool,
            options,
            name,
            admin,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async; a short-lived thread with its own runtime removes the database even
        // when the test panicked. FORCE ends connections the test left open.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ =
                        sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
        if dropped.is_err() {
            tracing::warn!("could not drop a test database");
        }
    }
}

//! Test support (feature `test-support`): a fresh, migrated Postgres database per test, dropped when
//! the test ends, pass or fail; and a loopback TCP proxy that can hang a dependency without stopping it.

use sqlx::postgres::PgConnectOptions;
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

/// The URL of database `name` on the server `DATABASE_URL` names, with the same options (for a child
/// process, or a second service reading it through a URL).
pub fn database_url(name: &str) -> String {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at Postgres");
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl TestDatabase {
    /// Its URL ([`database_url`]).
    pub fn url(&self) -> String {
        database_url(&self.name)
    }

    /// Creates and migrates a database with a pool of `max_connections`.
    pub async fn create(max_connections: u32) -> Self {
        // Every test makes a database first: its HTTP clients need the process's TLS provider.
        crate::tls::install();
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
        // As the services' pools (`db::options`).
        let pool = crate::db::options(&crate::settings::DatabaseSettings {
            url: String::new().into(),
            max_connections,
            acquire_timeout_ms: 30_000,
            read_url: None,
        })
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

/// A loopback TCP proxy in front of a dependency (Redis, RabbitMQ) that can *hang* it: while stalled it
/// still accepts connections but moves no byte either way, like a broker that is SIGSTOPped or a network
/// that drops packets without resetting anything. Resumed, it forwards again what it held.
#[derive(Debug, Clone)]
pub struct StallingProxy {
    port: u16,
    stalled: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl StallingProxy {
    /// Listens on a free loopback port and forwards every connection to `target` (`host:port`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind a loopback port");
        let port = listener.local_addr().expect("bound").port();
        let stalled = std::sync::Arc::new(tokio::sync::watch::channel(false).0);
        let (target, gate) = (target.to_owned(), stalled.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, gate) = (target.clone(), gate.subscribe());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = pump(client_read, server_write, gate.clone()) => {}
                        () = pump(server_read, client_write, gate) => {}
                    }
                });
            }
        });
        Self { port, stalled }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops forwarding (connections stay open and new ones are accepted).
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again.
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies `from` to `to`, holding every chunk while the gate is closed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // A chunk read just as the gate closed waits for it to open again.
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

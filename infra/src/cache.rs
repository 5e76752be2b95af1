//! The Redis cache the query API reads through, and the gateway's rate-limit windows. Redis is optional
//! at every step: a failed or slow operation (past the configured timeout) is a miss, so reads fall back
//! to Postgres and the service stays up while Redis is down. It reconnects on its own.
//!
//! Redis holds no reference state: every cached entry is keyed by the version (a seat map) or generation
//! (search) it holds, and readers take that version from Postgres. So an entry can be missing (Redis
//! restarted empty) but never stale, even after Redis comes back from an old snapshot.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::settings::RedisSettings;

/// After a failed connect, how long to serve without Redis before trying again.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

const WINDOW_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {count, ttl}";

/// A best-effort Redis cache.
pub struct Cache {
    client: Option<redis::Client>,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<ConnectionManager>>,
    failed_at: Mutex<Option<Instant>>,
    window: redis::Script,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache on `settings.url`; an unparsable URL disables caching (logged).
    pub fn new(settings: &RedisSettings) -> Self {
        let client = redis::Client::open(settings.url.as_str())
            .inspect_err(|e| tracing::warn!(error.message = %e, "bad REDIS_URL; caching disabled"))
            .ok();
        Self {
            client,
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout(),
            conn: Mutex::new(None),
            failed_at: Mutex::new(None),
            window: redis::Script::new(WINDOW_SCRIPT),
        }
    }

    /// The full key for `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// False when caching is off (no usable `REDIS_URL`) or Redis failed moments ago: a reader can skip
    /// the cache, and the reference read that goes with it, altogether.
    pub fn usable(&self) -> bool {
        self.client.is_some() && !self.failed_recently()
    }

    /// A connect failed less than [`RECONNECT_AFTER`] ago.
    fn failed_recently(&self) -> bool {
        self.failed_at
            .lock()
            .ok()
            .is_some_and(|at| at.is_some_and(|at| at.elapsed() < RECONNECT_AFTER))
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(conn) = self.conn.lock().ok()?.clone() {
            return Some(conn);
        }
        if self.failed_recently() {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let client = self.client.clone()?;
        let connected = tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await;
        match connected {
            Ok(Ok(conn)) => {
                *self.conn.lock().ok()? = Some(conn.clone());
                *self.failed_at.lock().ok()? = None;
                Some(conn)
            }
            _ => {
                tracing::debug!("redis unreachable; serving without the cache");
                *self.failed_at.lock().ok()? = Some(Instant::now());
                None
            }
        }
    }

    async fn run<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        match tokio::time::timeout(self.timeout, op(conn)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                metrics::counter!("cache_errors_total").increment(1);
                tracing::debug!(error.message = %e, "redis operation failed");
                None
            }
            Err(_) => {
                metrics::counter!("cache_errors_total").increment(1);
                None
            }
        }
    }

    /// The cached bytes under `name`, if any and if Redis answers in time.
    pub async fn get(&self, name: &str) -> Option<Vec<u8>> {
        let key = self.key(name);
        let value: Option<Vec<u8>> = self.run(|mut c| async move { c.get(key).await }).await?;
        metrics::counter!("cache_requests_total", "result" => if value.is_some() { "hit" } else { "miss" })
            .increment(1);
        value
    }

    /// Caches `value` under `name` for `ttl`.
    pub async fn put(&self, name: &str, value: Vec<u8>, ttl: Duration) {
        let key = self.key(name);
        let secs = ttl.as_secs().max(1);
        let _: Option<()> = self
            .run(|mut c| async move { c.set_ex(key, value, secs).await })
            .await;
    }

    /// Seconds until `name` expires: 0 when it does not exist, `None` when Redis is unavailable.
    pub async fn ttl(&self, name: &str) -> Option<u64> {
        let key = self.key(name);
        let ttl: i64 = self.run(|mut c| async move { c.ttl(key).await }).await?;
        Some(u64::try_from(ttl).unwrap_or(0))
    }

    /// Sets `name` for `ttl` unless it exists: whether it was set, `None` when Redis is unavailable.
    pub async fn set_if_absent(&self, name: &str, ttl: Duration) -> Option<bool> {
        let key = self.key(name);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Some(set.is_some())
    }

    /// Removes `name`.
    pub async fn remove(&self, name: &str) {
        let key = self.key(name);
        let _: Option<i64> = self.run(|mut c| async move { c.del(key).await }).await;
    }

    /// Whether Redis answers now (readiness).
    pub async fn ping(&self) -> bool {
        let pong: Option<String> = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await;
        pong.is_some()
    }

    /// Counts one hit in the fixed window `name` of `window_secs`: (hits so far, seconds until the window
    /// resets). `None` when Redis is unavailable.
    pub async fn hit(&self, name: &str, window_secs: u64) -> Option<(u64, u64)> {
        let key = self.key(name);
        let script = &self.window;
        self.run(|mut c| async move {
            script
                .key(key)
                .arg(window_secs.max(1))
                .invoke_async(&mut c)
                .await
        })
        .await
    }
}

//! Sessions and the grant a token still carries. A sign-in opens a session; its access tokens carry the
//! session id (`sid`) and its refresh tokens rotate within it. On every request with a token the gateway
//! asks [`Grants::current`] what the session grants now: nothing once it was ended (logout, a reused
//! refresh token) or its account disabled, and the account's current role otherwise.
//!
//! Answers are cached per session in this process. Every change of a grant notifies
//! `airline_accounts` in its own transaction (triggers, see the migration); [`Grants::listen`] drops a
//! user's entries when the notification arrives, and the gateway that made the change drops them before
//! it answers. A read that raced a change is not cached (a generation count), while the listener is not
//! connected nothing is cached at all, and the listener notifies itself every few seconds and gives up
//! (dropping the cache) when it does not hear that back. An entry is used for at most 15 seconds and not
//! past its session's end, which bounds staleness even if notifications stopped in a way nobody noticed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use infra::auth::Role;
use infra::supervisor::Heartbeat;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

/// The notification channel.
pub const CHANNEL: &str = "airline_accounts";

/// Past this many cached sessions the cache starts over (a bound on memory, not an eviction policy).
const MAX_CACHED: usize = 100_000;

/// The longest an answer is used from the cache: a bound on staleness should notifications stop
/// arriving without the connection failing (a half-open connection, a pooler that drops LISTEN).
const ENTRY_TTL: Duration = Duration::from_secs(15);

/// The live sessions one account may have; signing in once more ends the oldest.
pub const MAX_LIVE_SESSIONS: i64 = 50;

/// How often the listener checks that its own notification comes back, and how long it may take.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_WITHIN: Duration = Duration::from_secs(10);

/// What a session grants now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The session is live; the account has this role.
    Active(Role),
    /// Ended, expired, unknown, or the account is disabled.
    Revoked,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    user_id: Uuid,
    grant: Grant,
    cached_at: Instant,
    /// When the session ends by itself.
    expires_at: DateTime<Utc>,
}

/// The per-process cache of grants, kept true by notifications.
#[derive(Debug)]
pub struct Grants {
    pool: PgPool,
    cache: Mutex<HashMap<Uuid, Entry>>,
    generation: AtomicU64,
    listening: AtomicBool,
}

impl Grants {
    /// An empty cache over `pool`; nothing is cached until [`Grants::listen`] runs.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    /// What session `sid` of `user_id` grants now.
    ///
    /// # Errors
    /// Database failures (the caller answers 503: no grant is assumed).
    pub async fn current(&self, sid: Uuid, user_id: Uuid) -> Result<Grant, sqlx::Error> {
        if let Some(entry) = self.cached(sid)
            && entry.user_id == user_id
            && entry.cached_at.elapsed() < ENTRY_TTL
            && Utc::now() < entry.expires_at
        {
            metrics::counter!("gateway_grant_lookups_total", "source" => "cache").increment(1);
            return Ok(entry.grant);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let row: Option<(String, bool, DateTime<Utc>)> = sqlx::query_as(
            "SELECT u.role, (s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled), s.expires_at \
             FROM sessions s JOIN users u USING (user_id) WHERE s.session_id = $1 AND s.user_id = $2",
        )
        .bind(sid)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        metrics::counter!("gateway_grant_lookups_total", "source" => "database").increment(1);
        let (grant, expires_at) = match row {
            Some((role, true, expires_at)) => {
                (Grant::Active(crate::accounts::role_of(&role)), expires_at)
            }
            Some((_, false, expires_at)) => (Grant::Revoked, expires_at),
            None => (Grant::Revoked, Utc::now()),
        };
        // Cached only if no change arrived while reading and the listener is up to report the next one.
        if let Ok(mut cache) = self.cache.lock()
            && self.listening.load(Ordering::SeqCst)
            && self.generation.load(Ordering::SeqCst) == generation
        {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(
                sid,
                Entry {
                    user_id,
                    grant,
                    cached_at: Instant::now(),
                    expires_at,
                },
            );
        }
        Ok(grant)
    }

    fn cached(&self, sid: Uuid) -> Option<Entry> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        self.cache.lock().ok()?.get(&sid).copied()
    }

    /// Drops what is cached about `user_id` (a change was committed).
    pub fn forget_user(&self, user_id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, e| e.user_id != user_id);
        }
    }

    fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Listens for changes until stopped (a supervised worker). Until it is listening, and whenever the
    /// connection drops, nothing is cached; a lost connection also drops the whole cache, since changes
    /// made while it was away were not heard.
    ///
    /// # Errors
    /// When listening fails; the supervisor starts it again.
    pub async fn listen(
        &self,
        beat: Heartbeat,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let result = self.listen_until(&beat, &mut stop).await;
        self.listening.store(false, Ordering::SeqCst);
        self.forget_all();
        result
    }

    async fn listen_until(
        &self,
        beat: &Heartbeat,
        stop: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        self.forget_all();
        self.listening.store(true, Ordering::SeqCst);
        beat.beat();
        // The listener proves it hears: it notifies itself every few seconds and must hear that back.
        let mut tick = tokio::time::interval(PING_EVERY);
        let mut ping: Option<(String, Instant)> = None;
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return Ok(());
                    }
                }
                _ = tick.tick() => {
                    match &ping {
                        Some((_, sent)) if sent.elapsed() > PING_WITHIN => {
                            anyhow::bail!("the listener did not hear its own notification back");
                        }
                        Some(_) => {}
                        None => {
                            // On the listening connection itself: a busy pool must not keep this
                            // loop from reading the notifications that revoke grants.
                            let token = format!("ping:{}", Uuid::new_v4());
                            sqlx::query("SELECT pg_notify($1, $2)")
                                .bind(CHANNEL)
                                .bind(&token)
                                .execute(&mut listener)
                                .await?;
                            ping = Some((token, Instant::now()));
                        }
                    }
                }
                received = listener.try_recv() => match received? {
                    Some(notification) => {
                        let payload = notification.payload();
                        if payload.starts_with("ping:") {
                            if ping.as_ref().is_some_and(|(t, _)| t == payload) {
                                ping = None;
                                beat.beat();
                            }
                            continue;
                        }
                        match payload.parse::<Uuid>() {
                            Ok(user) => self.forget_user(user),
                            Err(_) => self.forget_all(),
                        }
                    }
                    // The connection was lost; sqlx reconnects on the next call, but what was said
                    // meanwhile is gone.
                    None => {
                        self.listening.store(false, Ordering::SeqCst);
                        self.forget_all();
                        anyhow::bail!("the notification connection was lost");
                    }
                },
            }
        }
    }
}

/// The stored form of a refresh token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new refresh token: 32 random bytes, hex, prefixed so it is recognisable in a leak scan.
pub fn new_refresh_token() -> String {
    format!("rt_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// A new session's first pair.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The session id (`sid`).
    pub session_id: Uuid,
    /// Its first refresh token.
    pub refresh_token: String,
}

/// Opens a session for `user_id` lasting `ttl` (the refresh tokens' horizon; it does not slide).
///
/// # Errors
/// Database failures.
pub async fn open(pool: &PgPool, user_id: Uuid, ttl: Duration) -> Result<Opened, sqlx::Error> {
    let session_id = Uuid::now_v7();
    let refresh_token = new_refresh_token();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (session_id, user_id, expires_at) \
         VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(ttl.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)")
        .bind(hash_token(&refresh_token))
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    // What one account keeps is bounded: past MAX_LIVE_SESSIONS sign-ins the oldest live ones end, and
    // sessions ended a day ago go (their refresh tokens with them).
    sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'too_many_sessions' \
         WHERE session_id IN (SELECT session_id FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
             ORDER BY created_at DESC, session_id DESC OFFSET $2)",
    )
    .bind(user_id)
    .bind(MAX_LIVE_SESSIONS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 \
         AND (expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day')",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Opened {
        session_id,
        refresh_token,
    })
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone)]
pub enum Refreshed {
    /// A new refresh token in the same session, for this account.
    Rotated {
        /// The session.
        session_id: Uuid,
        /// When it ends at the latest.
        expires_at: DateTime<Utc>,
        /// The next refresh token.
        refresh_token: String,
        /// The account.
        user: crate::accounts::User,
    },
    /// Unknown, or its session ended or expired, or its account is disabled.
    Invalid,
    /// Used before: the session (every token rotated from its sign-in) is ended now.
    Reused {
        /// The user whose session was ended.
        user_id: Uuid,
    },
}

/// A refresh token with its session and account: session, used, user, live, email, role, expiry.
type RefreshRow = (
    Uuid,
    bool,
    Uuid,
    bool,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// Rotates a refresh token: marks it used and issues the next; a token used before ends its session.
/// The row lock serialises two uses of one token, so exactly one of them rotates.
///
/// # Errors
/// Database failures.
pub async fn refresh(pool: &PgPool, token: &str) -> Result<Refreshed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT r.session_id, r.used_at IS NOT NULL, s.user_id, \
           (s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled), u.email, u.role, s.expires_at, \
           u.created_at \
         FROM refresh_tokens r JOIN sessions s USING (session_id) JOIN users u USING (user_id) \
         WHERE r.token_hash = $1 FOR UPDATE OF r, s",
    )
    .bind(hash_token(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((session_id, used, user_id, live, email, role, expires_at, created_at)) = row else {
        return Ok(Refreshed::Invalid);
    };
    if used {
        sqlx::query(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh_token_reused' \
             WHERE session_id = $1 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics::counter!("refresh_token_reuse_total").increment(1);
        tracing::warn!(%user_id, %session_id, "a used refresh token was presented again; session ended");
        return Ok(Refreshed::Reused { user_id });
    }
    if !live {
        return Ok(Refreshed::Invalid);
    }
    let next = new_refresh_token();
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(hash_token(token))
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)")
        .bind(hash_token(&next))
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Refreshed::Rotated {
        session_id,
        expires_at,
        refresh_token: next,
        user: crate::accounts::User {
            id: user_id,
            email,
            role: crate::accounts::role_of(&role),
            created_at,
        },
    })
}

/// Ends a session (logout); whether it was live.
///
/// # Errors
/// Database failures.
pub async fn end(pool: &PgPool, session_id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' \
         WHERE session_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

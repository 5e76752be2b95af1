//! Signed webhooks: subscriptions, the delivery log, signing, delivering, and the consumer that records
//! one delivery per matching subscription and message (inbox) and retries each until it is delivered.
//!
//! Each delivery is a POST of the event message as JSON with
//! `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>`
//! and `Webhook-Id: <delivery id>` (the same on every retry, so receivers can deduplicate).
//!
//! Past 400 lines on purpose: subscriptions, signing, the delivery attempt and the consumer all move the
//! same delivery rows through their states, and the states read best in one place.

use chrono::Utc;
use hmac::{Hmac, Mac};
use infra::amqp::EventMessage;
use serde::Serialize;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::consumer::{Handler, StepError};

/// A subscription.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    /// Id.
    pub webhook_id: Uuid,
    /// Endpoint.
    pub url: String,
    /// Routing-key patterns (`booking.*`, `#`).
    pub events: Vec<String>,
    /// Whether deliveries are made (false: paused; events meanwhile are not delivered).
    pub active: bool,
    /// When created.
    pub created_at: chrono::DateTime<Utc>,
    /// Until when deliveries are signed with the previous secret too, after a rotation.
    pub previous_secret_expires_at: Option<chrono::DateTime<Utc>>,
}

const WEBHOOK_COLUMNS: &str =
    "webhook_id, url, events, active, created_at, previous_secret_expires_at";

/// One delivery attempt record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// Id (`Webhook-Id`).
    pub delivery_id: Uuid,
    /// Subscription.
    pub webhook_id: Uuid,
    /// Event id.
    pub message_id: Uuid,
    /// Event type.
    pub event_type: String,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// The endpoint's last status.
    pub response_status: Option<i32>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When recorded.
    pub created_at: chrono::DateTime<Utc>,
    /// When delivered.
    pub delivered_at: Option<chrono::DateTime<Utc>>,
}

/// `t=<unix>,v1=<hex>` for `body` at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never takes the `else`.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub use infra::topic::matches;

/// Creates a subscription with a fresh secret; returns it and the secret (shown once).
///
/// # Errors
/// Database failures.
pub async fn create(
    pool: &PgPool,
    url: &str,
    events: &[String],
    by: Uuid,
) -> Result<(Webhook, String), sqlx::Error> {
    let secret = new_secret();
    let webhook = sqlx::query_as(&format!(
        "INSERT INTO webhooks (webhook_id, url, secret, events, created_by) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(url)
    .bind(&secret)
    .bind(events)
    .bind(by)
    .fetch_one(pool)
    .await?;
    Ok((webhook, secret))
}

/// Every subscription.
///
/// # Errors
/// Database failures.
pub async fn list(pool: &PgPool) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at"
    ))
    .fetch_all(pool)
    .await
}

fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// Pauses (`false`) or resumes (`true`) a subscription; `None` when there is none.
///
/// # Errors
/// Database failures.
pub async fn set_active(
    pool: &PgPool,
    webhook_id: Uuid,
    active: bool,
) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhooks SET active = $2 WHERE webhook_id = $1 RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(webhook_id)
    .bind(active)
    .fetch_optional(pool)
    .await
}

/// Deletes a subscription and its delivery log; whether there was one.
///
/// # Errors
/// Database failures.
pub async fn delete(pool: &PgPool, webhook_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1")
        .bind(webhook_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a subscription a new secret; the old one keeps signing too for `overlap_secs`. Returns the
/// subscription and the new secret (shown only here); `None` when there is none.
///
/// # Errors
/// Database failures.
pub async fn rotate_secret(
    pool: &PgPool,
    webhook_id: Uuid,
    overlap_secs: u32,
) -> Result<Option<(Webhook, String)>, sqlx::Error> {
    let secret = new_secret();
    let webhook: Option<Webhook> = sqlx::query_as(&format!(
        "UPDATE webhooks SET previous_secret = secret, secret = $2, \
           previous_secret_expires_at = now() + make_interval(secs => $3) \
         WHERE webhook_id = $1 RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(webhook_id)
    .bind(&secret)
    .bind(f64::from(overlap_secs))
    .fetch_optional(pool)
    .await?;
    Ok(webhook.map(|w| (w, secret)))
}

/// How webhooks go out: the guarded client, and whether non-public destinations are let through.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    /// The guarded client of [`crate::destination::client`].
    ///
    /// # Errors
    /// When the TLS backend cannot start, or `extra_roots` cannot be read.
    pub fn new(
        timeout: std::time::Duration,
        allow_private: bool,
        extra_roots: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::destination::client(timeout, allow_private, extra_roots)?,
            allow_private,
        })
    }

    /// Whether non-public destinations are let through.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }
}

const DELIVERY_COLUMNS: &str = "delivery_id, webhook_id, message_id, event_type, status, attempts, response_status, \
     last_error, created_at, delivered_at";

/// A subscription's deliveries, newest first.
///
/// # Errors
/// Database failures.
pub async fn deliveries(
    pool: &PgPool,
    webhook_id: Uuid,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Delivers one delivery now and records the outcome.
///
/// # Errors
/// Database failures; an endpoint failure is recorded, not returned.
pub async fn attempt(
    pool: &PgPool,
    outbound: &Outbound,
    delivery_id: Uuid,
) -> Result<Option<Delivery>, sqlx::Error> {
    let row: Option<(String, String, Option<String>, serde_json::Value)> = sqlx::query_as(
        "SELECT w.url, w.secret, \
           CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END, d.payload \
         FROM webhook_deliveries d JOIN webhooks w USING (webhook_id) WHERE d.delivery_id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    let Some((url, secret, previous, payload)) = row else {
        return Ok(None);
    };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let timestamp = Utc::now().timestamp();
    let mut signed = signature(&secret, timestamp, &body);
    if let Some(previous) = previous {
        // `t=..,v1=<new>,v1=<old>`: a receiver accepts any v1 that matches a secret it holds.
        let old = signature(&previous, timestamp, &body);
        if let Some((_, v1)) = old.split_once(',') {
            signed = format!("{signed},{v1}");
        }
    }
    // Checked again at every delivery: a subscription stored before the rules, or edited in the
    // database, is refused here; a host name is checked after resolution by the client's resolver.
    let sent = match crate::destination::check_url(&url, outbound.allow_private) {
        Ok(checked) => outbound
            .client
            .post(checked)
            .header("content-type", "application/json")
            .header("webhook-id", delivery_id.to_string())
            .header("webhook-signature", signed)
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e)),
        Err(refusal) => {
            metrics::counter!("webhook_destinations_refused_total").increment(1);
            Err(format!("destination refused: {refusal}"))
        }
    };
    let (status, code, error) = match sent {
        Ok(r) if r.status().is_success() => {
            ("delivered", Some(i32::from(r.status().as_u16())), None)
        }
        Ok(r) => (
            "failed",
            Some(i32::from(r.status().as_u16())),
            Some(format!("endpoint answered {}", r.status())),
        ),
        Err(e) => ("failed", None, Some(e)),
    };
    metrics::counter!("webhook_attempts_total", "status" => status).increment(1);
    sqlx::query_as(&format!(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, response_status = $3, last_error = $4, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END WHERE delivery_id = $1 \
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .bind(delivery_id)
    .bind(status)
    .bind(code)
    .bind(error)
    .fetch_optional(pool)
    .await
}

/// An error with its causes, which is where reqwest says why a connection failed.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The webhook consumer.
#[derive(Debug, Clone)]
pub struct WebhookHandler {
    pool: PgPool,
    outbound: Outbound,
}

impl WebhookHandler {
    /// A handler on `pool`, calling endpoints through `outbound`.
    pub fn new(pool: PgPool, outbound: Outbound) -> Self {
        Self { pool, outbound }
    }
}

const CONSUMER: &str = "webhooks";

fn retry(e: impl std::fmt::Display) -> StepError {
    StepError::Retry(e.to_string())
}

impl Handler for WebhookHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn bindings(&self) -> &'static [&'static str] {
        &["#"]
    }

    async fn handle(&self, message: &EventMessage) -> Result<(), StepError> {
        let key = message.routing_key();
        let mut tx = self.pool.begin().await.map_err(retry)?;
        let first = sqlx::query("INSERT INTO notifier_inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(CONSUMER)
            .bind(message.event_id)
            .execute(&mut *tx)
            .await
            .map_err(retry)?
            .rows_affected()
            == 1;
        if first {
            let subscribers: Vec<(Uuid, Vec<String>)> =
                sqlx::query_as("SELECT webhook_id, events FROM webhooks WHERE active")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(retry)?;
            let payload =
                serde_json::to_value(message).map_err(|e| StepError::Poison(e.to_string()))?;
            for (webhook_id, _) in subscribers
                .into_iter()
                .filter(|(_, p)| p.iter().any(|p| matches(p, &key)))
            {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (delivery_id, webhook_id, message_id, event_type, payload, status) \
                     VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING",
                )
                .bind(Uuid::now_v7())
                .bind(webhook_id)
                .bind(message.event_id)
                .bind(&key)
                .bind(&payload)
                .execute(&mut *tx)
                .await
                .map_err(retry)?;
            }
        }
        tx.commit().await.map_err(retry)?;
        // Claim before calling out, so a concurrent consumer of the same message calls nobody twice.
        // Deliveries of a paused subscription are left as they are: not sent, and not retried once the
        // message is done (an admin can redeliver them).
        let claimed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE webhook_deliveries d SET status = 'sending', claimed_at = now() FROM webhooks w \
             WHERE w.webhook_id = d.webhook_id AND w.active AND d.message_id = $1 \
               AND (d.status IN ('pending', 'failed') OR (d.status = 'sending' AND d.claimed_at < now() - interval '60 seconds')) \
             RETURNING d.delivery_id",
        )
        .bind(message.event_id)
        .fetch_all(&self.pool)
        .await
        .map_err(retry)?;
        let mut failed = 0;
        for id in claimed {
            let done = attempt(&self.pool, &self.outbound, id)
                .await
                .map_err(retry)?;
            if done.is_some_and(|d| d.status != "delivered") {
                failed += 1;
            }
        }
        if failed > 0 {
            return Err(StepError::Retry(format!(
                "{failed} webhook deliveries failed"
            )));
        }
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries WHERE message_id = $1 AND status = 'sending'",
        )
        .bind(message.event_id)
        .fetch_one(&self.pool)
        .await
        .map_err(retry)?;
        if in_flight > 0 {
            return Err(StepError::Retry(
                "another consumer is delivering this message".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(matches("#", "booking.BookingPlaced"));
        assert!(matches("booking.*", "booking.BookingPlaced"));
        assert!(matches("booking.#", "booking.BookingPlaced"));
        assert!(matches("*.BookingPlaced", "booking.BookingPlaced"));
        assert!(!matches("flight.*", "booking.BookingPlaced"));
        assert!(!matches("booking", "booking.BookingPlaced"));
        assert!(!matches("booking.*.x", "booking.BookingPlaced"));
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_and_body() {
        // Checked against: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}

//! Test settings: the values the tests run with, one builder per settings struct. A test that needs
//! another value takes the builder's result and changes that field, so every difference is written
//! where it matters.

use infra::amqp::AmqpSettings;
use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings, TokenSettings};
use uuid::Uuid;

use crate::auth::{AUDIENCE, GATEWAY_AUDIENCE, ISSUER};

/// Loopback on a free port, 30 s requests, 16 KiB bodies.
pub fn http() -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        request_timeout_ms: 30_000,
        body_limit_bytes: 16 * 1024,
        header_timeout_ms: 10_000,
        shutdown_timeout_ms: 10_000,
        write_timeout_ms: 30_000,
        trusted_proxies: String::new(),
    }
}

/// A pool of `max_connections` (the URL is unused: tests hand the services a pool on a test database).
pub fn database(max_connections: u32) -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://unused".to_owned().into(),
        max_connections,
        acquire_timeout_ms: 10_000,
        read_url: None,
    }
}

/// Tokens checked with `public_pem`, the test issuer and audience.
pub fn token(public_pem: &str) -> TokenSettings {
    TokenSettings {
        public_key_pem: Some(public_pem.to_owned()),
        public_key_file: None,
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
    }
}

/// Redis at `url` under a key prefix of this test only (`test:<uuid>:`); never flushed.
pub fn redis(url: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        key_prefix: format!("test:{}:", Uuid::new_v4()),
        timeout_ms: 200,
    }
}

/// RabbitMQ at `url` with an exchange and queues of this test only, which expire after two minutes.
pub fn amqp(url: &str) -> AmqpSettings {
    let id = Uuid::new_v4().simple().to_string();
    AmqpSettings {
        url: url.to_owned(),
        exchange: format!("test.{id}.events"),
        queue_prefix: format!("test.{id}.notifier"),
        expires_ms: Some(120_000),
        timeout_ms: 5_000,
    }
}

/// The command API's: its workers' timers long (tests drive them by hand), leases zero (a test stands
/// in for a crashed worker by calling the next step at once), and a hold cap no crowd of one reaches.
pub fn command(public_pem: &str) -> command_api::config::Settings {
    command_api::config::Settings {
        database: database(8),
        http: http(),
        auth: token(public_pem),
        booking: command_api::config::BookingSettings {
            hold_minutes: 15,
            sweep_interval_ms: 60_000,
            sweep_lease_ms: 0,
            idempotency_lease_ms: 2_000,
            recovery_interval_ms: 60_000,
            payment_recovery_after_ms: 0,
            max_attempts: 50,
            // Most tests stand in for a crowd with one customer; the cap has its own tests.
            max_held_seats: 10_000,
            max_held_seats_per_client: 10_000,
            queue: Default::default(),
            new_accounts: Default::default(),
            close_minutes_before_departure: 45,
            close_interval_ms: 60_000,
            denied_boarding_compensation_minor: 25_000,
        },
        payments: Default::default(),
    }
}

/// The query API's, with its cache in `redis` (`url` "disabled": none).
pub fn query(public_pem: &str, redis: &RedisSettings) -> query_api::config::Settings {
    query_api::config::Settings {
        database: database(4),
        http: http(),
        redis: redis.clone(),
        auth: token(public_pem),
        cache: query_api::config::CacheSettings {
            search_ttl_secs: 60,
            seat_map_ttl_secs: 60,
        },
        feed: Default::default(),
    }
}

/// The notifier's: mail to `smtp_url`, quick retries, webhooks allowed to loopback.
pub fn notifier(
    public_pem: &str,
    amqp: &AmqpSettings,
    smtp_url: &str,
) -> notifier::config::Settings {
    notifier::config::Settings {
        database: database(4),
        http: HttpSettings {
            request_timeout_ms: 10_000,
            ..http()
        },
        amqp: amqp.clone(),
        smtp: notifier::config::SmtpSettings {
            url: smtp_url.to_owned(),
            from: "Airline <no-reply@airline.example>".to_owned(),
        },
        auth: token(public_pem),
        retry: notifier::config::RetrySettings {
            delays_ms: "50,100,200".to_owned(),
            webhook_timeout_ms: 2_000,
        },
        webhooks: notifier::config::WebhookSettings {
            allow_private_destinations: true,
            ca_file: None,
        },
    }
}

/// One rate-limit policy of `limit` requests a minute.
pub fn policy(limit: u64) -> gateway::config::Policy {
    gateway::config::Policy {
        limit,
        window_secs: 60,
    }
}

/// Every rate limit at `limit` a minute.
pub fn rate_limits(limit: u64) -> gateway::config::RateLimitSettings {
    gateway::config::RateLimitSettings {
        auth: policy(limit),
        signup: policy(limit),
        search: policy(limit),
        bookings: policy(limit),
        default: policy(limit),
    }
}

/// The gateway's upstreams (the projector not asked), 1 s each (2 s for a write).
pub fn upstreams(command: &str, query: &str, notifier: &str) -> gateway::config::UpstreamSettings {
    gateway::config::UpstreamSettings {
        command_api: command.to_owned(),
        query_api: query.to_owned(),
        notifier: notifier.to_owned(),
        projector: String::new(),
        timeout_ms: 1_000,
        write_timeout_ms: 2_000,
    }
}

/// The gateway's in development mode, signing with `private_pem`, 64 KiB bodies.
pub fn gateway(
    private_pem: &str,
    redis: &RedisSettings,
    upstreams: gateway::config::UpstreamSettings,
    limits: gateway::config::RateLimitSettings,
) -> gateway::config::Settings {
    gateway::config::Settings {
        environment: "development".to_owned(),
        database: database(4),
        http: HttpSettings {
            body_limit_bytes: 64 * 1024,
            ..http()
        },
        redis: redis.clone(),
        auth: gateway::config::AuthSettings {
            private_key_pem: Some(private_pem.to_owned().into()),
            private_key_file: None,
            dev_key_dir: "/nonexistent".to_owned(),
            issuer: ISSUER.to_owned(),
            audience: GATEWAY_AUDIENCE.to_owned(),
            internal_audience: AUDIENCE.to_owned(),
            token_ttl_secs: 900,
            refresh_ttl_secs: 86_400,
        },
        upstreams,
        rate_limits: limits,
        metrics_token: None,
        login_throttle: gateway::throttle::LoginThrottleSettings {
            account_free_failures: 5,
            ip_free_failures: 50,
            window_secs: 900,
            max_delay_secs: 900,
        },
        cors_origins: String::new(),
    }
}

/// The projector's: every projection and the relay publishing to `amqp`.
pub fn projector(amqp: &AmqpSettings) -> projector::config::Settings {
    projector::config::Settings {
        database: database(4),
        http: http(),
        projector: projector::config::ProjectorSettings {
            batch_size: 500,
            relay_batch_size: projector::config::RELAY_BATCH_SIZE,
            rebuild_batch_size: projector::config::REBUILD_BATCH_SIZE,
            poll_interval_ms: 500,
            stuck_after_ms: 30_000,
        },
        amqp: amqp.clone(),
    }
}

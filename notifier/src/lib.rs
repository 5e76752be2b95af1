//! The notifier: consumes events from RabbitMQ and turns them into passenger emails (SMTP) and signed
//! webhook deliveries. Each consumer has a durable queue, records every message once in an inbox table
//! in the same transaction as the notifications it causes, acks only after the side effects are done,
//! retries failures through delay queues with growing delays, and dead-letters what keeps failing (an
//! operator can list and requeue it).

pub mod config;
pub mod consumer;
pub mod destination;
pub mod email;
pub mod error;
pub mod render;
pub mod routes;
pub mod sink;
pub mod startup;
pub mod state;
pub mod topology;
pub mod webhooks;

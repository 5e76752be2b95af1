//! The projector: tails the event log in commit order, one checkpointed subscription per read model,
//! and applies each batch in the same transaction as its checkpoint (exactly once, even across
//! crashes). One instance runs each subscription (advisory lock, with standbys), and the checkpoint row
//! is locked for the batch, so two instances never apply the same events. It moves the search generation
//! (`rm_cache_generations`) in the batch's transaction, so the query API's cache keys follow Postgres and
//! never Redis's memory. The relay is one more subscription: it
//! publishes every event to RabbitMQ with publisher confirms (the events table is the outbox). It never
//! decides business rules.

pub mod config;
pub mod projections;
pub mod relay;
pub mod replay;
pub mod startup;
pub mod worker;

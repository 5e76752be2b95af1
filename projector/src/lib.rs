//! The projector: tails the event log in commit order, one checkpointed subscription per read model,
//! and applies each batch in the same transaction as its checkpoint (exactly once, even across
//! crashes). One instance runs each subscription (advisory lock, with standbys), and the checkpoint row
//! is locked for the batch, so two instances never apply the same events. After a commit it moves the
//! Redis cache's generations so readers drop stale entries. The relay is one more subscription: it
//! publishes every event to RabbitMQ with publisher confirms (the events table is the outbox). It never
//! decides business rules.

pub mod config;
pub mod projections;
pub mod relay;
pub mod replay;
pub mod startup;
pub mod worker;

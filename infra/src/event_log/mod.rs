//! Reading the event log in commit-safe order, and the per-subscription checkpoints.
//!
//! Events are ordered by `(tx_id, global_position)` and only rows of transactions older than every
//! transaction still running (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`) are returned. A plain
//! `global_position` cursor skips an event whose transaction took a lower position but committed after a
//! higher one had been read; this order never does, at the price of waiting for the oldest open
//! transaction.
//!
//! `stored` is the row and its commit-order reads, `fold` rebuilds an aggregate from its events,
//! `subscription` keeps a reader's checkpoint and its advisory lock, and `run` is the loop that follows
//! the log for one subscription.

pub mod fold;
pub mod run;
pub mod stored;
pub mod subscription;

pub use fold::{FoldError, fold, fold_onto};
pub use run::{EVENTS_CHANNEL, Outcome, Wakeup, run_subscription};
pub use stored::{
    COMMIT_ORDER, Position, SELECT_COLUMNS, StoredEvent, aggregate_events, read_after,
    read_after_sql,
};
pub use subscription::{Lag, Subscription, SubscriptionLock};

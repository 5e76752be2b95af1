//! Waiting for a projection or the relay to catch up: step it until it is idle *and* its subscription's
//! checkpoint has reached the end of the log, within a deadline. The commit-safe horizon is
//! cluster-wide, so a step may find nothing while another test's transaction is still open; then it
//! tries again a few milliseconds later, never longer than the deadline.

use std::future::Future;
use std::time::Duration;

use infra::event_log::{Outcome, Subscription};
use projector::projections::Projection;
use projector::relay::Relay;
use projector::worker::Worker;
use sqlx::PgPool;

/// How long a projection or the relay may take to catch up in a test.
pub const CATCH_UP_WITHIN: Duration = Duration::from_secs(10);

/// The batch a test's projection worker reads.
pub const BATCH: i64 = 100;

/// Runs `step` until it reports [`Outcome::Idle`] with `subscription` level with the log; panics
/// naming `what` after `within`.
pub async fn until_level<F, Fut>(
    pool: &PgPool,
    subscription: &Subscription,
    (what, within): (&str, Duration),
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let outcome = step().await;
        if outcome == Outcome::Idle
            && subscription
                .lag(pool)
                .await
                .expect("cannot read the subscription's lag")
                .events_behind
                == 0
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not catch up"
        );
        if outcome == Outcome::Idle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A worker of `projection` on `pool`, reading [`BATCH`] events a step.
pub fn worker(pool: &PgPool, projection: Projection) -> Worker {
    Worker::new(pool.clone(), projection, BATCH)
}

/// Runs every projection until it has read everything appended so far.
pub async fn project_all(pool: &PgPool) {
    for projection in Projection::ALL {
        let worker = worker(pool, projection);
        let what = format!("projection {}", projection.name());
        until_level(
            pool,
            &Subscription::new(projection.name()),
            (&what, CATCH_UP_WITHIN),
            || async {
                worker.drain().await.expect("a projection step failed");
                Outcome::Idle
            },
        )
        .await;
    }
}

/// Publishes everything appended so far through `relay`, within `within`.
pub async fn relay_all(pool: &PgPool, relay: &Relay, within: Duration) {
    until_level(
        pool,
        &Subscription::new(projector::relay::SUBSCRIPTION),
        ("the relay", within),
        || async {
            relay
                .process_next_batch()
                .await
                .expect("a relay step failed")
        },
    )
    .await;
}

//! The one retry backoff: capped exponential, with jitter so that processes retrying the same thing
//! spread out instead of colliding again. The executor's conflict retries, the supervisor's restarts,
//! and the SQL that sets a failed payment or hold deadline aside for later all take their delays from
//! here (the SQL through [`Backoff::sql_seconds`], so the formula exists once).

use std::time::Duration;

/// A capped exponential backoff: the ceiling after `n` failures is `first * 2^n`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first` and doubles up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The longest delay after `failures` failures before this one (0 for the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        self.first
            .checked_mul(1u32 << failures.min(31))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// A delay drawn from `[0, ceiling]` ("full jitter"): the least total wait for racers that only
    /// need to stop colliding (conflicting writers).
    pub fn full_jitter(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures).as_micros() as u64;
        Duration::from_micros(rand::random_range(0..=ceiling))
    }

    /// A delay drawn from `[ceiling / 2, ceiling]`: never much sooner than planned, for restarts that
    /// must give a failing dependency time.
    pub fn equal_jitter(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures).as_micros() as u64;
        Duration::from_micros(rand::random_range(ceiling / 2..=ceiling))
    }

    /// The same delay as [`Backoff::equal_jitter`] in whole and fractional seconds, as a SQL expression
    /// over `failures` (a column or expression counting the failures before this one), for a row that
    /// is set aside and picked up again by a worker (`now() + make_interval(secs => <this>)`).
    pub fn sql_seconds(&self, failures: &str) -> String {
        let (first, max) = (self.first.as_secs_f64(), self.max.as_secs_f64());
        format!(
            "(least({first} * power(2, least({failures}, 31)), {max}) * (0.5 + random() * 0.5))"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));

    #[test]
    fn the_ceiling_doubles_per_failure_up_to_the_cap() {
        assert_eq!(B.ceiling(0), Duration::from_millis(200));
        assert_eq!(B.ceiling(1), Duration::from_millis(400));
        assert_eq!(B.ceiling(7), Duration::from_millis(25_600));
        assert_eq!(B.ceiling(8), Duration::from_secs(30));
        assert_eq!(B.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jittered_delays_stay_within_their_bounds_and_vary() {
        for failures in [0, 3, 40] {
            let ceiling = B.ceiling(failures);
            let full: Vec<_> = (0..200).map(|_| B.full_jitter(failures)).collect();
            let equal: Vec<_> = (0..200).map(|_| B.equal_jitter(failures)).collect();
            assert!(full.iter().all(|d| *d <= ceiling));
            assert!(equal.iter().all(|d| *d >= ceiling / 2 && *d <= ceiling));
            assert!(full.iter().any(|d| *d != full[0]), "no jitter: {full:?}");
            assert!(equal.iter().any(|d| *d != equal[0]), "no jitter: {equal:?}");
        }
    }
}

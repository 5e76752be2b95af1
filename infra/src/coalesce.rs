//! Share one Postgres read among many concurrent requests without giving up read-after-write.
//!
//! A cached read model is only as fresh as the reference version it is looked up by, and that version
//! lives in Postgres (see [`crate::cache`]). Reading it once per request costs a round trip each; under
//! load most of those reads return the same row. A [`Coalesced`] value hands every caller the result of a
//! read that *started after the caller arrived*, so the caller sees every commit that finished before its
//! request did, exactly as if it had read for itself, while a single read serves every caller that
//! arrived during the previous one. At most one read per value is in flight.
//!
//! Cancellation is safe: a caller dropped mid-read releases the read lock and the next waiter reads.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One shared value read from the reference.
#[derive(Debug)]
pub struct Coalesced<T> {
    /// How many reads have started; a read's number is taken just before it is sent.
    started: AtomicU64,
    /// The latest finished read: its number and value.
    latest: Mutex<Option<(u64, T)>>,
    /// Held while a read is in flight; waiters queue in order.
    reading: tokio::sync::Mutex<()>,
}

impl<T> Default for Coalesced<T> {
    fn default() -> Self {
        Self {
            started: AtomicU64::new(0),
            latest: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Clone> Coalesced<T> {
    /// The value from a read that started after this call began: the caller's own `read` or one a
    /// concurrent caller ran meanwhile. An error of the caller's own read is returned to it alone.
    pub async fn get<F, Fut, E>(&self, read: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let arrived = self.started.load(Ordering::SeqCst);
        let _reading = self.reading.lock().await;
        if let Some(value) = self.finished_after(arrived) {
            return Ok(value);
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let value = read().await?;
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some((number, value.clone()));
        }
        Ok(value)
    }

    fn finished_after(&self, arrived: u64) -> Option<T> {
        let latest = self.latest.lock().ok()?;
        latest
            .as_ref()
            .filter(|(number, _)| *number > arrived)
            .map(|(_, value)| value.clone())
    }
}

/// A [`Coalesced`] value per key (a seat map's version per flight). Keys whose read finds nothing, fails
/// or is abandoned are forgotten, so looking up keys that do not exist cannot grow the map.
#[derive(Debug)]
pub struct CoalescedMap<K, T> {
    slots: Mutex<HashMap<K, Arc<Coalesced<Option<T>>>>>,
}

impl<K, T> Default for CoalescedMap<K, T> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, T: Clone> CoalescedMap<K, T> {
    /// As [`Coalesced::get`] for `key`; `None` when the read found no row.
    pub async fn get<F, Fut, E>(&self, key: &K, read: F) -> Result<Option<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let slot = self
            .slots
            .lock()
            .map(|mut slots| Arc::clone(slots.entry(key.clone()).or_default()))
            .unwrap_or_default();
        // Unless the read finds a row, the key is forgotten: when it finds none, fails, or the caller
        // goes away mid-read.
        let mut forget = Forget {
            map: self,
            key: Some(key),
        };
        let value = slot.get(read).await?;
        if value.is_some() {
            forget.key = None;
        }
        Ok(value)
    }
}

/// Removes its key from the map when dropped, unless disarmed.
struct Forget<'a, K: Hash + Eq, T> {
    map: &'a CoalescedMap<K, T>,
    key: Option<&'a K>,
}

impl<K: Hash + Eq, T> Drop for Forget<'_, K, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key
            && let Ok(mut slots) = self.map.slots.lock()
        {
            slots.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;
    use std::time::Duration;

    use super::*;

    /// The reference: a counter a "projector" moves; a read takes a while, like a round trip.
    struct Reference {
        value: AtomicI64,
        reads: AtomicU64,
    }

    impl Reference {
        async fn read(&self) -> Result<i64, ()> {
            let value = self.value.load(Ordering::SeqCst);
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(value)
        }
    }

    #[tokio::test]
    async fn a_caller_never_sees_a_value_older_than_one_committed_before_it_arrived() {
        let reference = Arc::new(Reference {
            value: AtomicI64::new(0),
            reads: AtomicU64::new(0),
        });
        let shared = Arc::new(Coalesced::<i64>::default());
        let mut callers = Vec::new();
        for i in 0..200_i64 {
            if i % 20 == 0 {
                reference.value.fetch_add(1, Ordering::SeqCst);
            }
            let committed = reference.value.load(Ordering::SeqCst);
            let (reference, shared) = (Arc::clone(&reference), Arc::clone(&shared));
            callers.push(tokio::spawn(async move {
                let seen = shared.get(|| reference.read()).await.unwrap();
                (committed, seen)
            }));
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        for caller in callers {
            let (committed, seen) = caller.await.unwrap();
            assert!(
                seen >= committed,
                "saw {seen} after {committed} had committed"
            );
        }
        let reads = reference.reads.load(Ordering::SeqCst);
        assert!(
            reads < 100,
            "{reads} reads for 200 callers: nothing was shared"
        );
    }

    #[tokio::test]
    async fn an_error_goes_to_its_own_caller_and_the_next_caller_reads_again() {
        let shared = Coalesced::<i64>::default();
        assert_eq!(
            shared.get(|| async { Err::<i64, _>("down") }).await,
            Err("down")
        );
        assert_eq!(shared.get(|| async { Ok::<_, &str>(7) }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_caller_dropped_mid_read_does_not_block_the_others() {
        let shared = Arc::new(Coalesced::<i64>::default());
        let stuck = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                shared
                    .get(|| async {
                        std::future::pending::<()>().await;
                        Ok::<_, ()>(1)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        stuck.abort();
        let value = tokio::time::timeout(
            Duration::from_secs(1),
            shared.get(|| async { Ok::<_, ()>(2) }),
        )
        .await
        .expect("the next caller reads");
        assert_eq!(value, Ok(2));
    }

    #[tokio::test]
    async fn missing_keys_are_forgotten() {
        let map = CoalescedMap::<u32, i64>::default();
        for key in 0..100 {
            assert_eq!(
                map.get(&key, || async { Ok::<_, ()>(None) }).await,
                Ok(None)
            );
        }
        assert_eq!(
            map.get(&7, || async { Ok::<_, ()>(Some(3)) }).await,
            Ok(Some(3))
        );
        assert_eq!(map.slots.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn keys_whose_read_fails_or_is_abandoned_are_forgotten() {
        let map = Arc::new(CoalescedMap::<u32, i64>::default());
        for key in 0..50 {
            assert_eq!(
                map.get(&key, || async { Err::<Option<i64>, _>(()) }).await,
                Err(())
            );
        }
        let mut abandoned = Vec::new();
        for key in 50..100 {
            let map = map.clone();
            abandoned.push(tokio::spawn(async move {
                map.get(&key, || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, ()>(Some(1))
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for task in &abandoned {
            task.abort();
        }
        for task in abandoned {
            let _ = task.await;
        }
        assert_eq!(map.slots.lock().unwrap().len(), 0);
    }
}

//! Failed sign-ins slow down, per account *from one client address* and per client address, with
//! growing delays: the first few failures within the window are free, each one past them locks further
//! attempts for twice as long as the one before (1 s, 2 s, 4 s, ... up to the cap). A locked attempt is
//! 429 with `Retry-After` before any password is checked; a success clears that account's count from
//! that address (not the address's own). A stranger's failures therefore lock the account only from the
//! stranger's address: the owner signs in from elsewhere. Guessing one account from many addresses is
//! still slow: one password check per account runs at a time (argon2id), however many addresses ask. The counts live in
//! Redis, shared by every gateway; with Redis down sign-in is not throttled (argon2id keeps each guess
//! expensive) and `rate_limit_unavailable_total` counts it.

use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use infra::cache::Cache;

/// How sign-in failures are throttled.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginThrottleSettings {
    /// Failures per account from one address within the window before delays start.
    pub account_free_failures: u64,
    /// Failures per IP within the window before delays start (offices share an address).
    pub ip_free_failures: u64,
    /// The window the failures are counted in.
    pub window_secs: u64,
    /// The longest delay.
    pub max_delay_secs: u64,
}

/// The subjects a sign-in is counted against: the account from this address, and the address.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The account alone: its one-check-at-a-time slot.
    account: String,
    /// The account from this address: its failures and lock.
    account_here: String,
    ip: String,
}

impl Subjects {
    /// The account (by its normalised email, hashed so Redis holds no addresses) and the client's
    /// address (an IPv6 client by its /64: one host can hold a whole /64).
    pub fn new(email: &str, ip: &str) -> Self {
        let normal = email.trim().to_lowercase();
        let digest = hex::encode(&Sha256::digest(normal.as_bytes())[..16]);
        let ip = match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Ok(std::net::IpAddr::V6(v6)) => v6
                .to_ipv4_mapped()
                .map_or_else(String::new, |v4| v4.to_string()),
            _ => ip.to_owned(),
        };
        Self {
            account: format!("acct:{digest}"),
            account_here: format!("acct:{digest}:ip:{ip}"),
            ip: format!("ip:{ip}"),
        }
    }
}

/// Takes the account's one slot for a password check, so parallel guesses cannot all pass the lock
/// check before the first failure sets it: `false` while another check of that account runs. Free
/// (`true`) when Redis is unavailable.
pub async fn begin_attempt(cache: &Cache, subjects: &Subjects) -> bool {
    cache
        .set_if_absent(
            &format!("login:busy:{}", subjects.account),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or(true)
}

/// Gives the slot back.
pub async fn end_attempt(cache: &Cache, subjects: &Subjects) {
    cache
        .remove(&format!("login:busy:{}", subjects.account))
        .await;
}

/// Seconds until another attempt is allowed, if one is locked now.
pub async fn locked_for(cache: &Cache, subjects: &Subjects) -> Option<u64> {
    let account = cache
        .ttl(&format!("login:lock:{}", subjects.account_here))
        .await;
    let ip = cache.ttl(&format!("login:lock:{}", subjects.ip)).await;
    if account.is_none() && ip.is_none() {
        metrics::counter!("rate_limit_unavailable_total").increment(1);
    }
    let longest = account.unwrap_or(0).max(ip.unwrap_or(0));
    (longest > 0).then_some(longest)
}

/// The delay after the `failures`-th failure when `free` are free: 0, then 1 s doubling to `max`.
pub fn delay_after(failures: u64, free: u64, max: u64) -> u64 {
    if failures <= free {
        return 0;
    }
    let doublings = (failures - free - 1).min(32);
    (1u64 << doublings).min(max)
}

/// Records a failed sign-in; returns the delay it set (the longest of the two).
pub async fn failed(cache: &Cache, settings: &LoginThrottleSettings, subjects: &Subjects) -> u64 {
    let mut longest = 0;
    for (subject, free) in [
        (&subjects.account_here, settings.account_free_failures),
        (&subjects.ip, settings.ip_free_failures),
    ] {
        let Some((failures, _)) = cache
            .hit(&format!("login:fail:{subject}"), settings.window_secs)
            .await
        else {
            continue;
        };
        let delay = delay_after(failures, free, settings.max_delay_secs);
        if delay > 0 {
            cache
                .put(
                    &format!("login:lock:{subject}"),
                    b"1".to_vec(),
                    Duration::from_secs(delay),
                )
                .await;
            longest = longest.max(delay);
        }
    }
    if longest > 0 {
        metrics::counter!("login_throttled_total").increment(1);
    }
    longest
}

/// A successful sign-in clears the account's failures from that address.
pub async fn succeeded(cache: &Cache, subjects: &Subjects) {
    cache
        .remove(&format!("login:fail:{}", subjects.account_here))
        .await;
    cache
        .remove(&format!("login:lock:{}", subjects.account_here))
        .await;
}

#[cfg(test)]
mod tests {
    use super::delay_after;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let delays: Vec<u64> = (1..=12).map(|n| delay_after(n, 5, 60)).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60]);
        assert_eq!(delay_after(u64::MAX, 5, 900), 900);
    }
}

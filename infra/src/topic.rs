//! Routing keys and topic patterns, as RabbitMQ's topic exchanges read them. The relay publishes each
//! event under its routing key; the event feed and webhook subscriptions filter by the same patterns.

/// `<aggregate_type>.<event_type>`, e.g. `booking.BookingConfirmed`: the routing key on the broker and
/// the type in the event feed.
pub fn routing_key(aggregate_type: &str, event_type: &str) -> String {
    format!("{aggregate_type}.{event_type}")
}

/// Whether a routing key (`booking.BookingConfirmed`) matches a topic pattern: `*` one word, `#` any
/// number, as RabbitMQ's topic exchanges match.
pub fn matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

//! The allow-list: every API route the gateway proxies, with its method and the service behind it.
//! Anything else under `/api/v1` is 404 here (and a known path with another method 405 with `Allow`), so
//! an upstream's `/metrics`, `/readyz` or operator routes are never reachable through the gateway. A test
//! holds this table equal to the upstreams' OpenAPI documents.

use axum::http::Method;

/// The service a route lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Writes.
    Command,
    /// Reads.
    Query,
    /// Webhooks and dead letters.
    Notifier,
}

/// One proxied route.
#[derive(Debug, Clone, Copy)]
pub struct ProxiedRoute {
    /// The HTTP method (GET also answers HEAD).
    pub method: &'static str,
    /// The route template, axum syntax.
    pub path: &'static str,
    /// Where it goes.
    pub upstream: Upstream,
}

const fn route(method: &'static str, path: &'static str, upstream: Upstream) -> ProxiedRoute {
    ProxiedRoute {
        method,
        path,
        upstream,
    }
}

use Upstream::{Command, Notifier, Query};

/// The table.
pub const ROUTES: &[ProxiedRoute] = &[
    route("POST", "/api/v1/aircraft", Command),
    route("GET", "/api/v1/aircraft", Query),
    route("GET", "/api/v1/aircraft/{id}", Query),
    route("POST", "/api/v1/airports", Command),
    route("GET", "/api/v1/airports", Query),
    route("GET", "/api/v1/currencies", Query),
    route("GET", "/api/v1/airports/{code}", Query),
    route("PATCH", "/api/v1/airports/{code}", Command),
    route("POST", "/api/v1/flights", Command),
    route("GET", "/api/v1/flights", Query),
    route("GET", "/api/v1/flights/{id}", Query),
    route("PATCH", "/api/v1/flights/{id}", Command),
    route("POST", "/api/v1/flights/{id}/cancel", Command),
    route("POST", "/api/v1/flights/{id}/close", Command),
    route("POST", "/api/v1/flights/{id}/delay", Command),
    route("GET", "/api/v1/flights/{id}/seats", Query),
    route("GET", "/api/v1/flights/{id}/history", Query),
    route("GET", "/api/v1/journeys", Query),
    route("POST", "/api/v1/bookings", Command),
    route("GET", "/api/v1/bookings", Query),
    route("GET", "/api/v1/bookings/{id}", Query),
    route("GET", "/api/v1/bookings/{id}/history", Query),
    route("GET", "/api/v1/bookings/{id}/events", Query),
    route("GET", "/api/v1/events", Query),
    route("POST", "/api/v1/bookings/{id}/payment", Command),
    route("POST", "/api/v1/bookings/{id}/cancel", Command),
    route("POST", "/api/v1/bookings/{id}/seat-changes", Command),
    route("PATCH", "/api/v1/bookings/{id}/passengers/{n}", Command),
    route("GET", "/api/v1/analytics/revenue", Query),
    route("GET", "/api/v1/analytics/load-factors", Query),
    route("GET", "/api/v1/analytics/classes", Query),
    route("GET", "/api/v1/analytics/cancellations", Query),
    route("GET", "/api/v1/analytics/conversion", Query),
    route("POST", "/api/v1/webhooks", Notifier),
    route("GET", "/api/v1/webhooks", Notifier),
    route("DELETE", "/api/v1/webhooks/{id}", Notifier),
    route("POST", "/api/v1/webhooks/{id}/pause", Notifier),
    route("POST", "/api/v1/webhooks/{id}/resume", Notifier),
    route("POST", "/api/v1/webhooks/{id}/secret", Notifier),
    route("GET", "/api/v1/webhooks/{id}/deliveries", Notifier),
    route(
        "POST",
        "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
        Notifier,
    ),
    route("GET", "/api/v1/admin/dead-letters/{consumer}", Notifier),
    route(
        "POST",
        "/api/v1/admin/dead-letters/{consumer}/requeue",
        Notifier,
    ),
];

impl ProxiedRoute {
    /// The method as a type.
    ///
    /// # Panics
    /// Never for the table above (a test parses every entry).
    #[allow(clippy::expect_used)] // The table is a constant, checked by a test.
    pub fn method(&self) -> Method {
        Method::from_bytes(self.method.as_bytes()).expect("a method in the route table")
    }
}

/// The longest path the gateway takes; longer is refused before routing.
pub const MAX_PATH_BYTES: usize = 2048;

/// Why a path is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Longer than [`MAX_PATH_BYTES`].
    TooLong,
    /// A `.` or `..` segment, in any spelling.
    DotSegment,
    /// An encoded `/`, a backslash, NUL, another control character, or a broken escape.
    BadCharacter,
}

/// Checks a raw request path, segment by segment, as every upstream and every URL parser on the way
/// could read it: each segment is percent-decoded once and must then be neither `.` nor `..` and hold no
/// slash, backslash or control character. A raw backslash is refused too (some parsers read it as `/`).
///
/// # Errors
/// Which rule the path breaks.
pub fn check_path(path: &str) -> Result<(), BadPath> {
    if path.len() > MAX_PATH_BYTES {
        return Err(BadPath::TooLong);
    }
    for segment in path.split('/') {
        let decoded = percent_decode(segment).ok_or(BadPath::BadCharacter)?;
        if decoded == b"." || decoded == b".." {
            return Err(BadPath::DotSegment);
        }
        if decoded
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b.is_ascii_control())
        {
            return Err(BadPath::BadCharacter);
        }
    }
    Ok(())
}

fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_traversal_spelling_is_refused_and_ordinary_paths_pass() {
        for ok in [
            "/api/v1/flights",
            "/api/v1/flights/0b5e/seats",
            "/api/v1/airports/CDG",
            "/api/v1/flights/a.b",
            "/api/v1/flights/...",
            "/api/v1/flights/%41",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for dots in [
            "/api/v1/../../metrics",
            "/api/v1/./flights",
            "/api/v1/%2e%2e/metrics",
            "/api/v1/%2E%2E/metrics",
            "/api/v1/.%2e/metrics",
            "/api/v1/%2e./metrics",
            "/api/v1/%2e/flights",
            "/api/v1/flights/..",
        ] {
            assert_eq!(check_path(dots), Err(BadPath::DotSegment), "{dots}");
        }
        for bad in [
            "/api/v1/flights/a%2fb",
            "/api/v1/flights/a%2Fb",
            "/api/v1/flights/a%5cb",
            "/api/v1/flights/a\\b",
            "/api/v1/flights/a%00b",
            "/api/v1/flights/a%0ab",
            "/api/v1/flights/a%zz",
            "/api/v1/flights/a%2",
        ] {
            assert_eq!(check_path(bad), Err(BadPath::BadCharacter), "{bad}");
        }
        let long = format!("/api/v1/flights/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(check_path(&long), Err(BadPath::TooLong));
    }

    #[test]
    fn every_method_in_the_table_parses_and_no_route_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            let _ = r.method();
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }
}

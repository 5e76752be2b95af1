//! What the gateway lets through: only the routes of its allow-list, only well-formed paths, only
//! standard methods as metric labels, only bodies within the limit.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{dead_upstream, echo_upstream, generous, policy, spawn_gateway, upstreams};

/// Sends `head` (request line and headers, without the blank line) as written, with no client-side
/// normalization of the path; returns the status and the body.
async fn raw(address: &str, head: &str) -> (u16, String) {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("{head}\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_allow_list_is_exactly_the_routes_the_services_document() {
    let documented = |doc: utoipa::openapi::OpenApi| -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(doc).unwrap();
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| k.as_str() != "parameters")
                    .map(|m| (m.to_uppercase(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut upstream = documented(command_api::routes::api().split_for_parts().1);
    upstream.extend(documented(query_api::routes::api().split_for_parts().1));
    upstream.extend(documented(notifier::routes::api().split_for_parts().1));
    let table: BTreeSet<(String, String)> = gateway::routes::table::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(table, upstream);
}

#[tokio::test]
async fn traversal_in_every_spelling_never_reaches_an_upstream() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), generous()).await;
    for path in [
        "/api/v1/../../metrics",
        "/api/v1/../metrics",
        "/api/v1/./../readyz",
        "/api/v1/%2e%2e/%2e%2e/metrics",
        "/api/v1/%2E%2E/%2E%2E/metrics",
        "/api/v1/.%2e/.%2e/metrics",
        "/api/v1/flights/%2e%2e/%2e%2e/%2e%2e/metrics",
        "/api/v1/flights/..%2f..%2f..%2fmetrics",
        "/api/v1/flights/..%2F..%2Fmetrics/history",
        "/api/v1/flights/..%5c..%5cmetrics/history",
        "/api/v1/flights/..\\..\\metrics/seats",
        "/api/v1/flights/x%00/seats",
        "/api/v1/flights/%2e/seats",
        "/api/v1/webhooks/%2e%2e/history",
        "/api/v1/admin/../../admin/dead-letters/email",
        "/admin/dead-letters/email",
        "/metrics/../api/v1/flights",
        "/api/v1/readyz",
        "/api/v1/metrics",
        "/api/v1/openapi.json",
    ] {
        let (status, body) = raw(&app.address, &format!("GET {path} HTTP/1.1")).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        let problem: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not a problem: {body}"));
        assert!(
            problem["code"] == "bad_path" || problem["code"] == "not_found",
            "{path}: {problem}"
        );
        assert!(
            problem.get("method").is_none(),
            "{path} reached the upstream"
        );
    }
    // Spellings that fit a route template (so the allow-list alone would let them through) are refused
    // by the path check itself.
    for path in [
        "/api/v1/flights/%2e%2e/seats",
        "/api/v1/flights/%2E/seats",
        "/api/v1/flights/.%2E/seats",
        "/api/v1/flights/..%2fmetrics/seats",
        "/api/v1/flights/a%2Fb/seats",
        "/api/v1/flights/a%5cb/seats",
        "/api/v1/flights/a%00/seats",
        "/api/v1/flights/a%2/seats",
        "/api/v1/bookings/%2e%2e",
        "/api/v1/../v1/flights",
        "/api/v1/./flights",
        "/api/v1/flights/abc/seats/..",
    ] {
        let (status, body) = raw(&app.address, &format!("GET {path} HTTP/1.1")).await;
        let problem: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not a problem: {body}"));
        assert_eq!(
            (status, &problem["code"]),
            (400, &Value::from("bad_path")),
            "{path}: {problem}"
        );
    }
    let long = format!("GET /api/v1/flights/{} HTTP/1.1", "a".repeat(3000));
    let (status, body) = raw(&app.address, &long).await;
    assert_eq!(status, 400, "{body}");
    // A well-formed path of the table still goes through, with its query.
    let (status, body) = raw(&app.address, "GET /api/v1/flights/abc/seats?x=1 HTTP/1.1").await;
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["path"], "/api/v1/flights/abc/seats?x=1");
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow_and_invented_methods_add_no_series() {
    let echo = echo_upstream().await;
    let mut limits = generous();
    limits.search = policy(5000);
    limits.default = policy(5000);
    let app = spawn_gateway(upstreams(&echo, &echo, &dead_upstream()), limits).await;
    let response = app
        .client
        .delete(format!("{}/api/v1/flights", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed", "{body}");

    // The series of requests with a method outside the standard ones (tests in this process share one
    // recorder; only this one invents methods), and every series' labels.
    let series = || async {
        let text = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let all: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('{'))
            .filter_map(|l| l.rsplit_once(' ').map(|(labels, _)| labels.to_owned()))
            .collect();
        let other: BTreeSet<String> = all
            .iter()
            .filter(|l| l.contains("method=\"other\""))
            .cloned()
            .collect();
        (other, all)
    };
    let invented = |i: usize| {
        let name: String = (0..8)
            .map(|k| char::from(b'A' + u8::try_from((i * 7 + k * 13) % 26).unwrap()))
            .collect();
        reqwest::Method::from_bytes(format!("X{name}{i}").as_bytes()).unwrap()
    };
    // Half on a route of the table, half on paths nobody routes (each one new).
    let send = |i: usize| {
        let path = if i.is_multiple_of(2) {
            "/api/v1/flights".to_owned()
        } else {
            format!("/api/v1/nowhere-{i}")
        };
        let request = app
            .client
            .request(invented(i), format!("{}{path}", app.address));
        async move { request.send().await.unwrap().status() }
    };
    for i in 0..10 {
        let status = send(i).await;
        assert!(status == 405 || status == 404, "{status}");
    }
    let (before, _) = series().await;
    assert!(
        before.iter().any(|l| l.contains("path=\"unmatched\""))
            && before
                .iter()
                .any(|l| l.contains("path=\"/api/v1/flights\"")),
        "{before:#?}"
    );
    let statuses: Vec<_> = futures::stream::iter(10..1000)
        .map(send)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 405 || *s == 404));
    assert_eq!(statuses.iter().filter(|s| **s == 405).count(), 495);
    let (after, all) = series().await;
    assert_eq!(before, after, "1,000 invented methods added series");
    for labels in &all {
        assert!(
            !labels.contains("method=\"X") && !labels.contains("nowhere-"),
            "an invented method or a raw path became a label: {labels}"
        );
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_and_long_headers_431() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), generous()).await;
    let chunks = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(bytes_of(4096))));
    let response = app
        .client
        .post(format!("{}/api/v1/bookings", app.address))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large", "{body}");
    // Under the limit, chunked goes through whole.
    let chunks = futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(bytes_of(4096))));
    let response = app
        .client
        .post(format!("{}/api/v1/bookings", app.address))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["length"], 4 * 4096);

    let (status, _) = raw(
        &app.address,
        &format!(
            "GET /api/v1/flights HTTP/1.1\r\nX-Long: {}",
            "a".repeat(100 * 1024)
        ),
    )
    .await;
    assert_eq!(status, 431);
}

fn bytes_of(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

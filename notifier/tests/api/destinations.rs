//! Webhooks cannot be aimed inside, and their lifecycle: delete, pause and resume, secret rotation.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, spawn_app};

/// The app with the production rule: no private destinations.
async fn guarded_app() -> TestApp {
    let mut app = spawn_app().await;
    app.stop_notifier();
    app.settings.webhooks.allow_private_destinations = false;
    app.start_notifier().await;
    app
}

async fn create(app: &TestApp, url: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/webhooks", app.notifier))
        .bearer_auth(&app.admin)
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    if status != 201 {
        assert_eq!(ct, "application/problem+json", "{body}");
    }
    (status, body)
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.notifier))
        .bearer_auth(&app.admin);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inside_destination_is_refused_at_creation_with_a_reason() {
    let app = guarded_app().await;
    for url in [
        "http://127.0.0.1:5432/",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://172.16.5.4/",
        "http://192.168.0.10/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
    ] {
        let (status, body) = create(&app, url).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["code"], "forbidden_destination", "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("non-public")
                || body["detail"].as_str().unwrap().contains("localhost"),
            "{url}: {body}"
        );
    }
    for url in [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "https://user:secret@hooks.example.com/",
        "gopher://hooks.example.com/",
        "not a url",
    ] {
        let (status, body) = create(&app, url).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["code"], "invalid_url", "{url}: {body}");
    }
    // A public address passes (a public name would too, but this machine has no DNS to resolve it).
    let (status, body) = create(&app, "http://93.184.216.34/airline").await;
    assert_eq!(status, 201, "{body}");
    let (_, listed) = admin(&app, reqwest::Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// This machine's own host name: on every machine it resolves to a loopback or private address
/// (`/etc/hosts`).
async fn own_name() -> (String, std::net::SocketAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .unwrap()
        .collect();
    assert!(!addrs.is_empty(), "{name} does not resolve");
    assert!(
        addrs
            .iter()
            .all(|a| !notifier::destination::is_public(a.ip())),
        "{name} resolves to a public address here ({addrs:?}); this test needs a name that resolves inside"
    );
    (name, addrs[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_that_resolves_inside_is_refused_at_creation_and_at_delivery() {
    let mut app = guarded_app().await;
    let (name, addr) = own_name().await;
    let receiver = Receiver::start_on(addr, &name, 0).await;
    let (status, refused) = create(&app, &receiver.url).await;
    assert_eq!(
        (status, &refused["code"]),
        (422, &json!("forbidden_destination")),
        "{refused}"
    );
    assert!(
        !refused["detail"]
            .as_str()
            .unwrap()
            .contains(&addr.ip().to_string()),
        "the refusal tells the inside address: {refused}"
    );
    // Made while private destinations were allowed (as if the name pointed outside then), delivered
    // after the rule is back: refused after resolution.
    app.stop_notifier();
    app.settings.webhooks.allow_private_destinations = true;
    app.start_notifier().await;
    let (status, created) = create(&app, &receiver.url).await;
    assert_eq!(status, 201, "{created}");
    app.stop_notifier();
    app.settings.webhooks.allow_private_destinations = false;
    app.start_notifier().await;
    receiver.set_secret(created["secret"].as_str().unwrap());
    let webhook = created["webhook_id"].as_str().unwrap().to_owned();
    let flight = app.flight().await;
    app.book(flight, &["10A"], "ada@example.com").await;
    app.relay_all().await;
    let path = format!("/api/v1/webhooks/{webhook}/deliveries");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let log = loop {
        let (_, log) = admin(&app, reqwest::Method::GET, &path, None).await;
        if log[0]["attempts"].as_i64().unwrap_or(0) >= 1 && log[0]["status"] != "sending" {
            break log;
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(log[0]["status"], "failed", "{log}");
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(error.contains("refused"), "{error}");
    assert!(
        !error.contains(&addr.ip().to_string()),
        "the log tells the inside address: {error}"
    );
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        0,
        "the receiver was called"
    );

    // The same receiver by the same name is delivered to when private destinations are allowed: the
    // refusal above was the guard, not a broken receiver.
    app.stop_notifier();
    app.settings.webhooks.allow_private_destinations = true;
    app.start_notifier().await;
    let delivery = log[0]["delivery_id"].as_str().unwrap();
    let (status, redelivered) = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{redelivered}");
    assert_eq!(redelivered["status"], "delivered", "{redelivered}");
    assert!(!receiver.accepted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_can_be_paused_resumed_rotated_and_deleted() {
    let app = spawn_app().await;
    let receiver = Receiver::start(0).await;
    let (webhook, secret) = app
        .create_webhook(&receiver.url, &["booking.BookingPlaced"])
        .await;
    receiver.set_secret(&secret);
    let base = format!("/api/v1/webhooks/{webhook}");
    let (status, paused) = admin(&app, reqwest::Method::POST, &format!("{base}/pause"), None).await;
    assert_eq!(
        (status, &paused["active"]),
        (200, &json!(false)),
        "{paused}"
    );
    let flight = app.flight().await;
    app.book(flight, &["10A"], "ada@example.com").await;
    app.relay_all().await;
    // The webhook consumer has decided on the message (its inbox row commits with the deliveries it
    // makes): wait for that, then a paused webhook must have none and no call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let decided: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifier_inbox WHERE consumer = 'webhooks'")
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        if decided > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook consumer never took the message"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        0,
        "a paused webhook was called"
    );
    let (_, log) = admin(
        &app,
        reqwest::Method::GET,
        &format!("{base}/deliveries"),
        None,
    )
    .await;
    assert_eq!(log, json!([]), "a paused webhook got deliveries");

    let (status, resumed) =
        admin(&app, reqwest::Method::POST, &format!("{base}/resume"), None).await;
    assert_eq!(
        (status, &resumed["active"]),
        (200, &json!(true)),
        "{resumed}"
    );
    // Rotated with an overlap: the receiver still holding the old secret keeps verifying.
    let (status, rotated) = admin(
        &app,
        reqwest::Method::POST,
        &format!("{base}/secret"),
        Some(json!({"overlap_secs": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    app.book(flight, &["11A"], "bob@example.com").await;
    app.relay_all().await;
    assert_eq!(
        receiver.wait_for(1).await.len(),
        1,
        "old secret refused during the overlap"
    );
    receiver.set_secret(&new_secret);
    app.book(flight, &["12A"], "cy@example.com").await;
    app.relay_all().await;
    assert_eq!(receiver.wait_for(2).await.len(), 2, "new secret refused");
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    // Without an overlap only the new secret signs.
    let (status, rotated) = admin(
        &app,
        reqwest::Method::POST,
        &format!("{base}/secret"),
        Some(json!({"overlap_secs": 0})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let (status, body) = admin(
        &app,
        reqwest::Method::POST,
        &format!("{base}/secret"),
        Some(json!({"overlap_secs": 100_000_000})),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("invalid_overlap")),
        "{body}"
    );
    app.book(flight, &["14A"], "dee@example.com").await;
    app.relay_all().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.bad_signatures.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired secret still verifies"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.accepted().len(), 2);

    let (status, _) = admin(&app, reqwest::Method::DELETE, &base, None).await;
    assert_eq!(status, 204);
    let (status, body) = admin(&app, reqwest::Method::DELETE, &base, None).await;
    assert_eq!((status, &body["code"]), (404, &json!("webhook_not_found")));
    let (_, listed) = admin(&app, reqwest::Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(listed, json!([]));
    let (status, _) = admin(&app, reqwest::Method::POST, &format!("{base}/pause"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn only_the_gateways_word_is_taken_not_a_clients_own_token() {
    let app = spawn_app().await;
    let list = |token: &str| {
        app.client
            .get(format!("{}/api/v1/webhooks", app.notifier))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(list(&app.admin).await.unwrap().status(), 200);
    let refused = list(&app.client_admin).await.unwrap();
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "unauthorized");
}

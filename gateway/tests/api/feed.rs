//! The event feed through the gateway: streamed as it comes (never buffered, never cut by the upstream
//! timeout, which bounds only the wait for the answer's head), admins only, and never longer than the
//! session, role and token that let it in.

use std::time::Duration;

use futures::StreamExt;
use infra::auth::Role;
use serde_json::json;

#[tokio::test]
async fn the_feed_streams_through_the_gateway_as_events_commit() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let response = app
        .client
        .get(format!("{gw}/api/v1/events"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = app
        .client
        .get(format!("{gw}/api/v1/events?type=airport.*"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    // Longer than the gateway's upstream timeout (1 s here): the stream stays open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let registered = app
        .client
        .post(format!("{gw}/api/v1/airports"))
        .bearer_auth(&admin)
        .json(&json!({"code": "ORY", "name": "Orly", "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !text.contains("\n\n") || !text.contains("data:") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the event did not come through the gateway")
            .expect("the stream ended")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: airport."), "{text}");
    assert!(text.contains("\"aggregate_id\":\"ORY\""), "{text}");
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an id");
    assert!(id.contains('-'), "{id}");
}

/// Opens `/events` through the gateway with `token` and reads its first chunk (the start position).
async fn open_stream(
    app: &crate::helpers::TestApp,
    gw: &str,
    token: &str,
) -> impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + use<> {
    let response = app
        .client
        .get(format!("{gw}/api/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = Box::pin(response.bytes_stream());
    let first = tokio::time::timeout(Duration::from_secs(10), body.next()).await;
    assert!(matches!(first, Ok(Some(Ok(_)))), "the stream opened");
    body
}

/// Reads until the stream ends; how long that took (panics past `within`).
async fn ends_within(
    mut body: impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin,
    within: Duration,
) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout_at(started + within, body.next()).await {
            Ok(None | Some(Err(_))) => return started.elapsed(),
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the stream was still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn a_stream_ends_with_its_session_its_role_and_its_token() {
    let (app, gw) = crate::helpers::over_real_apis().await;

    // Signing out ends an open stream within a moment, not at the token's expiry 15 minutes away.
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let stream = Box::pin(open_stream(&app, &gw, &admin).await);
    let logout = app
        .client
        .post(format!("{gw}/api/v1/auth/logout"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    ends_within(stream, Duration::from_secs(5)).await;

    // An admin demoted while following the log stops following it.
    let (user, admin) = app.user_with_token(Role::Admin).await;
    let (_, other_admin) = app.user_with_token(Role::Admin).await;
    let stream = Box::pin(open_stream(&app, &gw, &admin).await);
    let demoted = app
        .client
        .put(format!("{gw}/api/v1/users/{user}/role"))
        .bearer_auth(&other_admin)
        .json(&json!({"role": "customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);
    ends_within(stream, Duration::from_secs(5)).await;
    let again = app
        .client
        .get(format!("{gw}/api/v1/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        403,
        "the demoted token is let in as a customer now"
    );

    // A token that expires in two seconds: the stream ends with it (plus the verification leeway).
    let (user, _) = app.user_with_token(Role::Admin).await;
    let session = gateway::sessions::open(&app.db.pool, user, Duration::from_secs(3600))
        .await
        .unwrap();
    let mut claims = crate::helpers::TestApp::claims(user, Role::Admin, "airline-api", 2);
    claims.sid = Some(session.session_id);
    let short = app.signer.sign(&claims).unwrap();
    let stream = Box::pin(open_stream(&app, &gw, &short).await);
    let lasted = ends_within(stream, Duration::from_secs(15)).await;
    let bound = 2 + infra::auth::LEEWAY_SECS;
    assert!(
        lasted >= Duration::from_secs(bound - 2),
        "ended early: {lasted:?}"
    );
    let refused = app
        .client
        .get(format!("{gw}/api/v1/events"))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "the expired token opens no new stream"
    );
}

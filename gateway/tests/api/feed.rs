//! The event feed through the gateway: streamed as it comes (never buffered, never cut by the upstream
//! timeout, which bounds only the wait for the answer's head), admins only.

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

use gateway::config::RateLimitSettings;
use serde_json::json;

use crate::helpers::{
    dead_upstream, echo_upstream, policy, spawn_gateway, spawn_gateway_with, start, upstreams,
};

fn tight() -> RateLimitSettings {
    RateLimitSettings {
        auth: policy(3),
        search: policy(4),
        bookings: policy(2),
        default: policy(100),
    }
}

#[tokio::test]
async fn the_request_past_the_limit_is_429_with_headers() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), tight()).await;
    for n in 1..=4u64 {
        let (status, headers, _) = app.get("/api/v1/flights", None).await;
        assert_eq!(status, 200);
        assert_eq!(headers["ratelimit-limit"], "4");
        assert_eq!(
            headers["ratelimit-remaining"].to_str().unwrap(),
            (4 - n).to_string()
        );
        let reset: u64 = headers["ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&reset));
    }
    let (status, headers, body) = app.get("/api/v1/flights", None).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["ratelimit-remaining"], "0");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Other policies have their own budget.
    let (status, _, _) = app.get("/api/v1/airports", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_limit_holds_across_two_gateway_instances() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), tight()).await;
    let second = start(&app.settings, &app.db).await;
    let login = json!({"email": "ada@example.com", "password": "Wrong-Horse-42!"});
    let mut statuses = Vec::new();
    for address in [&app.address, &second, &app.address, &second] {
        let response = app
            .client
            .post(format!("{address}/api/v1/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[tokio::test]
async fn signed_in_users_are_limited_per_principal() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), tight()).await;
    let ada = app.token(
        uuid::Uuid::new_v4(),
        infra::auth::Role::Customer,
        "airline-api",
        900,
    );
    let bob = app.token(
        uuid::Uuid::new_v4(),
        infra::auth::Role::Customer,
        "airline-api",
        900,
    );
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for token in [&ada, &ada, &ada, &bob] {
            out.push(
                app.post("/api/v1/bookings", Some(token), &json!({}))
                    .await
                    .0
                    .as_u16(),
            );
        }
        out
    };
    assert_eq!(statuses, [200, 200, 429, 200]);
}

#[tokio::test]
async fn with_redis_down_requests_pass_without_limits() {
    let echo = echo_upstream().await;
    let app = spawn_gateway_with(
        upstreams(&echo, &echo, &dead_upstream()),
        tight(),
        "redis://127.0.0.1:1",
    )
    .await;
    for _ in 0..6 {
        let (status, headers, _) = app.get("/api/v1/flights", None).await;
        assert_eq!(status, 200);
        assert!(headers.get("ratelimit-limit").is_none());
    }
}

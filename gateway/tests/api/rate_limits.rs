use gateway::config::RateLimitSettings;
use serde_json::json;

use crate::helpers::{
    dead_upstream, echo_upstream, policy, spawn_gateway, spawn_gateway_with, start, upstreams,
};

fn tight() -> RateLimitSettings {
    RateLimitSettings {
        auth: policy(3),
        signup: policy(3),
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
    let (_, ada) = app.user_with_token(infra::auth::Role::Customer).await;
    let (_, bob) = app.user_with_token(infra::auth::Role::Customer).await;
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

/// Until no account lock of this gateway is left in Redis (each lapses with its delay): the wait is on
/// the lock itself, not on a guess of the clock.
async fn wait_until_unlocked(app: &crate::helpers::TestApp) {
    let client = redis::Client::open(testkit::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{}login:lock:acct:*", app.settings.redis.key_prefix);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let locks: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        if locks.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still locked: {locks:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn login_attempt(
    app: &crate::helpers::TestApp,
    email: &str,
    password: &str,
) -> (u16, Option<u64>, serde_json::Value) {
    let (status, headers, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await;
    let retry = headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status.as_u16(), retry, body)
}

#[tokio::test]
async fn failed_logins_lock_the_account_for_growing_delays() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), crate::helpers::generous()).await;
    app.signup("ada@example.com").await;
    app.signup("bob@example.com").await;
    let wrong = "Wrong-Horse-42!";
    for _ in 0..5 {
        let (status, retry, body) = login_attempt(&app, "ada@example.com", wrong).await;
        assert_eq!((status, retry), (401, None), "{body}");
    }
    let (status, retry, _) = login_attempt(&app, "ada@example.com", wrong).await;
    assert_eq!((status, retry), (401, Some(1)));
    // Locked: even the right password is not checked now.
    let (status, retry, body) = login_attempt(&app, "ADA@example.com", "Correct-Horse-42").await;
    assert_eq!(
        (status, &body["code"]),
        (429, &json!("login_throttled")),
        "{body}"
    );
    assert!(retry.is_some_and(|r| (1..=1).contains(&r)), "{retry:?}");
    // Another account from the same address is not locked.
    let (status, _, _) = login_attempt(&app, "bob@example.com", "Correct-Horse-42").await;
    assert_eq!(status, 200);
    wait_until_unlocked(&app).await;
    let (status, retry, _) = login_attempt(&app, "ada@example.com", wrong).await;
    assert_eq!((status, retry), (401, Some(2)), "the delay did not grow");
    let (status, retry, _) = login_attempt(&app, "ada@example.com", wrong).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| (1..=2).contains(&r)), "{retry:?}");
    wait_until_unlocked(&app).await;
    let (status, _, body) = login_attempt(&app, "ada@example.com", "Correct-Horse-42").await;
    assert_eq!(status, 200, "{body}");
    // A success starts the count again.
    let (status, retry, _) = login_attempt(&app, "ada@example.com", wrong).await;
    assert_eq!((status, retry), (401, None));
}

#[tokio::test]
async fn failures_spread_over_accounts_lock_the_address_and_signups_are_limited_per_ip() {
    let echo = echo_upstream().await;
    let mut limits = crate::helpers::generous();
    limits.signup = policy(3);
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), limits).await;
    let mut settings = app.settings.clone();
    settings.login_throttle.ip_free_failures = 4;
    let gw = start(&settings, &app.db).await;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = app
            .client
            .post(format!("{gw}/api/v1/auth/login"))
            .json(&json!({"email": format!("guess{n}@example.com"), "password": "Wrong-Horse-42!"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);

    let mut statuses = Vec::new();
    for n in 0..4 {
        let (status, _, _) = app
            .post(
                "/api/v1/auth/signup",
                None,
                &json!({"email": format!("new{n}@example.com"), "password": "Correct-Horse-42"}),
            )
            .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_buckets_and_a_stranger_cannot_lock_the_owner_out()
 {
    let echo = echo_upstream().await;
    let mut limits = crate::helpers::generous();
    limits.search = policy(2);
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), limits).await;
    // A second gateway that trusts loopback: this test's connections play the load balancer.
    let mut settings = app.settings.clone();
    settings.http.trusted_proxies = "127.0.0.1/32, ::1".to_owned();
    let behind = start(&settings, &app.db).await;
    let search = |base: &str, client: &str| {
        let request = app
            .client
            .get(format!("{base}/api/v1/flights"))
            .header("x-forwarded-for", format!("6.6.6.6, {client}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Through the trusted proxy: every client its own budget of 2, whatever it wrote on the left.
    for client in ["198.51.100.1", "198.51.100.2"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(search(&behind, client).await);
        }
        assert_eq!(statuses, [200, 200, 429], "{client}");
    }
    // Straight from an untrusted peer the header is ignored: claiming other addresses changes nothing.
    let mut statuses = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        statuses.push(search(&app.address, client).await);
    }
    assert_eq!(statuses, [200, 200, 429]);

    // A stranger's failed sign-ins lock the account only from the stranger's address.
    app.signup("owner@example.com").await;
    let login = |client: &str, password: &str| {
        let request = app
            .client
            .post(format!("{behind}/api/v1/auth/login"))
            .header("x-forwarded-for", client.to_owned())
            .json(&json!({"email": "owner@example.com", "password": password}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut stranger = Vec::new();
    for _ in 0..7 {
        stranger.push(login("192.0.2.66", "Wrong-Horse-42!").await);
    }
    assert_eq!(stranger.last(), Some(&429), "{stranger:?}");
    assert_eq!(login("192.0.2.66", "Correct-Horse-42").await, 429);
    assert_eq!(login("198.51.100.7", "Correct-Horse-42").await, 200);
}

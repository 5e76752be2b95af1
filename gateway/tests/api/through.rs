//! The webhook rules and the hold cap, through the gateway to the real services.

use infra::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{dead_upstream, generous, real_notifier, spawn_gateway, upstreams};

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn webhooks_aimed_inside_are_refused_through_the_gateway_and_the_lifecycle_works() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let notifier = real_notifier(&app.private_pem, &app.db).await;
    let mut settings = app.settings.clone();
    settings.upstreams = upstreams(&dead, &dead, &notifier);
    let gw = crate::helpers::start(&settings, &app.db).await;
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let hooks = format!("{gw}/api/v1/webhooks");
    // Every spelling of an inside address: loopback, unspecified, private, CGNAT, link-local and the
    // metadata address, multicast, broadcast, IPv6 loopback/ULA/link-local, IPv4 inside IPv6 (mapped,
    // compatible, NAT64, 6to4), in decimal, hex, octal and short forms.
    for url in [
        "http://127.0.0.1:5432/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://0/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://10.1.2.3/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.100.100.200/",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[ff02::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
    ] {
        let (status, body) = send(
            &app.client,
            reqwest::Method::POST,
            hooks.clone(),
            &admin,
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert!(
            body["code"] == "forbidden_destination" || body["code"] == "invalid_url",
            "{url}: {body}"
        );
    }
    let (status, _) = send(
        &app.client,
        reqwest::Method::POST,
        hooks.clone(),
        &customer,
        Some(json!({"url": "http://93.184.216.34/"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, created) = send(
        &app.client,
        reqwest::Method::POST,
        hooks.clone(),
        &admin,
        Some(json!({"url": "http://93.184.216.34/hook"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["webhook_id"].as_str().unwrap();
    for (path, active) in [("pause", false), ("resume", true)] {
        let (status, body) = send(
            &app.client,
            reqwest::Method::POST,
            format!("{hooks}/{id}/{path}"),
            &admin,
            None,
        )
        .await;
        assert_eq!((status, &body["active"]), (200, &json!(active)), "{body}");
    }
    let (status, rotated) = send(
        &app.client,
        reqwest::Method::POST,
        format!("{hooks}/{id}/secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    let (status, _) = send(
        &app.client,
        reqwest::Method::DELETE,
        format!("{hooks}/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, listed) = send(
        &app.client,
        reqwest::Method::GET,
        hooks.clone(),
        &admin,
        None,
    )
    .await;
    assert_eq!(listed, json!([]));
    // Dead letters are an admin route of the API now.
    let (status, _) = send(
        &app.client,
        reqwest::Method::GET,
        format!("{gw}/api/v1/admin/dead-letters/webhooks"),
        &customer,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(
        &app.client,
        reqwest::Method::GET,
        format!("{gw}/api/v1/admin/dead-letters/nothing"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (404, &json!("consumer_not_found")),
        "{body}"
    );
}

#[tokio::test]
async fn the_hold_cap_holds_through_the_gateway() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let post = |path: &str, token: &str, body: Value| {
        let (url, token) = (format!("{gw}{path}"), token.to_owned());
        let client = app.client.clone();
        async move { send(&client, reqwest::Method::POST, url, &token, Some(body)).await }
    };
    for code in ["CDG", "JFK"] {
        let (status, body) = post(
            "/api/v1/airports",
            &admin,
            json!({"code": code, "name": code, "city": code, "country": "FR", "time_zone": "Europe/Paris"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, aircraft) = post(
        "/api/v1/aircraft",
        &admin,
        json!({"model": "Test", "cabins": [{"cabin": "economy", "first_row": 10, "last_row": 19, "letters": "ABC DEF"}]}),
    )
    .await;
    assert_eq!(status, 201, "{aircraft}");
    let departure = chrono::Utc::now() + chrono::Duration::days(10);
    let fare = json!({"cabin": "economy", "price": {"amount_minor": 10_000, "currency": "EUR"},
        "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}});
    let (status, flight) = post(
        "/api/v1/flights",
        &admin,
        json!({"number": "AF1", "origin": "CDG", "destination": "JFK", "departure_at": departure,
            "arrival_at": departure + chrono::Duration::hours(8), "aircraft_id": aircraft["id"], "fares": [fare]}),
    )
    .await;
    assert_eq!(status, 201, "{flight}");
    let book = |row: u8, count: usize| {
        let passengers: Vec<Value> = "ABCDEF"
            .chars()
            .take(count)
            .map(|l| json!({"first_name": "Ada", "last_name": "L", "type": "adult", "seat": format!("{row}{l}")}))
            .collect();
        post(
            "/api/v1/bookings",
            &customer,
            json!({"flight_id": flight["id"], "contact_email": "ada@example.com", "passengers": passengers}),
        )
    };
    for row in 10..13 {
        let (status, body) = book(row, 6).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = book(13, 3).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("hold_limit_exceeded")),
        "{body}"
    );
    let (status, body) = book(13, 2).await;
    assert_eq!(status, 201, "{body}");
    // Ten passengers in one booking is over the party limit whatever the cap.
    let ten: Vec<Value> = (0..10)
        .map(|n| json!({"first_name": "Ada", "last_name": "L", "type": "adult", "seat": format!("1{}{}", 4 + n / 6, ['A','B','C','D','E','F'][n % 6])}))
        .collect();
    let (status, body) = post(
        "/api/v1/bookings",
        &admin,
        json!({"flight_id": flight["id"], "contact_email": "ada@example.com", "passengers": ten}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

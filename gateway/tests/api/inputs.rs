//! Bad input through the gateway to the real APIs is a 4xx problem, never a 5xx.

use infra::auth::Role;
use serde_json::Value;

#[tokio::test]
async fn out_of_range_dates_and_malformed_parameters_are_4xx_problems() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let booking = uuid::Uuid::new_v4();
    let cases: Vec<(&str, &str)> = vec![
        ("/api/v1/flights?date=-5000-01-01", ""),
        ("/api/v1/flights?date=%2B99999-01-01", ""),
        ("/api/v1/flights?date=99999-01-01", ""),
        ("/api/v1/flights?date=1800-01-01", ""),
        ("/api/v1/flights?departure_after=-4800-01-01T00:00:00Z", ""),
        (
            "/api/v1/flights?departure_before=%2B99999-01-01T00:00:00Z",
            "",
        ),
        ("/api/v1/flights?departure_after=2026-13-45T99:00:00Z", ""),
        ("/api/v1/flights?limit=abc", ""),
        ("/api/v1/flights?limit=100000000000", ""),
        ("/api/v1/flights?limit=0", ""),
        ("/api/v1/flights?passengers=999", ""),
        ("/api/v1/flights?min_price=99999999999999999999999", ""),
        ("/api/v1/flights?after=not-a-cursor", ""),
        ("/api/v1/flights?sort=nonsense", ""),
        ("/api/v1/flights?unknown=1", ""),
        ("/api/v1/analytics/revenue?from=-5000-01-01", "admin"),
        ("/api/v1/analytics/load-factors?to=%2B99999-12-31", "admin"),
        (
            "/api/v1/analytics/cancellations?from=2026-01-01&to=99999-01-01",
            "admin",
        ),
        ("/api/v1/analytics/conversion?from=2026-02-30", "admin"),
        ("/api/v1/bookings?limit=1000000", "customer"),
        ("/api/v1/bookings?status=nonsense", "admin"),
        ("/api/v1/bookings/not-a-uuid", "customer"),
    ];
    let mut more = vec![
        format!("/api/v1/bookings/{booking}?as_of=-4800-01-01T00:00:00Z"),
        format!("/api/v1/bookings/{booking}?as_of=%2B99999-01-01T00:00:00Z"),
        format!("/api/v1/bookings/{booking}?version=-1"),
        format!("/api/v1/flights/{booking}/seats?as_of=-4800-01-01T00:00:00Z"),
    ];
    let mut all: Vec<(String, &str)> = cases.into_iter().map(|(p, w)| (p.to_owned(), w)).collect();
    all.extend(more.drain(..).map(|p| (p, "customer")));
    for (path, who) in &all {
        let mut request = app.client.get(format!("{gw}{path}"));
        match *who {
            "admin" => request = request.bearer_auth(&admin),
            "customer" => request = request.bearer_auth(&customer),
            _ => {}
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        assert!(
            status.is_client_error() && status != 404
                || path.contains("not-a-uuid") && status == 400,
            "{path}: {status} {body}"
        );
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert!(body["code"].is_string(), "{path}: {body}");
    }

    // Bodies: dates out of range, deep nesting, wrong types.
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let far = r#"{"number":"AF1","origin":"CDG","destination":"JFK","departure_at":"+99999-01-01T10:00:00Z","arrival_at":"+99999-01-01T18:00:00Z","aircraft_id":"00000000-0000-0000-0000-000000000000","fares":[]}"#;
    let past = far.replace("+99999", "-4800");
    for (path, body) in [
        ("/api/v1/flights", far.to_owned()),
        ("/api/v1/flights", past),
        ("/api/v1/bookings", deep.clone()),
        ("/api/v1/flights", deep),
        ("/api/v1/bookings", r#"{"flight_id": 5}"#.to_owned()),
    ] {
        let response = app
            .client
            .post(format!("{gw}{path}"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status == 400 || status == 422, "{path}: {status} {text}");
    }
}

#[tokio::test]
async fn the_spec_documents_problems_constraints_and_local_times_truthfully() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let doc: Value = app
        .client
        .get(format!("{gw}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "401", "429", "503", "default"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') || status == "default" {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                    errors += 1;
                }
            }
        }
    }
    assert!(errors > 100, "{errors}");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Problem"]["required"][3], "code");
    for schema in ["FlightOffer", "FlightView"] {
        let local = &schemas[schema]["properties"]["departure_local"];
        if local.is_null() {
            continue;
        }
        assert!(local.get("format").is_none(), "{schema}: {local}");
        assert!(local["pattern"].is_string(), "{schema}: {local}");
    }
    assert!(schemas["FlightOffer"]["properties"]["departure_local"]["pattern"].is_string());
    let passengers = &schemas["PlaceBookingRequest"]["properties"]["passengers"];
    assert_eq!(passengers["maxItems"], 18, "{passengers}");
    assert_eq!(
        schemas["Passenger"]["properties"]["seat"]["pattern"],
        "^[1-9][0-9]?[A-HJK]$"
    );
    let search = doc["paths"]["/api/v1/flights"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let seats = search.iter().find(|p| p["name"] == "passengers").unwrap();
    assert_eq!(seats["schema"]["maximum"], 9, "{seats}");
    let date = search.iter().find(|p| p["name"] == "date").unwrap();
    assert_eq!(date["schema"]["format"], "date", "{date}");
    assert_eq!(
        schemas["Credentials"]["properties"]["password"]["minLength"],
        12
    );
    let conflict = &doc["paths"]["/api/v1/bookings"]["post"]["responses"]["409"];
    let described = conflict["description"].as_str().unwrap();
    assert!(described.contains("hold_limit_exceeded"), "{conflict}");
}

#[tokio::test]
async fn headers_or_a_url_too_large_are_431_problems_over_a_real_socket() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let search = format!("{gw}/api/v1/flights?origin=CDG&destination=JFK");
    let huge_header = "x".repeat(20 * 1024);
    let many = (0..150).fold(app.client.get(&search), |r, n| {
        r.header(format!("x-filler-{n}"), "1")
    });
    let long_url = format!("{search}&q={}", "y".repeat(9 * 1024));
    for (request, code) in [
        (
            app.client
                .get(&search)
                .header("x-big", huge_header.as_str()),
            "headers_too_large",
        ),
        (many, "headers_too_large"),
        (app.client.get(&long_url), "url_too_long"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 431);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code, "{problem}");
        assert!(problem["request_id"].is_string(), "{problem}");
    }
    // Within the limits the same search is answered.
    let fine = app
        .client
        .get(&search)
        .header("x-small", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_admin_registers_an_airport_and_gets_it_back_with_an_etag() {
    let app = spawn_app().await;
    let response = app.post_airport("cdg").await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json()["code"], "CDG");
    assert_eq!(response.json()["time_zone"], "Europe/Paris");
    assert_eq!(response.etag(), "\"1\"");
    assert_eq!(response.headers["location"], "/api/v1/airports/CDG");
}

#[tokio::test]
async fn registering_an_airport_twice_is_409() {
    let app = spawn_app().await;
    app.post_airport("CDG").await;
    app.post_airport("CDG")
        .await
        .assert_problem(409, "airport_exists");
}

#[tokio::test]
async fn bad_airport_fields_are_422_problems() {
    let app = spawn_app().await;
    for (field, value) in [
        ("code", "C1G"),
        ("country", "FRA"),
        ("time_zone", "Mars/Base"),
        ("name", ""),
    ] {
        let mut body = json!({"code": "CDG", "name": "Charles de Gaulle", "city": "Paris", "country": "FR",
            "time_zone": "Europe/Paris"});
        body[field] = json!(value);
        let response = app.post("/api/v1/airports", &app.admin, &body).await;
        response.assert_problem(422, "invalid_body");
        assert!(
            response.json()["detail"].as_str().unwrap().contains(value) || value.is_empty(),
            "{}",
            response.json()
        );
    }
}

#[tokio::test]
async fn an_airports_minimum_connecting_time_defaults_to_an_hour_and_is_set_and_changed_in_range() {
    let app = spawn_app().await;
    let response = app.post_airport("CDG").await;
    assert_eq!(response.json()["min_connection_minutes"], 60);
    let body = json!({"code": "JFK", "name": "Kennedy", "city": "New York", "country": "US",
        "time_zone": "America/New_York", "min_connection_minutes": 90});
    let response = app.post("/api/v1/airports", &app.admin, &body).await;
    assert_eq!(response.status, 201, "{}", response.json());
    assert_eq!(response.json()["min_connection_minutes"], 90);
    for bad in [json!(5), json!(721), json!(-1), json!("an hour")] {
        let mut body = body.clone();
        body["code"] = json!("LHR");
        body["min_connection_minutes"] = bad;
        app.post("/api/v1/airports", &app.admin, &body)
            .await
            .assert_problem(422, "invalid_body");
    }
    let response = app
        .patch(
            "/api/v1/airports/JFK",
            &app.admin,
            &json!({"min_connection_minutes": 45}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.json());
    assert_eq!(response.json()["min_connection_minutes"], 45);
    assert_eq!(response.json()["name"], "Kennedy");
    app.patch(
        "/api/v1/airports/JFK",
        &app.admin,
        &json!({"min_connection_minutes": 9}),
    )
    .await
    .assert_problem(422, "invalid_body");
}

#[tokio::test]
async fn updating_an_airport_changes_it_and_checks_if_match() {
    let app = spawn_app().await;
    app.post_airport("CDG").await;
    let patch = || {
        app.client
            .patch(format!("{}/api/v1/airports/CDG", app.address))
            .bearer_auth(&app.admin)
            .json(&json!({"name": "Paris CDG"}))
    };
    app.send(patch().header("if-match", "\"7\""))
        .await
        .assert_problem(412, "version_mismatch");
    let response = app.send(patch().header("if-match", "\"1\"")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["name"], "Paris CDG");
    assert_eq!(response.etag(), "\"2\"");
    app.send(patch().header("if-match", "seven"))
        .await
        .assert_problem(400, "invalid_if_match");
}

#[tokio::test]
async fn updating_an_unknown_airport_is_404() {
    let app = spawn_app().await;
    app.patch(
        "/api/v1/airports/XYZ",
        &app.admin,
        &json!({"name": "Nowhere"}),
    )
    .await
    .assert_problem(404, "airport_not_found");
}

#[tokio::test]
async fn an_aircraft_layout_yields_seats_with_characteristics() {
    let app = spawn_app().await;
    let body = json!({"model": "A220", "cabins": [
        {"cabin": "economy", "first_row": 1, "last_row": 2, "letters": "AB CDE", "exit_rows": [2]}
    ]});
    let response = app.post("/api/v1/aircraft", &app.admin, &body).await;
    assert_eq!(response.status, 201);
    let seats = response.json()["seats"].as_array().unwrap().clone();
    assert_eq!(seats.len(), 10);
    assert_eq!(seats[0]["seat"], "1A");
    assert_eq!(seats[0]["characteristics"], json!(["window"]));
    assert_eq!(seats[1]["characteristics"], json!(["aisle"]));
    assert_eq!(seats[3]["characteristics"], json!(["middle"]));
    assert_eq!(seats[9]["characteristics"], json!(["window", "exit_row"]));
}

#[tokio::test]
async fn an_impossible_layout_is_422() {
    let app = spawn_app().await;
    let body = json!({"model": "Bad", "cabins": [
        {"cabin": "economy", "first_row": 5, "last_row": 2, "letters": "AB"}
    ]});
    app.post("/api/v1/aircraft", &app.admin, &body)
        .await
        .assert_problem(422, "invalid_body");
}

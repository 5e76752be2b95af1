//! Name correction: a typo of up to three characters over both names is fixed on every flight of the
//! booking, free; anything more would transfer the ticket and is refused; only the owner (or an admin)
//! corrects, and bad input is a problem.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_typo_is_corrected_and_a_transfer_is_refused() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booked = app.book(&app.customer, flight, &["10A", "10B"]).await;
    assert_eq!(booked.status, 201, "{}", booked.json());
    let id = booked.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bookings/{id}/passengers/1");

    let fixed = app
        .patch(
            &path,
            &app.customer,
            &json!({"first_name": "Adda", "last_name": "Lovelce"}),
        )
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.json());
    let passengers = &fixed.json()["passengers"];
    assert_eq!(
        (&passengers[1]["first_name"], &passengers[1]["last_name"]),
        (&json!("Adda"), &json!("Lovelce"))
    );
    assert_eq!(
        passengers[0]["first_name"], "Ada",
        "the other passenger is unchanged"
    );
    let state = app.booking_state(&id).await;
    assert_eq!(
        state.passengers().as_slice()[1].seat,
        Some(crate::helpers::seat("10B"))
    );

    for (body, status, code) in [
        (
            json!({"first_name": "Grace", "last_name": "Hopper"}),
            422,
            "name_change_too_large",
        ),
        (
            json!({"first_name": "Adda", "last_name": "Lovelce"}),
            422,
            "same_name",
        ),
        (
            json!({"first_name": "R2D2", "last_name": "Lovelace"}),
            422,
            "invalid_body",
        ),
        (json!({"first_name": "Ada"}), 422, "invalid_body"),
    ] {
        let refused = app.patch(&path, &app.customer, &body).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.json());
        assert_eq!(refused.json()["code"], code, "{body}");
    }
    let missing = app
        .patch(
            &format!("/api/v1/bookings/{id}/passengers/7"),
            &app.customer,
            &json!({"first_name": "Ada", "last_name": "Lovelace"}),
        )
        .await;
    assert_eq!(missing.json()["code"], "no_such_passenger");
    let stranger = app.token(Uuid::new_v4(), infra::auth::Role::Customer);
    let theirs = app
        .patch(
            &path,
            &stranger,
            &json!({"first_name": "Ada", "last_name": "Lovelce"}),
        )
        .await;
    assert_eq!(theirs.status, 404);
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(events, ["BookingPlaced", "PassengerNameCorrected"]);
}

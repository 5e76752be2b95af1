//! Request bodies of the command API, for seeding over HTTP and for the tests that post them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// POST /api/v1/airports: `code` in France's country code, in time zone `tz`.
pub fn airport(code: &str, name: &str, city: &str, tz: &str) -> Value {
    json!({"code": code, "name": name, "city": city, "country": "FR", "time_zone": tz})
}

/// POST /api/v1/aircraft of the test aircraft: business rows 1–2 (`AC DF`, 8 seats), economy rows 10–14
/// (`ABC DEF`, 30 seats), row 12 an exit row.
pub fn test_aircraft() -> Value {
    json!({"model": "Test A320", "cabins": [
        {"cabin": "business", "first_row": 1, "last_row": 2, "letters": "AC DF"},
        {"cabin": "economy", "first_row": 10, "last_row": 14, "letters": "ABC DEF", "exit_rows": [12]}
    ]})
}

/// A fare of `cabin` at `price` EUR minor units, cancelled for `fee`.
pub fn fare(cabin: &str, price: i64, refundable: bool, fee: i64) -> Value {
    json!({"cabin": cabin, "price": {"amount_minor": price, "currency": "EUR"},
        "rules": {"refundable": refundable, "cancellation_fee": {"amount_minor": fee, "currency": "EUR"}}})
}

/// POST /api/v1/flights: `number` on `route`, leaving at `departure` for `duration`.
pub fn flight(
    number: &str,
    route: (&str, &str),
    (departure, duration): (DateTime<Utc>, Duration),
    aircraft: &Value,
    fares: &[Value],
) -> Value {
    json!({
        "number": number, "origin": route.0, "destination": route.1,
        "departure_at": departure, "arrival_at": departure + duration,
        "aircraft_id": aircraft,
        "fares": fares,
    })
}

/// POST /api/v1/bookings: one adult "Ada `last_name`" per seat, contact ada@example.com.
pub fn booking(flight: Uuid, seats: &[&str], last_name: &str) -> Value {
    let passengers: Vec<Value> = seats
        .iter()
        .map(|s| json!({"first_name": "Ada", "last_name": last_name, "type": "adult", "seat": s}))
        .collect();
    json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": passengers})
}

/// POST /api/v1/bookings/{id}/payment of a booking's total with the test card.
pub fn payment(booking: &Value) -> Value {
    json!({"card_token": "tok_visa", "amount": booking["total"]})
}

/// The path of a booking's payment.
pub fn payment_path(booking: &Value) -> String {
    format!(
        "/api/v1/bookings/{}/payment",
        booking["id"].as_str().expect("a booking body with an id")
    )
}

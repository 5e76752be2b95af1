//! A journey's emails: every segment with its local times, and a delay that breaks the connection told
//! to the passenger with the flights and the airport.

use std::time::Duration;

use chrono::Duration as Span;
use command_api::process::booking::{self, BookRequest, SegmentRequest};
use command_api::process::disruption;
use domain::values::{EmailAddress, FlightId, Passenger, PassengerName, PassengerType, SeatNumber};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_lists_every_flight_in_local_time_and_a_broken_connection_is_told() {
    let app = spawn_app().await;
    let (first, second) = app.connection().await;
    let principal = infra::auth::Principal {
        user_id: Uuid::new_v4(),
        role: infra::auth::Role::Customer,
        account_since: None,
    };
    let segment = |flight, seat: &str| SegmentRequest {
        flight_id: FlightId::from_uuid(flight),
        seats: vec![Some(SeatNumber::parse(seat).unwrap())],
        cabin: None,
        class: None,
    };
    let request = BookRequest {
        contact_email: EmailAddress::parse("trip@example.com").unwrap(),
        passengers: vec![Passenger {
            first_name: PassengerName::parse("Ada").unwrap(),
            last_name: PassengerName::parse("Lovelace").unwrap(),
            kind: PassengerType::Adult,
            seat: None,
        }],
        slices: vec![vec![segment(first, "10A"), segment(second, "14F")]],
    };
    let render = command_api::routes::bookings::render(command_api::routes::StatusCode::CREATED);
    booking::book(&app.commands, principal, &TestApp::meta(), request, render)
        .await
        .unwrap();
    // The first flight lands 90 minutes late: 30 minutes to connect at JFK, where 60 are needed.
    let state = app
        .commands
        .executor
        .load::<domain::flight::Flight>(&first.to_string())
        .await
        .unwrap()
        .aggregate
        .state()
        .unwrap()
        .clone();
    let late = Span::minutes(90);
    let reason = domain::values::Label::parse("fog").unwrap();
    let delay = domain::flight::FlightCommand::Delay {
        departure_at: state.departure_at + late,
        arrival_at: state.arrival_at + late,
        reason: reason.clone(),
        now: app.clock_now(),
    };
    let note = disruption::DelayNote {
        departure_at: state.departure_at + late,
        arrival_at: state.arrival_at + late,
        reason,
    };
    let id = FlightId::from_uuid(first);
    app.commands
        .executor
        .run(
            command_api::executor::StreamKey::seats_of(id),
            TestApp::meta(),
            disruption::delay(id, None, delay, note),
        )
        .await
        .unwrap();
    app.relay_all().await;

    // Held, delayed, connection broken.
    let mails = app.sink.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let held = mails[0].text();
    // Both flights, each at its airports' local time (CDG in Paris, JFK and BOS in New York), as the
    // flights are when the email is written: here after the delay.
    let zone = |name| domain::values::TimeZone::parse(name).unwrap().tz();
    let paris = (state.departure_at + late).with_timezone(&zone("Europe/Paris"));
    let new_york = (state.arrival_at + late).with_timezone(&zone("America/New_York"));
    assert!(held.contains("1. Flight AF1234 from CDG"), "{held}");
    assert!(held.contains("2. Flight AA55 from JFK"), "{held}");
    assert!(
        held.contains(&paris.format("%Y-%m-%d %H:%M local time").to_string()),
        "{held}"
    );
    assert!(
        held.contains(&new_york.format("%Y-%m-%d %H:%M local time").to_string()),
        "{held}"
    );
    assert!(mails[1].subject.ends_with("your flight is delayed"));
    assert!(
        mails[1].text().contains("Flight AF1234 now departs"),
        "{}",
        mails[1].text()
    );
    assert!(
        mails[2]
            .subject
            .ends_with("your connection at JFK is at risk"),
        "{}",
        mails[2].subject
    );
    let broken = mails[2].text();
    assert!(
        broken.contains("flight AA55 now leaves JFK 30 minutes after flight AF1234 lands"),
        "{broken}"
    );
    assert!(
        broken.contains("the minimum to connect at JFK is 60 minutes"),
        "{broken}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_correction_and_the_seats_given_at_close_are_mailed() {
    let app = spawn_app().await;
    let (first, _) = app.connection().await;
    let principal = infra::auth::Principal {
        user_id: Uuid::new_v4(),
        role: infra::auth::Role::Customer,
        account_since: None,
    };
    let person = |first_name: &str| Passenger {
        first_name: PassengerName::parse(first_name).unwrap(),
        last_name: PassengerName::parse("Lovelace").unwrap(),
        kind: PassengerType::Adult,
        seat: None,
    };
    // Two passengers without seats, one name misspelt.
    let request = BookRequest::one_flight(
        FlightId::from_uuid(first),
        EmailAddress::parse("seats@example.com").unwrap(),
        vec![person("Ada"), person("Byorn")],
    );
    let render = || command_api::routes::bookings::render(command_api::routes::StatusCode::OK);
    let (booked, _) = booking::book(
        &app.commands,
        principal,
        &TestApp::meta(),
        request,
        render(),
    )
    .await
    .unwrap();
    let id = booked.aggregate.state().unwrap().id;
    let total = booked.aggregate.state().unwrap().total;
    let name = (
        1,
        PassengerName::parse("Byron").unwrap(),
        PassengerName::parse("Lovelace").unwrap(),
    );
    booking::correct_name(
        &app.commands,
        principal,
        &TestApp::meta(),
        (id, None),
        name,
        render(),
    )
    .await
    .unwrap();
    booking::pay(
        &app.commands,
        principal,
        &TestApp::meta(),
        (id, None),
        ("tok_visa", total),
        render(),
    )
    .await
    .unwrap();
    let target = (FlightId::from_uuid(first), None);
    command_api::process::close::close(
        &app.commands,
        &TestApp::meta(),
        target,
        app.clock_now(),
        |_| Ok(command_api::outcome::StoredResponse::no_content()),
    )
    .await
    .unwrap();
    app.relay_all().await;

    // Held, name corrected, confirmed, seats given at close.
    let mails = app.sink.wait_for(4, Duration::from_secs(10)).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    let corrected = mails
        .iter()
        .find(|m| m.subject.ends_with("name corrected"))
        .unwrap_or_else(|| panic!("{subjects:?}"))
        .text();
    assert!(
        corrected.contains("Byorn Lovelace now reads Byron Lovelace"),
        "{corrected}"
    );
    let seats = mails
        .iter()
        .find(|m| m.subject.contains("your seats"))
        .unwrap_or_else(|| panic!("{subjects:?}"))
        .text();
    assert!(seats.contains("Ada Lovelace: seat "), "{seats}");
    assert!(seats.contains("Byron Lovelace: seat "), "{seats}");
    let held = mails[0].text();
    assert!(
        held.contains("seat to be chosen"),
        "a passenger without a seat is told so: {held}"
    );
}

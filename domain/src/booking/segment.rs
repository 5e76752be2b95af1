//! The flights of one booking as it holds them, and the stored shape of `BookingPlaced` in both its
//! versions: 1.0 had one `flight_id` (every booking before journeys); 2.0 has `segments`. Old events are
//! never rewritten: they are read as one-segment journeys here, on every read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::flight::{Fare, FareRules};
use crate::values::{
    BookingId, Cabin, EmailAddress, FlightId, Money, Passengers, Pnr, SeatNumber, UserId,
};

/// One flight of a booking: its fare, and the party with its seats on that flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookedSegment {
    /// The flight.
    pub flight_id: FlightId,
    /// 0 for the outbound slice, 1 for the return.
    #[serde(default)]
    pub slice: u8,
    /// The cabin's fare when booked (its cabin, price per seated passenger and rules).
    pub fare: Fare,
    /// The travellers, with their seats on this flight (the same people, in the same order, on every
    /// segment).
    pub passengers: Passengers,
    /// Departure (follows delays).
    pub departure_at: DateTime<Utc>,
    /// Arrival (follows delays); unknown for bookings placed before journeys, until a delay tells.
    #[serde(default)]
    pub arrival_at: Option<DateTime<Utc>>,
    /// Passengers denied boarding on this flight at its close (indexes, infants with their adults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offloaded: Vec<usize>,
}

impl BookedSegment {
    /// The cabin.
    pub fn cabin(&self) -> Cabin {
        self.fare.cabin
    }

    /// Whether passenger `index` was offloaded from this flight.
    pub fn is_offloaded(&self, index: usize) -> bool {
        self.offloaded.contains(&index)
    }

    /// The seats held on this flight, in passenger order.
    pub fn seats(&self) -> Vec<SeatNumber> {
        self.passengers
            .as_slice()
            .iter()
            .filter_map(|p| p.seat)
            .collect()
    }
}

/// A segment as the read side shows it: the flight, slice, cabin, fare per seated passenger, and each
/// passenger's seat (`None` for an infant).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentSummary {
    /// The flight.
    pub flight_id: FlightId,
    /// 0 out, 1 back.
    pub slice: u8,
    /// The cabin.
    pub cabin: Cabin,
    /// The fare per seated passenger, minor units.
    pub fare_minor: i64,
    /// Each passenger's seat, in passenger order.
    pub seats: Vec<Option<SeatNumber>>,
    /// Passengers offloaded from this flight at its close.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offloaded: Vec<usize>,
}

impl BookedSegment {
    /// The segment as the read side shows it.
    pub fn summary(&self) -> SegmentSummary {
        SegmentSummary {
            flight_id: self.flight_id,
            slice: self.slice,
            cabin: self.cabin(),
            fare_minor: self.fare.price.amount_minor(),
            seats: self.passengers.as_slice().iter().map(|p| p.seat).collect(),
            offloaded: self.offloaded.clone(),
        }
    }
}

/// What `BookingPlaced` records (version 2.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PlacedWire")]
pub struct Placement {
    /// Id.
    pub id: BookingId,
    /// Reference.
    pub pnr: Pnr,
    /// Owner.
    pub customer_id: UserId,
    /// The flights, in travel order.
    pub segments: Vec<BookedSegment>,
    /// Notification address.
    pub contact_email: EmailAddress,
    /// Price to pay: every segment's fare for every seated passenger.
    pub total: Money,
    /// The journey's cancellation rules (refundable only if every fare is; the fees add up).
    pub fare_rules: FareRules,
    /// When the hold lapses unless paid.
    pub hold_until: DateTime<Utc>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
}

/// `BookingPlaced` as stored, in either version.
#[derive(Deserialize)]
struct PlacedWire {
    id: BookingId,
    pnr: Pnr,
    customer_id: UserId,
    #[serde(default)]
    segments: Option<Vec<BookedSegment>>,
    contact_email: EmailAddress,
    total: Money,
    fare_rules: FareRules,
    hold_until: DateTime<Utc>,
    placed_at: DateTime<Utc>,
    // Version 1.0: one flight.
    #[serde(default)]
    flight_id: Option<FlightId>,
    #[serde(default)]
    cabin: Option<Cabin>,
    #[serde(default)]
    passengers: Option<Passengers>,
    #[serde(default)]
    departure_at: Option<DateTime<Utc>>,
}

impl TryFrom<PlacedWire> for Placement {
    type Error = String;

    fn try_from(w: PlacedWire) -> Result<Self, String> {
        let segments = match (
            w.segments,
            w.flight_id,
            w.cabin,
            w.passengers,
            w.departure_at,
        ) {
            (Some(segments), ..) if !segments.is_empty() => segments,
            (None, Some(flight_id), Some(cabin), Some(passengers), Some(departure_at)) => {
                vec![upcast_v1(
                    flight_id,
                    cabin,
                    passengers,
                    departure_at,
                    w.total,
                    w.fare_rules,
                )?]
            }
            _ => return Err("BookingPlaced has neither segments nor a flight".to_owned()),
        };
        Ok(Self {
            id: w.id,
            pnr: w.pnr,
            customer_id: w.customer_id,
            segments,
            contact_email: w.contact_email,
            total: w.total,
            fare_rules: w.fare_rules,
            hold_until: w.hold_until,
            placed_at: w.placed_at,
        })
    }
}

/// A 1.0 booking as the one segment it was: its fare is the total over its seated passengers (it was
/// computed as that product, so the division is exact).
fn upcast_v1(
    flight_id: FlightId,
    cabin: Cabin,
    passengers: Passengers,
    departure_at: DateTime<Utc>,
    total: Money,
    rules: FareRules,
) -> Result<BookedSegment, String> {
    let seated = i64::try_from(passengers.seated_count().max(1)).map_err(|e| e.to_string())?;
    let price = Money::try_new(total.amount_minor() / seated, total.currency())
        .map_err(|e| e.to_string())?;
    Ok(BookedSegment {
        flight_id,
        slice: 0,
        fare: Fare {
            cabin,
            price,
            rules,
            class: None,
            limit: None,
        },
        passengers,
        departure_at,
        arrival_at: None,
        offloaded: Vec::new(),
    })
}

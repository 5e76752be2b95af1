use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::JourneyError;
use crate::values::{AirportCode, FlightId};

/// The most segments (flights) one journey holds.
pub const MAX_SEGMENTS: usize = 4;

/// The longest wait between two segments of one slice: past it, a stop is a stopover.
pub const MAX_CONNECTION: Duration = Duration::hours(24);

/// One flight of a journey, as its schedule says when the journey is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The flight.
    pub flight_id: FlightId,
    /// Where it leaves from.
    pub origin: AirportCode,
    /// Where it arrives.
    pub destination: AirportCode,
    /// When it leaves.
    pub departure_at: DateTime<Utc>,
    /// When it arrives.
    pub arrival_at: DateTime<Utc>,
}

/// Flights that make a journey: one slice (one way) or two (out and back), each of connecting segments
/// in time order, at most [`MAX_SEGMENTS`] in all. Read back from storage, its shape is checked again
/// (its connections were checked when it was decided, against the connecting times of that day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Vec<Segment>>", into = "Vec<Vec<Segment>>")]
pub struct Itinerary {
    slices: Vec<Vec<Segment>>,
}

impl TryFrom<Vec<Vec<Segment>>> for Itinerary {
    type Error = JourneyError;

    fn try_from(slices: Vec<Vec<Segment>>) -> Result<Self, JourneyError> {
        check_shape(&slices)?;
        Ok(Self { slices })
    }
}

impl From<Itinerary> for Vec<Vec<Segment>> {
    fn from(i: Itinerary) -> Self {
        i.slices
    }
}

/// One or two slices, none empty, at most [`MAX_SEGMENTS`] segments.
fn check_shape(slices: &[Vec<Segment>]) -> Result<(), JourneyError> {
    if slices.is_empty() || slices.iter().any(Vec::is_empty) {
        return Err(JourneyError::Empty);
    }
    if slices.len() > 2 {
        return Err(JourneyError::TooManySlices(slices.len()));
    }
    let count = slices.iter().map(Vec::len).sum();
    if count > MAX_SEGMENTS {
        return Err(JourneyError::TooManySegments {
            count,
            max: MAX_SEGMENTS,
        });
    }
    Ok(())
}

impl Itinerary {
    /// Checks that `slices` make a journey, with `min_connection` the minimum connecting time of an
    /// airport.
    ///
    /// # Errors
    /// [`JourneyError`]: the rule the flights break, naming the first segment that breaks it.
    pub fn new(
        slices: Vec<Vec<Segment>>,
        min_connection: impl Fn(AirportCode) -> Duration,
    ) -> Result<Self, JourneyError> {
        check_shape(&slices)?;
        let mut flights = BTreeSet::new();
        let mut first = 0;
        for slice in &slices {
            check_slice(slice, first, &min_connection)?;
            for s in slice {
                if !flights.insert(s.flight_id) {
                    return Err(JourneyError::RepeatedFlight(s.flight_id));
                }
            }
            first += slice.len();
        }
        if let [outbound, inbound] = slices.as_slice() {
            check_return(outbound, inbound)?;
        }
        Ok(Self { slices })
    }

    /// A one-way journey on one flight (every booking made before journeys).
    pub fn single(segment: Segment) -> Self {
        Self {
            slices: vec![vec![segment]],
        }
    }

    /// The slices, out (and back).
    pub fn slices(&self) -> &[Vec<Segment>] {
        &self.slices
    }

    /// Every segment in travel order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.slices.iter().flatten()
    }

    /// Where the journey starts.
    pub fn origin(&self) -> AirportCode {
        self.slices[0][0].origin
    }

    /// Where the outbound slice ends (the turnaround of a return).
    pub fn destination(&self) -> AirportCode {
        self.slices[0][self.slices[0].len() - 1].destination
    }

    /// When the first segment leaves.
    pub fn departure_at(&self) -> DateTime<Utc> {
        self.slices[0][0].departure_at
    }
}

/// Each segment arrives after it leaves, and leaves from where the one before arrived, within the
/// connecting time of that airport, never coming back to an airport of the slice.
fn check_slice(
    slice: &[Segment],
    first: usize,
    min_connection: &impl Fn(AirportCode) -> Duration,
) -> Result<(), JourneyError> {
    let mut visited = BTreeSet::from([slice[0].origin]);
    for (i, s) in slice.iter().enumerate() {
        let segment = first + i;
        if s.arrival_at <= s.departure_at {
            return Err(JourneyError::ArrivesBeforeDeparture { segment });
        }
        if i > 0 {
            check_connection(&slice[i - 1], s, segment, min_connection)?;
        }
        if !visited.insert(s.destination) {
            return Err(JourneyError::Loop {
                segment,
                airport: s.destination,
            });
        }
    }
    Ok(())
}

fn check_connection(
    before: &Segment,
    next: &Segment,
    segment: usize,
    min_connection: &impl Fn(AirportCode) -> Duration,
) -> Result<(), JourneyError> {
    let airport = before.destination;
    if next.origin != airport {
        return Err(JourneyError::Disconnected {
            segment,
            from: next.origin,
            arrived_at: airport,
        });
    }
    let wait = next.departure_at - before.arrival_at;
    let minimum = min_connection(airport);
    if wait < minimum {
        return Err(JourneyError::ConnectionTooShort {
            segment,
            airport,
            minutes: wait.num_minutes(),
            minimum: minimum.num_minutes(),
        });
    }
    if wait > MAX_CONNECTION {
        return Err(JourneyError::ConnectionTooLong { segment, airport });
    }
    Ok(())
}

/// The return goes back from where the outbound arrived to where it started, after it arrived.
fn check_return(outbound: &[Segment], inbound: &[Segment]) -> Result<(), JourneyError> {
    let (out_first, out_last) = (&outbound[0], &outbound[outbound.len() - 1]);
    let (in_first, in_last) = (&inbound[0], &inbound[inbound.len() - 1]);
    if in_first.origin != out_last.destination || in_last.destination != out_first.origin {
        return Err(JourneyError::NotAReturn {
            from: in_first.origin,
            to: in_last.destination,
            expected_from: out_last.destination,
            expected_to: out_first.origin,
        });
    }
    if in_first.departure_at <= out_last.arrival_at {
        return Err(JourneyError::ReturnBeforeArrival {
            departs: in_first.departure_at,
            arrives: out_last.arrival_at,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::now;

    fn code(c: &str) -> AirportCode {
        AirportCode::parse(c).unwrap()
    }

    /// `from`→`to` leaving `at` hours from now, flying `hours`.
    fn leg(n: u128, from: &str, to: &str, at: f64, hours: f64) -> Segment {
        let departure_at = now() + Duration::minutes((at * 60.0) as i64);
        Segment {
            flight_id: FlightId::from_uuid(uuid::Uuid::from_u128(n)),
            origin: code(from),
            destination: code(to),
            departure_at,
            arrival_at: departure_at + Duration::minutes((hours * 60.0) as i64),
        }
    }

    fn hour(_: AirportCode) -> Duration {
        Duration::minutes(60)
    }

    #[test]
    fn a_connection_and_a_return_make_a_journey() {
        let out = vec![
            leg(1, "LHR", "CDG", 0.0, 1.0),
            leg(2, "CDG", "JFK", 2.5, 8.0),
        ];
        let back = vec![leg(3, "JFK", "LHR", 100.0, 7.0)];
        let journey = Itinerary::new(vec![out, back], hour).unwrap();
        assert_eq!(journey.segments().count(), 3);
        assert_eq!(journey.origin(), code("LHR"));
        assert_eq!(journey.destination(), code("JFK"));
    }

    #[test]
    fn a_connection_shorter_than_the_airports_minimum_is_refused() {
        let out = vec![
            leg(1, "LHR", "CDG", 0.0, 1.0),
            leg(2, "CDG", "JFK", 1.5, 8.0),
        ];
        assert_eq!(
            Itinerary::new(vec![out.clone()], hour),
            Err(JourneyError::ConnectionTooShort {
                segment: 1,
                airport: code("CDG"),
                minutes: 30,
                minimum: 60
            })
        );
        // The same connection is long enough at an airport whose minimum is 25 minutes.
        assert!(Itinerary::new(vec![out], |_| Duration::minutes(25)).is_ok());
    }

    #[test]
    fn segments_that_do_not_connect_or_wait_past_a_day_are_refused() {
        let apart = vec![
            leg(1, "LHR", "CDG", 0.0, 1.0),
            leg(2, "ORY", "JFK", 3.0, 8.0),
        ];
        assert!(matches!(
            Itinerary::new(vec![apart], hour),
            Err(JourneyError::Disconnected { segment: 1, .. })
        ));
        let stopover = vec![
            leg(1, "LHR", "CDG", 0.0, 1.0),
            leg(2, "CDG", "JFK", 26.0, 8.0),
        ];
        assert!(matches!(
            Itinerary::new(vec![stopover], hour),
            Err(JourneyError::ConnectionTooLong { segment: 1, .. })
        ));
    }

    #[test]
    fn a_slice_that_comes_back_to_its_start_is_a_loop() {
        let circle = vec![
            leg(1, "CDG", "JFK", 0.0, 8.0),
            leg(2, "JFK", "CDG", 10.0, 7.0),
        ];
        assert!(matches!(
            Itinerary::new(vec![circle], hour),
            Err(JourneyError::Loop { segment: 1, .. })
        ));
    }

    #[test]
    fn a_return_must_go_back_after_the_outbound_arrives() {
        let out = vec![leg(1, "CDG", "JFK", 0.0, 8.0)];
        let early = vec![leg(2, "JFK", "CDG", 7.0, 7.0)];
        assert!(matches!(
            Itinerary::new(vec![out.clone(), early], hour),
            Err(JourneyError::ReturnBeforeArrival { .. })
        ));
        let elsewhere = vec![leg(2, "JFK", "LHR", 30.0, 7.0)];
        assert!(matches!(
            Itinerary::new(vec![out, elsewhere], hour),
            Err(JourneyError::NotAReturn { .. })
        ));
    }

    #[test]
    fn empty_long_and_repeated_journeys_are_refused() {
        assert_eq!(Itinerary::new(vec![], hour), Err(JourneyError::Empty));
        assert_eq!(Itinerary::new(vec![vec![]], hour), Err(JourneyError::Empty));
        let hops: Vec<Segment> = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
            .windows(2)
            .enumerate()
            .map(|(i, w)| leg(i as u128, w[0], w[1], i as f64 * 3.0, 1.0))
            .collect();
        assert_eq!(
            Itinerary::new(vec![hops], hour),
            Err(JourneyError::TooManySegments { count: 5, max: 4 })
        );
        let out = vec![leg(1, "CDG", "JFK", 0.0, 8.0)];
        let back = vec![leg(1, "JFK", "CDG", 30.0, 7.0)];
        assert!(matches!(
            Itinerary::new(vec![out, back], hour),
            Err(JourneyError::RepeatedFlight(_))
        ));
    }

    #[test]
    fn a_journey_round_trips_through_json_and_a_shapeless_one_is_refused() {
        let journey = Itinerary::single(leg(1, "CDG", "JFK", 0.0, 8.0));
        let json = serde_json::to_string(&journey).unwrap();
        assert_eq!(serde_json::from_str::<Itinerary>(&json).unwrap(), journey);
        for shapeless in ["[]", "[[]]"] {
            assert!(
                serde_json::from_str::<Itinerary>(shapeless).is_err(),
                "{shapeless}"
            );
        }
    }
}

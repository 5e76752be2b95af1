//! Overbooking: a cabin sold beyond its seats, by a count or a percentage of them. The places beyond
//! the seats are sold without seats; the flight's close offloads whoever does not fit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::check_open;
use super::{FlightError, FlightEvent, FlightState};
use crate::values::Cabin;

/// Places a cabin sells beyond its seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Overbooking {
    /// Places beyond the seats.
    pub extra_seats: u32,
    /// The percentage of the seats it was set as, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
}

impl Overbooking {
    /// The most a cabin may be oversold: as many places again as it has seats.
    pub const MAX_PERCENT: u32 = 100;

    /// `extra_seats` places beyond the seats.
    pub fn seats(extra_seats: u32) -> Self {
        Self {
            extra_seats,
            percent: None,
        }
    }

    /// `percent` of a cabin's `seats`, rounded down.
    pub fn percent_of(percent: u32, seats: usize) -> Self {
        let seats = u64::try_from(seats).unwrap_or(u64::MAX);
        let extra = seats.saturating_mul(u64::from(percent)) / 100;
        Self {
            extra_seats: u32::try_from(extra).unwrap_or(u32::MAX),
            percent: Some(percent),
        }
    }
}

/// A cabin's overbooking set (as an event); setting it lower never takes back places sold.
pub(super) fn set_overbooking(
    s: &FlightState,
    cabin: Cabin,
    overbooking: Overbooking,
    now: DateTime<Utc>,
) -> Result<Vec<FlightEvent>, FlightError> {
    check_open(s, now)?;
    let seats = s.seats.values().filter(|x| x.cabin == cabin).count();
    if seats == 0 {
        return Err(FlightError::NoSuchCabin(cabin));
    }
    if overbooking
        .percent
        .is_some_and(|p| p > Overbooking::MAX_PERCENT)
        || overbooking.extra_seats as usize > seats
    {
        return Err(FlightError::InvalidOverbooking(
            "a cabin may be sold at most twice its seats (100%)",
        ));
    }
    let current = s.overbooking.get(&cabin).copied().unwrap_or_default();
    let unchanged = current.extra_seats == overbooking.extra_seats
        && (current.percent == overbooking.percent || overbooking.extra_seats == 0);
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![FlightEvent::OverbookingSet {
        cabin,
        extra_seats: overbooking.extra_seats,
        percent: overbooking.percent,
    }])
}

use serde::{Deserialize, Serialize};

use crate::values::{Cabin, Money, ValueError};

/// What cancelling costs on a fare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FareRules {
    /// Whether a customer cancellation refunds anything (outside the 24-hour window).
    pub refundable: bool,
    /// Kept from the refund of a refundable fare, per booking.
    pub cancellation_fee: Money,
}

/// The price of one seat in a cabin, and its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fare {
    /// Cabin this fare sells.
    pub cabin: Cabin,
    /// Price per seated passenger (infants on a lap fly free).
    pub price: Money,
    /// Cancellation rules.
    pub rules: FareRules,
}

impl Fare {
    /// The most a fare or a fee may be, in minor units (ten billion units of any currency): nine
    /// passengers' totals, and every sum of them the read models keep, stay far inside 64 bits.
    pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

    /// Price for `seated` passengers.
    ///
    /// # Errors
    /// [`ValueError::Amount`] on overflow.
    pub fn total_for(&self, seated: usize) -> Result<Money, ValueError> {
        let n = u32::try_from(seated).map_err(|_| ValueError::Amount)?;
        self.price.times(n)
    }
}

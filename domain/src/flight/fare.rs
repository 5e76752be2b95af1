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

/// A booking class (RBD, reservation booking designator): one upper-case letter, unique on a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassCode(u8);

impl ClassCode {
    /// Parses one letter A-Z.
    ///
    /// # Errors
    /// [`ValueError::ClassCode`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw.as_bytes() {
            [c] if c.is_ascii_uppercase() => Ok(Self(*c)),
            _ => Err(ValueError::ClassCode(raw.to_owned())),
        }
    }

    /// The letter.
    pub fn as_char(self) -> char {
        char::from(self.0)
    }

    /// The class a cabin priced with one fare and no class sells as (flights scheduled before booking
    /// classes existed): F first, J business, W premium economy, Y economy.
    pub fn default_for(cabin: Cabin) -> Self {
        Self(match cabin {
            Cabin::First => b'F',
            Cabin::Business => b'J',
            Cabin::PremiumEconomy => b'W',
            Cabin::Economy => b'Y',
        })
    }
}

impl std::fmt::Display for ClassCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl TryFrom<String> for ClassCode {
    type Error = ValueError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ClassCode> for String {
    fn from(code: ClassCode) -> Self {
        code.to_string()
    }
}

/// One booking class of a cabin: its price per seat, its rules and its nested limit. A cabin sells one
/// or more, the dearest first; a fare without a class (as every flight had before classes) sells as
/// its cabin's one class, [`ClassCode::default_for`], limited by the cabin's seats only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fare {
    /// Cabin this fare sells.
    pub cabin: Cabin,
    /// Its booking class; required where a cabin has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ClassCode>,
    /// Price per seated passenger (infants on a lap fly free).
    pub price: Money,
    /// Cancellation rules.
    pub rules: FareRules,
    /// Nested limit: the most seats this class and the cheaper ones of its cabin may sell together
    /// (held or sold). None: only the cabin's seats limit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl Fare {
    /// The most a fare or a fee may be, in minor units (ten billion units of any currency): nine
    /// passengers' totals, and every sum of them the read models keep, stay far inside 64 bits.
    pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

    /// A cabin's one fare, of no named class and no limit but its seats.
    pub fn single(cabin: Cabin, price: Money, rules: FareRules) -> Self {
        Self {
            cabin,
            class: None,
            price,
            rules,
            limit: None,
        }
    }

    /// Its booking class: the one named, or the cabin's default.
    pub fn code(&self) -> ClassCode {
        self.class.unwrap_or(ClassCode::default_for(self.cabin))
    }

    /// Price for `seated` passengers.
    ///
    /// # Errors
    /// [`ValueError::Amount`] on overflow.
    pub fn total_for(&self, seated: usize) -> Result<Money, ValueError> {
        let n = u32::try_from(seated).map_err(|_| ValueError::Amount)?;
        self.price.times(n)
    }
}

/// How many seats each class of one cabin may still sell, the dearest first: a class may sell up to
/// its own nested limit and every dearer class's, less what that class and the cheaper ones hold or
/// sold, and never more than the cabin's free seats. `sold[i]` is what class `i` holds or sold.
pub fn nested_availability(classes: &[Fare], sold: &[usize], cabin_free: usize) -> Vec<usize> {
    let mut available = Vec::with_capacity(classes.len());
    let mut bound = cabin_free;
    for (i, fare) in classes.iter().enumerate() {
        if let Some(limit) = fare.limit {
            let sold_here_and_cheaper: usize = sold[i..].iter().sum();
            let left = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_sub(sold_here_and_cheaper);
            bound = bound.min(left);
        }
        available.push(bound);
    }
    available
}

//! How the domain's values look on the wire, for the OpenAPI document: the shapes and the constraints
//! the domain enforces when it parses them (it stays free of documentation concerns). Nothing here is
//! constructed; each type only names a schema.
#![allow(dead_code)] // Schema-only types: read by utoipa, never built.

use utoipa::ToSchema;

/// Money in minor units (cents for EUR) of an ISO 4217 currency.
#[derive(ToSchema)]
#[schema(as = Money)]
pub struct MoneySchema {
    /// Minor units, never negative.
    #[schema(minimum = 0, example = 12_900)]
    amount_minor: i64,
    /// ISO 4217 code, one of those `GET /currencies` lists (either case is taken).
    #[schema(
        pattern = "^(AED|ARS|AUD|BGN|BHD|BRL|CAD|CHF|CLP|CNY|COP|CZK|DKK|EGP|EUR|GBP|HKD|HUF|IDR|ILS|INR|ISK|JOD|JPY|KES|KRW|KWD|MAD|MXN|MYR|NGN|NOK|NZD|OMR|PEN|PHP|PKR|PLN|QAR|RON|SAR|SEK|SGD|THB|TND|TRY|TWD|UAH|USD|VND|ZAR)$",
        example = "EUR"
    )]
    currency: String,
}

/// A cabin.
#[derive(ToSchema)]
#[schema(as = Cabin)]
#[allow(clippy::enum_variant_names)]
pub enum CabinSchema {
    /// Economy.
    #[schema(rename = "economy")]
    Economy,
    /// Premium economy.
    #[schema(rename = "premium_economy")]
    PremiumEconomy,
    /// Business.
    #[schema(rename = "business")]
    Business,
    /// First.
    #[schema(rename = "first")]
    First,
}

/// Who travels.
#[derive(ToSchema)]
#[schema(as = PassengerType)]
pub enum PassengerTypeSchema {
    /// 12 and over.
    #[schema(rename = "adult")]
    Adult,
    /// 2 to 11.
    #[schema(rename = "child")]
    Child,
    /// Under 2, on an adult's lap, without a seat.
    #[schema(rename = "infant")]
    Infant,
}

/// A traveller.
#[derive(ToSchema)]
#[schema(as = Passenger)]
pub struct PassengerSchema {
    /// Letters, spaces, `-`, `'` and `.`; 1-64 characters.
    #[schema(min_length = 1, max_length = 64, example = "Ada")]
    first_name: String,
    /// As `first_name`.
    #[schema(min_length = 1, max_length = 64, example = "Lovelace")]
    last_name: String,
    /// Adult, child or infant.
    #[schema(rename = "type")]
    kind: PassengerTypeSchema,
    /// Row 1-99 and a letter A-K without I; none for an infant.
    #[schema(pattern = "^[1-9][0-9]?[A-HJK]$", example = "12A")]
    seat: Option<String>,
}

/// A fare's cancellation rules.
#[derive(ToSchema)]
#[schema(as = FareRules)]
pub struct FareRulesSchema {
    /// Whether a cancellation refunds anything.
    refundable: bool,
    /// Kept on a refundable cancellation.
    cancellation_fee: MoneySchema,
}

/// What one cabin sells at.
#[derive(ToSchema)]
#[schema(as = Fare)]
pub struct FareSchema {
    /// The cabin.
    cabin: CabinSchema,
    /// The booking class (one letter, unique on the flight); required where a cabin has several.
    /// Without: the cabin's one class (F first, J business, W premium economy, Y economy).
    #[schema(pattern = "^[A-Z]$", example = "Y")]
    class: Option<String>,
    /// Per seated passenger.
    price: MoneySchema,
    /// Cancellation rules.
    rules: FareRulesSchema,
    /// Nested limit: the most seats this class and the cheaper ones of its cabin may sell together;
    /// from the dearest class to the cheapest, prices fall and limits never rise. Without: the cabin's
    /// seats.
    #[schema(minimum = 0, maximum = 100_000)]
    limit: Option<u32>,
}

/// One cabin of an aircraft's layout.
#[derive(ToSchema)]
#[schema(as = CabinLayout)]
pub struct CabinLayoutSchema {
    /// The cabin (each at most once).
    cabin: CabinSchema,
    /// First row, 1-99.
    #[schema(minimum = 1, maximum = 99)]
    first_row: u8,
    /// Last row, inclusive, 1-99; cabins do not share rows.
    #[schema(minimum = 1, maximum = 99)]
    last_row: u8,
    /// Seat letters across a row (A-K without I), a space for each aisle.
    #[schema(pattern = "^[A-HJK]+( [A-HJK]+)*$", example = "ABC DEF")]
    letters: String,
    /// Exit rows, inside the cabin.
    exit_rows: Vec<u8>,
}

use thiserror::Error;

/// Why a raw input could not become a value type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// Not three letters A–Z.
    #[error("airport code must be three letters (IATA), got {0:?}")]
    AirportCode(String),
    /// Not an airline designator followed by 1–4 digits and an optional suffix letter.
    #[error("flight number must be a two-character airline code and 1-4 digits, got {0:?}")]
    FlightNumber(String),
    /// Not a row 1–99 followed by a seat letter A–K (no I).
    #[error("seat must be a row 1-99 and a letter A-K without I, like 12A, got {0:?}")]
    SeatNumber(String),
    /// Not one of the cabins.
    #[error("cabin must be economy, premium_economy, business or first, got {0:?}")]
    Cabin(String),
    /// Not six characters of the PNR alphabet.
    #[error("booking reference must be 6 characters from {alphabet}, got {got:?}")]
    Pnr {
        /// The characters allowed.
        alphabet: &'static str,
        /// What was given.
        got: String,
    },
    /// Not an ISO 4217 currency code that we know.
    #[error("currency must be an ISO 4217 code, got {0:?}")]
    Currency(String),
    /// A negative amount, or arithmetic across currencies.
    #[error("amount must be zero or more minor units of one currency")]
    Amount,
    /// A name that is empty, too long, or has characters a ticket cannot carry.
    #[error("name must be 1-64 letters, spaces, hyphens or apostrophes, got {0:?}")]
    PersonName(String),
    /// Not one of the passenger types.
    #[error("passenger type must be adult, child or infant, got {0:?}")]
    PassengerType(String),
    /// A label that is empty, too long, or has control characters.
    #[error("text must be 1-{max} printable characters, got {got:?}")]
    Label {
        /// The longest allowed.
        max: usize,
        /// What was given.
        got: String,
    },
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("country must be a two-letter ISO 3166 code, got {0:?}")]
    CountryCode(String),
    /// Not an IANA time zone name.
    #[error("time zone must be an IANA name like Europe/Paris, got {0:?}")]
    TimeZone(String),
    /// A minimum connecting time out of range.
    #[error("a minimum connecting time is 10 to 720 minutes, got {0}")]
    ConnectionTime(u32),
    /// Not an email address.
    #[error("email must look like name@example.com, got {0:?}")]
    Email(String),
    /// Not one upper-case letter.
    #[error("a booking class is one letter A-Z, got {0:?}")]
    ClassCode(String),
    /// A seat layout that cannot be built.
    #[error("seat layout: {0}")]
    Layout(&'static str),
    /// Not a UUID.
    #[error("id must be a UUID, got {0:?}")]
    Id(String),
    /// The party breaks the seating rules.
    #[error("{0}")]
    Party(&'static str),
}

use thiserror::Error;

use crate::values::AirportCode;

/// Airport rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AirportError {
    /// Register on a code that exists.
    #[error("airport {0} is already registered")]
    AlreadyRegistered(AirportCode),
    /// Update on a code that does not exist.
    #[error("no airport is registered under this code")]
    NotRegistered,
}

use thiserror::Error;

/// Aircraft rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AircraftError {
    /// Register on an id that exists.
    #[error("this aircraft is already registered")]
    AlreadyRegistered,
}

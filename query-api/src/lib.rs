//! The read side over HTTP: flight search with filters, multi-key sort and cursor pages; flights and seat
//! maps (read through a Redis cache, versioned so a reader never goes back in time); bookings; audit
//! history and time travel folded from the event log with the domain's own `apply`; analytics. It never
//! writes events.

pub mod access;
pub mod config;
pub mod error;
pub mod feed;
pub mod routes;
pub mod startup;
pub mod state;

//! What the `airline` binary shares with the tests and the bench: `verify`, the system's invariants
//! checked with SQL over the event log and the payments ledger, independently of the services' code.

pub mod verify;

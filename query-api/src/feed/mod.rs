//! The event feed: the log as server-sent events, in commit order. `GET /api/v1/events` (admin) and
//! `GET /api/v1/bookings/{id}/events` (the booking's owner, or an admin).
//!
//! Each event's `id:` is its position (`<tx_id>-<global_position>`); a client hands the last one back
//! as `Last-Event-ID` (or `?after=`) and the stream goes on right after it, with no gap and no duplicate,
//! across reconnects and restarts: the position is all the state there is. Reads use the same horizon as
//! every subscription (only transactions older than every one still running), so an event that commits
//! late is never skipped. A stream waits for the `events` insert notification (one listener per process
//! wakes every stream), or polls when the listener is down. Each stream reads a batch at a time into a
//! bounded buffer; a client that stops reading is disconnected by the server's write timeout, and holds
//! at most that buffer until then.
//!
//! `params` reads where a stream starts and what it carries, `read` queries the log, `hub` wakes the
//! streams on the insert notification, and `stream` follows the log for one client.

pub mod hub;
pub mod params;
pub mod read;
pub mod stream;

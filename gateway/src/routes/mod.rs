//! The gateway's own routes: accounts, roles, the merged OpenAPI document and docs, readiness; the admin status report; the console.

pub mod auth;
pub mod console;
pub mod docs;
pub mod health;
pub mod table;

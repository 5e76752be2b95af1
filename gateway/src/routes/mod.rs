//! The gateway's own routes: accounts, roles, the merged OpenAPI document and docs, readiness.

pub mod auth;
pub mod docs;
pub mod health;
pub mod table;

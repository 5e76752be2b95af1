//! The metadata every event carries: who, why, and under which request.

use std::collections::HashMap;

use infra::auth::Principal;
use infra::http::Committing;

use crate::outcome::IdempotencyClaim;

/// Who issued a command and why, stored as the events' metadata.
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    /// The caller, if a person.
    pub principal: Option<Principal>,
    /// The request id that started this chain of commands.
    pub correlation_id: String,
    /// What caused this command (an event id, for process steps).
    pub causation_id: Option<String>,
    /// The request's Idempotency-Key.
    pub idempotency_key: Option<String>,
    /// The request's claim on its Idempotency-Key: the outcome commits with the events.
    pub claim: Option<IdempotencyClaim>,
    /// The request's mark, set once its decision is queued: its answer then waits for the outcome.
    pub committing: Option<Committing>,
    /// The client's address, as the gateway saw it (holds are capped per address too).
    pub client: Option<String>,
}

impl CommandMeta {
    /// Metadata for work the system does by itself (sweeper, payment recovery).
    pub fn system(correlation_id: String) -> Self {
        Self {
            correlation_id,
            ..Self::default()
        }
    }

    pub(super) fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([("correlation_id".to_owned(), self.correlation_id.clone())]);
        if let Some(p) = self.principal {
            map.insert("user_id".to_owned(), p.user_id.to_string());
            map.insert("role".to_owned(), p.role.as_str().to_owned());
        } else {
            map.insert("role".to_owned(), "system".to_owned());
        }
        if let Some(c) = &self.causation_id {
            map.insert("causation_id".to_owned(), c.clone());
        }
        if let Some(k) = &self.idempotency_key {
            map.insert("idempotency_key".to_owned(), k.clone());
        }
        map
    }
}

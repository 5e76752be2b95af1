//! What a decision sees and writes: the streams it reads (loaded before it runs), the events it appends
//! to any of them, and the side rows that commit with those events (PNR, hold deadline, payments
//! ledger). A decision that fails leaves no trace: what it changed is rolled back before the next one of
//! the batch runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use uuid::Uuid;

use super::stream::{Stream, StreamKey, Streams, Versioned};
use crate::error::ApiError;

/// An event to append.
#[derive(Debug, Clone)]
pub(super) struct NewEvent {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub event_id: Uuid,
}

/// A row for the payments ledger.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    /// Id.
    pub payment_id: Uuid,
    /// The booking paid or refunded.
    pub booking_id: Uuid,
    /// Its flight.
    pub flight_id: Uuid,
    /// `authorization` or `refund`.
    pub kind: &'static str,
    /// Which attempt for the booking.
    pub attempt: i32,
    /// Amount, minor units.
    pub amount_minor: i64,
    /// Currency code.
    pub currency: String,
    /// Status it starts in.
    pub status: &'static str,
    /// The key the provider deduplicates by.
    pub provider_key: String,
}

/// A ledger row's status change that must find the row in `from`, or the whole commit fails.
#[derive(Debug, Clone)]
pub(super) struct PaymentMove {
    pub job: usize,
    pub payment_id: Uuid,
    pub from: &'static str,
    pub to: &'static str,
    pub reference: Option<String>,
}

/// An unpaid hold put on the sweeper's list, with who holds how many seats (the hold cap).
#[derive(Debug, Clone)]
pub(super) struct Hold {
    pub job: usize,
    pub booking: Uuid,
    pub flight: Uuid,
    pub until: DateTime<Utc>,
    pub customer: Uuid,
    pub client: Option<String>,
    pub seats: i32,
    /// A new account's hold: the flights it holds on, and its party (seats on each), for the
    /// per-flight cap.
    pub new_account: Option<(Vec<Uuid>, i32)>,
}

/// Rows that commit with the events.
#[derive(Debug, Clone, Default)]
pub(super) struct SideRows {
    pub pnrs: Vec<(String, Uuid)>,
    pub deadlines_added: Vec<Hold>,
    pub deadlines_dropped: Vec<Uuid>,
    pub payments_added: Vec<PaymentRow>,
    pub payments_moved: Vec<PaymentMove>,
}

impl SideRows {
    pub(super) fn is_empty(&self) -> bool {
        self.lengths().iter().all(|n| *n == 0)
    }

    fn lengths(&self) -> [usize; 5] {
        [
            self.pnrs.len(),
            self.deadlines_added.len(),
            self.deadlines_dropped.len(),
            self.payments_added.len(),
            self.payments_moved.len(),
        ]
    }

    fn truncate(&mut self, to: [usize; 5]) {
        self.pnrs.truncate(to[0]);
        self.deadlines_added.truncate(to[1]);
        self.deadlines_dropped.truncate(to[2]);
        self.payments_added.truncate(to[3]);
        self.payments_moved.truncate(to[4]);
    }
}

/// Where the running decision started, to undo it.
struct Mark {
    before: Streams,
    touched: BTreeSet<StreamKey>,
    events: usize,
    side: [usize; 5],
}

/// The streams and pending writes of one batch, as each decision of it sees them.
pub struct WorkingSet {
    streams: Streams,
    pub(super) events: Vec<NewEvent>,
    pub(super) side: SideRows,
    /// Streams a decision asked for that were not loaded, with the decisions that asked.
    pub(super) missing: BTreeMap<StreamKey, Vec<usize>>,
    created: BTreeSet<StreamKey>,
    metadata: HashMap<String, String>,
    causation: Option<String>,
    job: usize,
    mark: Option<Mark>,
}

impl WorkingSet {
    pub(super) fn new(streams: Streams) -> Self {
        Self {
            streams,
            events: Vec::new(),
            side: SideRows::default(),
            missing: BTreeMap::new(),
            created: BTreeSet::new(),
            metadata: HashMap::new(),
            causation: None,
            job: 0,
            mark: None,
        }
    }

    /// Streams declared new: after a conflict they are read like any other.
    pub(super) fn created(&self) -> BTreeSet<StreamKey> {
        self.created.clone()
    }

    pub(super) fn streams(&self) -> &Streams {
        &self.streams
    }

    /// Starts decision `job` with its command metadata.
    pub(super) fn begin(&mut self, job: usize, metadata: HashMap<String, String>) {
        self.job = job;
        self.causation = metadata.get("causation_id").cloned();
        self.metadata = metadata;
        self.mark = Some(Mark {
            before: Streams::default(),
            touched: BTreeSet::new(),
            events: self.events.len(),
            side: self.side.lengths(),
        });
    }

    /// Undoes everything the running decision did.
    pub(super) fn rollback(&mut self) {
        let Some(mark) = self.mark.take() else {
            return;
        };
        self.events.truncate(mark.events);
        self.side.truncate(mark.side);
        for key in mark.touched {
            restore(&mut self.streams, &mark.before, &key);
        }
    }

    /// The stream `id` of `A` as the batch has it so far.
    ///
    /// # Errors
    /// [`ApiError::NeedsStreams`] when it was not loaded: the executor loads it and decides again.
    pub fn get<A: Stream>(&mut self, id: &str) -> Result<&Versioned<A>, ApiError>
    where
        ApiError: From<A::Error>,
    {
        self.require::<A>(&[id])?;
        A::slots_ref(&self.streams)
            .get(id)
            .ok_or(ApiError::NeedsStreams)
    }

    /// Makes sure every one of `ids` is loaded.
    ///
    /// # Errors
    /// [`ApiError::NeedsStreams`] naming all that are not, so one reload brings them all.
    pub fn require<A: Stream>(&mut self, ids: &[&str]) -> Result<(), ApiError>
    where
        ApiError: From<A::Error>,
    {
        let mut complete = true;
        for id in ids {
            if !A::slots_ref(&self.streams).contains_key(*id) {
                self.missing
                    .entry(StreamKey::of::<A>(id))
                    .or_default()
                    .push(self.job);
                complete = false;
            }
        }
        if complete {
            Ok(())
        } else {
            Err(ApiError::NeedsStreams)
        }
    }

    /// Declares `id` a stream that has no events yet, so it is not read: a wrong declaration costs a
    /// conflict on the sequence key and a retry that reads it, never a wrong decision.
    pub fn create<A: Stream>(&mut self, id: &str)
    where
        ApiError: From<A::Error>,
    {
        if !A::slots_ref(&self.streams).contains_key(id) {
            self.created.insert(StreamKey::of::<A>(id));
            self.touch::<A>(id);
            A::slots(&mut self.streams).insert(
                id.to_owned(),
                Versioned {
                    aggregate: A::default(),
                    version: 0,
                },
            );
        }
    }

    /// 412 when `expected` names another version than the stream has now.
    ///
    /// # Errors
    /// [`ApiError::PreconditionFailed`]; [`ApiError::NeedsStreams`].
    pub fn expect_version<A: Stream>(
        &mut self,
        id: &str,
        expected: Option<u64>,
    ) -> Result<(), ApiError>
    where
        ApiError: From<A::Error>,
    {
        let current = self.get::<A>(id)?.version;
        match expected {
            Some(v) if v != current => Err(ApiError::PreconditionFailed { current }),
            _ => Ok(()),
        }
    }

    /// Decides `command` on stream `id`, applies its events and queues them with this decision's
    /// metadata under `name`. Returns the new events' ids.
    ///
    /// # Errors
    /// The aggregate's rule (mapped to its problem), [`ApiError::NeedsStreams`].
    pub fn execute<A: Stream>(
        &mut self,
        id: &str,
        name: &str,
        command: A::Command,
    ) -> Result<Vec<Uuid>, ApiError>
    where
        ApiError: From<A::Error>,
    {
        let events = self.get::<A>(id)?.aggregate.decide_command(command)?;
        if events.is_empty() {
            return Ok(vec![]);
        }
        self.touch::<A>(id);
        let mut metadata = self.metadata.clone();
        metadata.insert("command".to_owned(), name.to_owned());
        if let Some(c) = &self.causation {
            metadata.insert("causation_id".to_owned(), c.clone());
        }
        let metadata = serde_json::to_value(&metadata)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("metadata: {e}")))?;
        let slot = A::slots(&mut self.streams)
            .get_mut(id)
            .ok_or(ApiError::NeedsStreams)?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_value(&event)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("event payload: {e}")))?;
            slot.version += 1;
            let event_id = Uuid::now_v7();
            ids.push(event_id);
            self.events.push(NewEvent {
                aggregate_type: A::TYPE,
                aggregate_id: id.to_owned(),
                sequence: slot.version as i64,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload,
                metadata: metadata.clone(),
                event_id,
            });
            slot.aggregate.apply(event);
        }
        Ok(ids)
    }

    /// Events decided from here on name `event_id` as their cause (disruption fan-out).
    pub fn caused_by(&mut self, event_id: Uuid) {
        self.causation = Some(event_id.to_string());
    }

    /// Reserves a booking reference; a reference already taken makes the commit draw again.
    pub fn reserve_pnr(&mut self, pnr: &str, booking: Uuid) {
        self.side.pnrs.push((pnr.to_owned(), booking));
    }

    /// Puts an unpaid hold of `party` seats on each of `flights` by `customer` from `client` (its
    /// address) on the sweeper's work list; the commit fails this decision if it takes the customer or
    /// the address past its cap on seats held at once, or a new account past its cap on one flight.
    pub fn add_hold(
        &mut self,
        (booking, flights, until): (Uuid, &[Uuid], DateTime<Utc>),
        (customer, client, new_account): (Uuid, Option<&str>, bool),
        party: usize,
    ) {
        let party = i32::try_from(party).unwrap_or(i32::MAX);
        let on = i32::try_from(flights.len()).unwrap_or(i32::MAX);
        self.side.deadlines_added.push(Hold {
            job: self.job,
            booking,
            flight: flights.first().copied().unwrap_or_default(),
            until,
            customer,
            client: client.map(str::to_owned),
            seats: party.saturating_mul(on),
            new_account: new_account.then(|| (flights.to_vec(), party)),
        });
    }

    /// Takes a hold off the sweeper's work list (also one this batch put there).
    pub fn drop_deadline(&mut self, booking: Uuid) {
        self.side.deadlines_added.retain(|h| h.booking != booking);
        self.side.deadlines_dropped.push(booking);
    }

    /// Adds a ledger row.
    pub fn add_payment(&mut self, row: PaymentRow) {
        self.side.payments_added.push(row);
    }

    /// Moves ledger row `payment_id` from `from` to `to`; if it is not in `from` when the batch commits,
    /// this decision fails with a 409 (`payment_voided`) and the others commit without it.
    ///
    /// # Errors
    /// A 409 when a decision before this one in the batch moves the same row already.
    pub fn move_payment(
        &mut self,
        payment_id: Uuid,
        (from, to): (&'static str, &'static str),
        reference: Option<String>,
    ) -> Result<(), ApiError> {
        if self
            .side
            .payments_moved
            .iter()
            .any(|m| m.payment_id == payment_id)
        {
            return Err(super::guard_problem("payment_moved"));
        }
        self.side.payments_moved.push(PaymentMove {
            job: self.job,
            payment_id,
            from,
            to,
            reference,
        });
        Ok(())
    }

    fn touch<A: Stream>(&mut self, id: &str)
    where
        ApiError: From<A::Error>,
    {
        let Some(mark) = self.mark.as_mut() else {
            return;
        };
        if mark.touched.insert(StreamKey::of::<A>(id))
            && let Some(prior) = A::slots_ref(&self.streams).get(id)
        {
            A::slots(&mut mark.before).insert(id.to_owned(), prior.clone());
        }
    }
}

fn restore(streams: &mut Streams, before: &Streams, key: &StreamKey) {
    use domain::aircraft::Aircraft;
    use domain::airport::Airport;
    use domain::booking::Booking;
    use domain::flight::Flight;
    fn one<A: Stream>(streams: &mut Streams, before: &Streams, id: &str)
    where
        ApiError: From<A::Error>,
    {
        match A::slots_ref(before).get(id) {
            Some(prior) => {
                A::slots(streams).insert(id.to_owned(), prior.clone());
            }
            None => {
                A::slots(streams).remove(id);
            }
        }
    }
    match key.kind {
        <Flight as cqrs_es::Aggregate>::TYPE => one::<Flight>(streams, before, &key.id),
        <Booking as cqrs_es::Aggregate>::TYPE => one::<Booking>(streams, before, &key.id),
        <Airport as cqrs_es::Aggregate>::TYPE => one::<Airport>(streams, before, &key.id),
        <Aircraft as cqrs_es::Aggregate>::TYPE => one::<Aircraft>(streams, before, &key.id),
        _ => {}
    }
}

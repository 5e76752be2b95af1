//! The multi-stream append: every event a batch decided, for any number of aggregates, with the rows
//! that go with them (PNR registry, hold deadlines, payments ledger, idempotency outcomes), in one SQL
//! statement and so one transaction. Each aggregate is still guarded by its own `(aggregate_type,
//! aggregate_id, sequence)` key in postgres-es's `events` table, with the same columns postgres-es
//! writes; a guard that fails (a sequence taken, a reference taken, an idempotency claim or a ledger row
//! that moved on) fails the whole statement, so the batch is all-or-nothing.

use sqlx::PgPool;
use uuid::Uuid;

use super::HoldCaps;
use super::working::{Hold, NewEvent, SideRows};

/// An idempotency outcome to store: only the holder of `claim` may.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub job: usize,
    pub principal: String,
    pub key: String,
    pub claim: Uuid,
    pub status: i16,
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub(super) enum CommitError {
    /// Another writer appended to one of the streams first.
    #[error("a stream moved on")]
    Conflict,
    /// A booking reference drawn is taken.
    #[error("a booking reference is taken")]
    PnrTaken,
    /// An idempotency claim or a ledger row is no longer what a decision expected.
    #[error("a guard failed: {0}")]
    Guard(&'static str),
    /// Postgres failed.
    #[error(transparent)]
    Store(sqlx::Error),
}

const COMMIT: &str = r"
WITH
ev AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, event_id)
    SELECT t, i, s, et, ev, p, m, e
    FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::uuid[])
         WITH ORDINALITY AS u(t, i, s, et, ev, p, m, e, n)
    ORDER BY n
),
pnr AS (
    INSERT INTO pnr_registry (pnr, booking_id) SELECT * FROM UNNEST($9::text[], $10::uuid[])
),
dl_drop AS (
    DELETE FROM hold_deadlines WHERE booking_id = ANY($11::uuid[])
),
dl_add AS (
    INSERT INTO hold_deadlines (booking_id, flight_id, hold_until, customer_id, seats, client_addr,
                                new_account_flights, party)
    SELECT b, f, h, c, s, a, string_to_array(nf, ',')::uuid[], p
    FROM UNNEST($12::uuid[], $13::uuid[], $14::timestamptz[], $36::uuid[], $37::int[], $39::text[], $41::text[],
                $42::int[]) AS u(b, f, h, c, s, a, nf, p)
),
new_held AS (
    SELECT c AS customer, unnest(string_to_array(nf, ',')::uuid[]) AS flight, p AS seats
    FROM UNNEST($36::uuid[], $41::text[], $42::int[]) AS u(c, nf, p) WHERE nf IS NOT NULL
),
over_cap AS (
    SELECT 1 FROM (SELECT customer, sum(seats) AS seats FROM UNNEST($36::uuid[], $37::int[]) AS u(customer, seats)
                   GROUP BY customer) n
    WHERE n.seats + coalesce((SELECT sum(d.seats) FROM hold_deadlines d
                              WHERE d.customer_id = n.customer AND d.hold_until > now()
                                AND d.booking_id <> ALL($11::uuid[])), 0) > $38
    UNION ALL
    SELECT 1 FROM (SELECT client, sum(seats) AS seats FROM UNNEST($39::text[], $37::int[]) AS u(client, seats)
                   WHERE client IS NOT NULL GROUP BY client) c
    WHERE c.seats + coalesce((SELECT sum(d.seats) FROM hold_deadlines d
                              WHERE d.client_addr = c.client AND d.hold_until > now()
                                AND d.booking_id <> ALL($11::uuid[])), 0) > $40
    UNION ALL
    SELECT 1 FROM (SELECT customer, flight, sum(seats) AS seats FROM new_held GROUP BY customer, flight) y
    WHERE y.seats + coalesce((SELECT sum(d.party) FROM hold_deadlines d
                              WHERE d.customer_id = y.customer AND y.flight = ANY(d.new_account_flights)
                                AND d.hold_until > now() AND d.booking_id <> ALL($11::uuid[])), 0) > $43
),
pay_add AS (
    INSERT INTO payments (payment_id, booking_id, flight_id, kind, attempt, amount_minor, currency, status, provider_key)
    SELECT * FROM UNNEST($15::uuid[], $16::uuid[], $17::uuid[], $18::text[], $19::int[], $20::bigint[], $21::text[],
                         $22::text[], $23::text[])
),
pay_move AS (
    UPDATE payments p
    SET status = m.to_status, provider_reference = coalesce(m.reference, p.provider_reference), updated_at = now(),
        next_attempt_at = now()
    FROM UNNEST($24::uuid[], $25::text[], $26::text[], $27::text[]) AS m(payment_id, from_status, to_status, reference)
    WHERE p.payment_id = m.payment_id AND p.status = m.from_status
    RETURNING 1
),
idem AS (
    UPDATE idempotency_keys k
    SET state = 'completed', response_status = o.status, response_headers = o.headers, response_body = o.body
    FROM UNNEST($28::text[], $29::text[], $30::uuid[], $31::int2[], $32::jsonb[], $33::bytea[])
         AS o(principal, key, claim, status, headers, body)
    WHERE k.principal = o.principal AND k.key = o.key AND k.claim = o.claim AND k.state = 'in_flight'
    RETURNING 1
)
SELECT CASE
    WHEN (SELECT count(*) FROM idem) <> $34 THEN airline_abort('idempotency_claim_lost')
    WHEN (SELECT count(*) FROM pay_move) <> $35 THEN airline_abort('payment_moved')
    WHEN EXISTS (SELECT 1 FROM over_cap) THEN airline_abort('hold_limit')
    ELSE 0
END
";

/// Appends `events` with `side` rows and `outcomes` in one statement. The events go in ordered by
/// stream key (type, id, sequence), so two commits over the same streams take their key locks in the same
/// order and cannot deadlock each other; each stream keeps its own order.
///
/// A batch that puts holds on takes a transaction lock per customer and per client address first (in
/// order), so the statement's snapshot, taken after the locks, sees every hold a concurrent commit for
/// the same customer or address made, on any flight: neither cap can be raced past.
pub(super) async fn commit(
    pool: &PgPool,
    events: &[NewEvent],
    side: &SideRows,
    outcomes: &[Outcome],
    caps: HoldCaps,
) -> Result<(), CommitError> {
    let mut holders: Vec<String> = side
        .deadlines_added
        .iter()
        .flat_map(|h| {
            let client = h
                .client
                .as_ref()
                .map(|c| format!("airline.holds.client:{c}"));
            [Some(format!("airline.holds:{}", h.customer)), client]
        })
        .flatten()
        .collect();
    holders.sort_unstable();
    holders.dedup();
    let mut tx = if holders.is_empty() {
        None
    } else {
        let mut tx = pool.begin().await.map_err(classify)?;
        for holder in &holders {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(holder)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        Some(tx)
    };
    let mut events: Vec<&NewEvent> = events.iter().collect();
    events.sort_by(|a, b| {
        (a.aggregate_type, &a.aggregate_id, a.sequence).cmp(&(
            b.aggregate_type,
            &b.aggregate_id,
            b.sequence,
        ))
    });
    let col = |f: fn(&NewEvent) -> String| events.iter().map(|e| f(e)).collect::<Vec<_>>();
    let pays = &side.payments_added;
    let moves = &side.payments_moved;
    let query = sqlx::query(COMMIT)
        .bind(col(|e| e.aggregate_type.to_owned()))
        .bind(col(|e| e.aggregate_id.clone()))
        .bind(events.iter().map(|e| e.sequence).collect::<Vec<_>>())
        .bind(col(|e| e.event_type.clone()))
        .bind(col(|e| e.event_version.clone()))
        .bind(events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.metadata.clone())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(side.pnrs.iter().map(|p| p.0.clone()).collect::<Vec<_>>())
        .bind(side.pnrs.iter().map(|p| p.1).collect::<Vec<_>>())
        .bind(&side.deadlines_dropped)
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.booking)
                .collect::<Vec<_>>(),
        )
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.flight)
                .collect::<Vec<_>>(),
        )
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.until)
                .collect::<Vec<_>>(),
        )
        .bind(pays.iter().map(|p| p.payment_id).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.booking_id).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.flight_id).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.kind.to_owned()).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.attempt).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.amount_minor).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.currency.clone()).collect::<Vec<_>>())
        .bind(pays.iter().map(|p| p.status.to_owned()).collect::<Vec<_>>())
        .bind(
            pays.iter()
                .map(|p| p.provider_key.clone())
                .collect::<Vec<_>>(),
        )
        .bind(moves.iter().map(|m| m.payment_id).collect::<Vec<_>>())
        .bind(moves.iter().map(|m| m.from.to_owned()).collect::<Vec<_>>())
        .bind(moves.iter().map(|m| m.to.to_owned()).collect::<Vec<_>>())
        .bind(
            moves
                .iter()
                .map(|m| m.reference.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.principal.clone())
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.iter().map(|o| o.key.clone()).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.claim).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.status).collect::<Vec<_>>())
        .bind(
            outcomes
                .iter()
                .map(|o| o.headers.clone())
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.iter().map(|o| o.body.clone()).collect::<Vec<_>>())
        .bind(outcomes.len() as i64)
        .bind(moves.len() as i64)
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.customer)
                .collect::<Vec<_>>(),
        )
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.seats)
                .collect::<Vec<_>>(),
        )
        .bind(caps.per_customer)
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.client.clone())
                .collect::<Vec<_>>(),
        )
        .bind(caps.per_client)
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.new_account.as_ref().map(|(flights, _)| joined(flights)))
                .collect::<Vec<_>>(),
        )
        .bind(
            side.deadlines_added
                .iter()
                .map(|d| d.new_account.as_ref().map(|(_, party)| *party))
                .collect::<Vec<_>>(),
        )
        .bind(caps.per_flight_new);
    match tx.as_mut() {
        Some(tx) => query.execute(&mut **tx).await,
        None => query.execute(pool).await,
    }
    .map_err(classify)?;
    if let Some(tx) = tx {
        tx.commit().await.map_err(classify)?;
    }
    Ok(())
}

fn classify(e: sqlx::Error) -> CommitError {
    let Some(db) = e.as_database_error() else {
        return CommitError::Store(e);
    };
    match (db.code().as_deref(), db.constraint()) {
        (Some("23505"), Some("events_pkey")) => CommitError::Conflict,
        // Two writers over the same streams in another process: as good as a lost race.
        (Some("40P01" | "40001"), _) => CommitError::Conflict,
        (Some("23505"), Some(c)) if c.starts_with("pnr_registry") => CommitError::PnrTaken,
        (Some("P0001"), _) if db.message().contains("idempotency_claim_lost") => {
            CommitError::Guard("idempotency_claim_lost")
        }
        (Some("P0001"), _) if db.message().contains("payment_moved") => {
            CommitError::Guard("payment_moved")
        }
        (Some("P0001"), _) if db.message().contains("hold_limit") => {
            CommitError::Guard("hold_limit")
        }
        _ => CommitError::Store(e),
    }
}

/// Which of `outcomes` no longer hold their claim, and which of the ledger moves no longer find their
/// row in the expected state: the decisions to fail before committing the rest.
pub(super) async fn failed_guards(
    pool: &PgPool,
    side: &SideRows,
    outcomes: &[Outcome],
    caps: HoldCaps,
) -> Result<Vec<(usize, &'static str)>, sqlx::Error> {
    let mut jobs = Vec::new();
    // Holds in decision order: each holder's seats already held, plus this batch's up to each hold;
    // the decisions whose hold goes past a cap fail.
    let mut held: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for hold in &side.deadlines_added {
        let mut holders = vec![Holder::Customer(hold.customer)];
        holders.extend(hold.client.clone().map(Holder::Client));
        if let Some((flights, _)) = &hold.new_account {
            holders.extend(
                flights
                    .iter()
                    .map(|f| Holder::NewOnFlight(hold.customer, *f)),
            );
        }
        let mut totals = Vec::new();
        for holder in &holders {
            let total = match held.get(&holder.key()) {
                Some(total) => *total,
                None => holder.held(pool, &side.deadlines_dropped).await?,
            };
            totals.push(total);
        }
        let over = holders
            .iter()
            .zip(&totals)
            .any(|(holder, total)| total + holder.seats(hold) > holder.cap(caps));
        if over {
            jobs.push((hold.job, "hold_limit"));
        }
        for (holder, total) in holders.into_iter().zip(totals) {
            let with = if over {
                total
            } else {
                total + holder.seats(hold)
            };
            held.insert(holder.key(), with);
        }
    }
    for o in outcomes {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE principal = $1 AND key = $2 AND claim = $3 \
             AND state = 'in_flight')",
        )
        .bind(&o.principal)
        .bind(&o.key)
        .bind(o.claim)
        .fetch_one(pool)
        .await?;
        if !held {
            jobs.push((o.job, "idempotency_claim_lost"));
        }
    }
    for m in &side.payments_moved {
        let there: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM payments WHERE payment_id = $1 AND status = $2)",
        )
        .bind(m.payment_id)
        .bind(m.from)
        .fetch_one(pool)
        .await?;
        if !there {
            jobs.push((m.job, "payment_moved"));
        }
    }
    Ok(jobs)
}

/// Who a hold counts against: its customer, its client address, and a new account on each flight.
enum Holder {
    Customer(Uuid),
    Client(String),
    NewOnFlight(Uuid, Uuid),
}

impl Holder {
    fn key(&self) -> String {
        match self {
            Self::Customer(c) => format!("customer:{c}"),
            Self::Client(a) => format!("client:{a}"),
            Self::NewOnFlight(c, f) => format!("new:{c}:{f}"),
        }
    }

    fn cap(&self, caps: HoldCaps) -> i64 {
        match self {
            Self::Customer(_) => caps.per_customer,
            Self::Client(_) => caps.per_client,
            Self::NewOnFlight(..) => caps.per_flight_new,
        }
    }

    /// The seats `hold` adds for this holder: all of them, or its party on the one flight.
    fn seats(&self, hold: &Hold) -> i64 {
        match (self, &hold.new_account) {
            (Self::NewOnFlight(..), Some((_, party))) => i64::from(*party),
            _ => i64::from(hold.seats),
        }
    }

    /// Seats it holds unpaid now, other than in the holds `dropped` takes off.
    async fn held(&self, pool: &PgPool, dropped: &[Uuid]) -> Result<i64, sqlx::Error> {
        let (sum, which) = match self {
            Self::Customer(_) => ("seats", "customer_id = $2"),
            Self::Client(_) => ("seats", "client_addr = $2"),
            Self::NewOnFlight(..) => (
                "party",
                "customer_id = $2 AND $3 = ANY(new_account_flights)",
            ),
        };
        let sql = format!(
            "SELECT coalesce(sum({sum}), 0)::bigint FROM hold_deadlines \
             WHERE hold_until > now() AND booking_id <> ALL($1::uuid[]) AND {which}"
        );
        let query = sqlx::query_scalar(&sql).bind(dropped);
        match self {
            Self::Customer(c) => query.bind(c),
            Self::Client(a) => query.bind(a),
            Self::NewOnFlight(c, f) => query.bind(c).bind(f),
        }
        .fetch_one(pool)
        .await
    }
}

/// Ids as one comma-separated text (`string_to_array` makes the array again in SQL).
fn joined(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

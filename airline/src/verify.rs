//! `airline verify`: checks the system's invariants with SQL straight over the event log (`events`) and
//! the payments ledger (`payments`), independently of the command code. Nothing here loads an aggregate:
//! each check folds the streams itself (seat holds per flight and booking, booking status and seats, the
//! refund rule) and reports the rows that break an invariant, one line of text each. All checks read one
//! snapshot (a read-only repeatable-read transaction), so `now()` and the data are the same for all.
//!
//! A decision commits its flight and booking events together (hold and place, confirm, cancel and
//! release, expire) and a capture or refund its event with its ledger row, so the seat checks and the
//! money per flight hold at every commit. Payments straddle commits: an authorization is written before
//! the commit that confirms it, a capture and a refund are paid after theirs. In those checks a finding
//! whose newest event (`recorded_at`) or ledger row (`updated_at`) is younger than `grace` is reported as
//! pending instead of as a violation; with a zero grace everything counts. Amounts are in minor units.

use std::fmt;
use std::time::Duration;

use sqlx::PgPool;

/// Findings listed per check in the text report; the rest are counted.
const LISTED: usize = 20;

/// One invariant and what broke it.
#[derive(Debug, Clone)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// The invariant.
    pub description: &'static str,
    /// One line per violating row.
    pub violations: Vec<String>,
    /// Findings still within the grace period.
    pub pending: Vec<String>,
}

/// Every check's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// In the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// No violations (pending findings do not count).
    pub fn is_clean(&self) -> bool {
        self.violations() == 0
    }

    /// Violations over all checks.
    pub fn violations(&self) -> usize {
        self.checks.iter().map(|c| c.violations.len()).sum()
    }

    /// Pending findings over all checks.
    pub fn pending(&self) -> usize {
        self.checks.iter().map(|c| c.pending.len()).sum()
    }
}

fn list(f: &mut fmt::Formatter<'_>, what: &str, lines: &[String]) -> fmt::Result {
    writeln!(f, "    {} {what}:", lines.len())?;
    for line in lines.iter().take(LISTED) {
        writeln!(f, "      - {line}")?;
    }
    if lines.len() > LISTED {
        writeln!(f, "      … and {} more", lines.len() - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let verdict = if check.violations.is_empty() {
                "OK  "
            } else {
                "FAIL"
            };
            writeln!(f, "[{verdict}] {}: {}", check.name, check.description)?;
            if !check.violations.is_empty() {
                list(f, "violations", &check.violations)?;
            }
            if !check.pending.is_empty() {
                list(f, "pending (within the grace period)", &check.pending)?;
            }
        }
        let (violations, pending) = (self.violations(), self.pending());
        let checks = self.checks.len();
        writeln!(
            f,
            "{checks} checks, {violations} violations, {pending} pending"
        )
    }
}

/// A check to run: its query returns `(violation text, pending)`; `graced` queries take the grace in
/// seconds as `$1`.
struct Spec {
    name: &'static str,
    description: &'static str,
    sql: &'static str,
    graced: bool,
}

/// Runs every check in one read-only snapshot.
///
/// # Errors
/// Postgres failures (a malformed payload that a cast rejects among them).
pub async fn run(pool: &PgPool, grace: Duration) -> Result<Report, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    // The folds sort whole streams; more memory keeps those sorts off disk.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    let mut checks = Vec::with_capacity(SPECS.len());
    for spec in &SPECS {
        let query = sqlx::query_as::<_, (String, bool)>(spec.sql);
        let query = if spec.graced {
            query.bind(grace.as_secs_f64())
        } else {
            query
        };
        let rows = query.fetch_all(&mut *tx).await?;
        let (pending, violations): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, p)| *p);
        checks.push(Check {
            name: spec.name,
            description: spec.description,
            violations: violations.into_iter().map(|(line, _)| line).collect(),
            pending: pending.into_iter().map(|(line, _)| line).collect(),
        });
    }
    tx.rollback().await?;
    Ok(Report { checks })
}

const SPECS: [Spec; 7] = [
    Spec {
        name: "seats-vs-bookings",
        description: "held seats belong to held bookings, sold seats to confirmed ones, and every held or \
                      confirmed booking has exactly its passengers' seats in its flight's hold",
        sql: SEATS_VS_BOOKINGS,
        graced: false,
    },
    Spec {
        name: "one-booking-per-seat",
        description: "no seat of a flight is in two bookings' holds at once",
        sql: ONE_BOOKING_PER_SEAT,
        graced: false,
    },
    Spec {
        name: "no-orphan-holds",
        description: "every hold on a flight is for a booking that was placed",
        sql: NO_ORPHAN_HOLDS,
        graced: false,
    },
    Spec {
        name: "confirmed-bookings-captured",
        description: "every confirmed booking has one PaymentCaptured of its payment and one captured \
                      ledger authorization of that amount",
        sql: CONFIRMED_BOOKINGS_CAPTURED,
        graced: true,
    },
    Spec {
        name: "authorizations-settled",
        description: "every ledger authorization ended captured, voided or declined; authorized and \
                      captured ones are their booking's confirmed payment, voided and declined ones are no \
                      booking's",
        sql: AUTHORIZATIONS_SETTLED,
        graced: true,
    },
    Spec {
        name: "refunds",
        description: "every cancellation refunds what the fare rules give, and a refund due was issued once \
                      (RefundIssued) and paid back (a refunded ledger row of that amount)",
        sql: REFUNDS,
        graced: true,
    },
    Spec {
        name: "money-per-flight",
        description: "per flight and currency, ledger captured minus refunded equals PaymentCaptured minus \
                      RefundIssued",
        sql: MONEY_PER_FLIGHT,
        graced: false,
    },
];

/// CTEs folding the flight streams: `hold` per (flight, booking) — the latest `SeatsHeld`, `live` unless
/// released or expired since, `sold` if confirmed since — and `hold_seat`, the seats of each live hold
/// after `SeatChanged` moves (per seat, the latest of: in the `SeatsHeld`, moved from, moved to).
macro_rules! flight_holds {
    () => {
        r"
fe AS (
    SELECT aggregate_id AS flight_id, payload -> event_type ->> 'booking_id' AS booking_id, sequence AS seq,
           event_type AS kind, payload -> event_type AS p, recorded_at
    FROM events
    WHERE aggregate_type = 'flight'
      AND event_type IN ('SeatsHeld', 'SeatsConfirmed', 'SeatsReleased', 'HoldExpired', 'SeatChanged')
),
hold AS (
    SELECT flight_id, booking_id, held_seq, held_at,
           held_seq IS NOT NULL AND coalesce(gone_seq < held_seq, true) AS live,
           coalesce(sold_seq > held_seq, false) AS sold
    FROM (SELECT flight_id, booking_id, max(seq) FILTER (WHERE kind = 'SeatsHeld') AS held_seq,
                 max(recorded_at) FILTER (WHERE kind = 'SeatsHeld') AS held_at,
                 max(seq) FILTER (WHERE kind IN ('SeatsReleased', 'HoldExpired')) AS gone_seq,
                 max(seq) FILTER (WHERE kind = 'SeatsConfirmed') AS sold_seq
          FROM fe GROUP BY flight_id, booking_id) AS per_booking
),
hold_seat AS (
    SELECT flight_id, booking_id, seat, sold, held_at, CASE WHEN sold THEN 'sold' ELSE 'held' END AS state
    FROM (SELECT DISTINCT ON (o.flight_id, o.booking_id, o.seat)
                 o.flight_id, o.booking_id, o.seat, o.present, h.sold, h.held_at
          FROM (SELECT flight_id, booking_id, s.seat, seq, 1 AS step, true AS present
                FROM fe CROSS JOIN LATERAL jsonb_array_elements_text(p -> 'seats') AS s (seat)
                WHERE kind = 'SeatsHeld'
                UNION ALL
                SELECT flight_id, booking_id, p ->> 'from', seq, 0, false FROM fe WHERE kind = 'SeatChanged'
                UNION ALL
                SELECT flight_id, booking_id, p ->> 'to', seq, 1, true FROM fe WHERE kind = 'SeatChanged') AS o
          JOIN hold AS h
            ON h.live AND h.flight_id = o.flight_id AND h.booking_id = o.booking_id AND o.seq >= h.held_seq
          ORDER BY o.flight_id, o.booking_id, o.seat, o.seq DESC, o.step DESC) AS latest
    WHERE present
)"
    };
}

/// Invariant 1. A booking's status is its latest of placed/confirmed/cancelled/expired; its seats are the
/// passengers' with each seated passenger's latest `PassengerSeatChanged` applied.
const SEATS_VS_BOOKINGS: &str = concat!(
    "WITH",
    flight_holds!(),
    r",
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events WHERE aggregate_type = 'booking'
),
booking AS (
    SELECT booking_id, max(seq) FILTER (WHERE kind = 'BookingPlaced') AS placed_seq,
           (array_agg(p ->> 'flight_id' ORDER BY seq DESC) FILTER (WHERE kind = 'BookingPlaced'))[1] AS flight_id,
           CASE (array_agg(kind ORDER BY seq DESC) FILTER (WHERE kind IN
                     ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired')))[1]
               WHEN 'BookingPlaced' THEN 'held' WHEN 'BookingConfirmed' THEN 'confirmed'
               WHEN 'BookingCancelled' THEN 'cancelled' ELSE 'expired' END AS status
    FROM be GROUP BY booking_id HAVING bool_or(kind = 'BookingPlaced')
),
moved AS (
    SELECT DISTINCT ON (booking_id, (p ->> 'passenger')::bigint)
           booking_id, (p ->> 'passenger')::bigint AS idx, p ->> 'to' AS seat
    FROM be WHERE kind = 'PassengerSeatChanged'
    ORDER BY booking_id, (p ->> 'passenger')::bigint, seq DESC
),
booking_seat AS (
    SELECT b.booking_id, b.flight_id, b.status, coalesce(m.seat, x.pax ->> 'seat') AS seat
    FROM booking AS b
    JOIN be AS pl ON pl.booking_id = b.booking_id AND pl.seq = b.placed_seq
    CROSS JOIN LATERAL jsonb_array_elements(pl.p -> 'passengers') WITH ORDINALITY AS x (pax, n)
    LEFT JOIN moved AS m ON m.booking_id = b.booking_id AND m.idx = x.n - 1
    WHERE x.pax ->> 'seat' IS NOT NULL
)
SELECT violation, false
FROM (SELECT CASE
                 WHEN b.flight_id IS DISTINCT FROM h.flight_id THEN
                     format('flight %s: seat %s is %s for booking %s, which is booked on flight %s',
                            h.flight_id, h.seat, h.state, h.booking_id, b.flight_id)
                 WHEN b.status <> CASE WHEN h.sold THEN 'confirmed' ELSE 'held' END THEN
                     format('flight %s: seat %s is %s for booking %s, whose status is %s',
                            h.flight_id, h.seat, h.state, h.booking_id, b.status)
                 WHEN bs.seat IS NULL THEN
                     format('flight %s: seat %s is %s for booking %s (%s), but none of its passengers has that seat',
                            h.flight_id, h.seat, h.state, h.booking_id, b.status)
             END AS violation
      FROM hold_seat AS h
      JOIN booking AS b ON b.booking_id = h.booking_id
      LEFT JOIN booking_seat AS bs ON bs.booking_id = h.booking_id AND bs.seat = h.seat
      UNION ALL
      SELECT format('booking %s (%s) on flight %s: passenger seat %s is not in the flight''s hold for it%s',
                    bs.booking_id, bs.status, bs.flight_id, bs.seat,
                    CASE WHEN hd.live IS NOT TRUE THEN ' (it has no hold there)' ELSE '' END)
      FROM booking_seat AS bs
      LEFT JOIN hold_seat AS h ON h.flight_id = bs.flight_id AND h.booking_id = bs.booking_id AND h.seat = bs.seat
      LEFT JOIN hold AS hd ON hd.flight_id = bs.flight_id AND hd.booking_id = bs.booking_id
      WHERE bs.status IN ('held', 'confirmed') AND h.seat IS NULL) AS v
WHERE violation IS NOT NULL
ORDER BY 1"
);

/// Invariant 2.
const ONE_BOOKING_PER_SEAT: &str = concat!(
    "WITH",
    flight_holds!(),
    r"
SELECT format('flight %s: seat %s is in the holds of %s bookings: %s', flight_id, seat, count(*),
              string_agg(format('%s (%s)', booking_id, state), ', ' ORDER BY booking_id)),
       false
FROM hold_seat
GROUP BY flight_id, seat
HAVING count(*) > 1
ORDER BY 1"
);

/// Invariant 3: a live hold, still holding seats, whose booking has no `BookingPlaced`.
const NO_ORPHAN_HOLDS: &str = concat!(
    "WITH",
    flight_holds!(),
    r"
SELECT format('flight %s: seats %s are %s for booking %s, which was never placed (held at %s)',
              h.flight_id, string_agg(h.seat, ', ' ORDER BY h.seat), h.state, h.booking_id, h.held_at),
       false
FROM hold_seat AS h
WHERE NOT EXISTS (SELECT 1 FROM events AS e
                  WHERE e.aggregate_type = 'booking' AND e.aggregate_id = h.booking_id
                    AND e.event_type = 'BookingPlaced')
GROUP BY h.flight_id, h.booking_id, h.state, h.held_at
ORDER BY 1"
);

/// Invariant 4, for the latest `BookingConfirmed` of each booking.
const CONFIRMED_BOOKINGS_CAPTURED: &str = r"
WITH params AS (SELECT now() - make_interval(secs => $1::float8) AS cutoff),
confirmed AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id AS booking_id, recorded_at,
           payload #>> '{BookingConfirmed,payment,reference}' AS reference,
           (payload #>> '{BookingConfirmed,payment,amount,amount_minor}')::bigint AS amount,
           payload #>> '{BookingConfirmed,payment,amount,currency}' AS currency
    FROM events WHERE aggregate_type = 'booking' AND event_type = 'BookingConfirmed'
    ORDER BY aggregate_id, sequence DESC
),
captured AS (
    SELECT c.booking_id, count(*) AS n, max(e.recorded_at) AS last_at,
           count(*) FILTER (WHERE (e.payload #>> '{PaymentCaptured,amount,amount_minor}')::bigint = c.amount
                              AND e.payload #>> '{PaymentCaptured,amount,currency}' = c.currency) AS exact,
           string_agg(concat_ws(' ', e.payload #>> '{PaymentCaptured,amount,amount_minor}',
                                e.payload #>> '{PaymentCaptured,amount,currency}'), ', ' ORDER BY e.sequence) AS amounts
    FROM confirmed AS c
    JOIN events AS e ON e.aggregate_type = 'booking' AND e.aggregate_id = c.booking_id
                    AND e.event_type = 'PaymentCaptured'
    GROUP BY c.booking_id
),
ledger AS (
    SELECT c.booking_id, count(*) FILTER (WHERE p.status = 'captured') AS n, max(p.updated_at) AS last_at,
           count(*) FILTER (WHERE p.status = 'captured' AND p.amount_minor = c.amount
                              AND p.currency = c.currency) AS exact,
           string_agg(format('%s %s %s', p.status, p.amount_minor, p.currency), ', ' ORDER BY p.attempt) AS rows
    FROM confirmed AS c
    JOIN payments AS p ON p.kind = 'authorization' AND p.booking_id::text = c.booking_id
    GROUP BY c.booking_id
)
SELECT v.violation, coalesce(greatest(c.recorded_at, k.last_at, l.last_at) > params.cutoff, false)
FROM confirmed AS c
LEFT JOIN captured AS k ON k.booking_id = c.booking_id
LEFT JOIN ledger AS l ON l.booking_id = c.booking_id
CROSS JOIN params
CROSS JOIN LATERAL (VALUES
    (CASE WHEN k.n IS NULL THEN
              format('booking %s was confirmed for %s %s but has no PaymentCaptured', c.booking_id, c.amount, c.currency)
          WHEN k.n <> 1 OR k.exact <> 1 THEN
              format('booking %s was confirmed for %s %s but its PaymentCaptured events are for %s',
                     c.booking_id, c.amount, c.currency, k.amounts)
     END),
    (CASE WHEN l.n IS DISTINCT FROM 1 OR l.exact <> 1 THEN
              format('booking %s was confirmed for %s %s but the ledger has not one captured authorization of that '
                         'amount (its authorizations: %s)', c.booking_id, c.amount, c.currency, coalesce(l.rows, 'none'))
     END)) AS v (violation)
WHERE v.violation IS NOT NULL
ORDER BY 1";

/// Invariant 5: a finding is pending while its ledger row was updated within the grace.
const AUTHORIZATIONS_SETTLED: &str = r"
WITH params AS (SELECT now() - make_interval(secs => $1::float8) AS cutoff),
confirmed AS (
    SELECT aggregate_id AS booking_id, payload #>> '{BookingConfirmed,payment,reference}' AS reference
    FROM events WHERE aggregate_type = 'booking' AND event_type = 'BookingConfirmed'
),
refs AS (
    SELECT booking_id, array_agg(reference) AS refs, string_agg(reference, ', ') AS listed
    FROM confirmed GROUP BY booking_id
),
auth AS (SELECT * FROM payments WHERE kind = 'authorization')
SELECT violation, coalesce(updated_at > cutoff, false)
FROM (SELECT format('authorization %s of booking %s (attempt %s, %s %s) %s since %s', payment_id, booking_id,
                    attempt, amount_minor, currency,
                    CASE WHEN status IN ('authorizing', 'authorized', 'voiding') THEN 'is still ' || status
                         ELSE 'has the refund status ' || status END, updated_at) AS violation,
             updated_at
      FROM auth WHERE status NOT IN ('captured', 'voided', 'declined')
      UNION ALL
      SELECT format('authorization %s of booking %s is %s under reference %s, but the booking was %s', a.payment_id,
                    a.booking_id, a.status, coalesce(a.provider_reference, '(none)'),
                    coalesce('confirmed with reference ' || r.listed, 'never confirmed')),
             a.updated_at
      FROM auth AS a LEFT JOIN refs AS r ON r.booking_id = a.booking_id::text
      WHERE a.status IN ('authorized', 'captured') AND NOT coalesce(a.provider_reference = ANY (r.refs), false)
      UNION ALL
      SELECT format('authorization %s of booking %s is %s, but its reference %s is the payment of booking %s',
                    a.payment_id, a.booking_id, a.status, a.provider_reference, c.booking_id),
             a.updated_at
      FROM auth AS a JOIN confirmed AS c ON c.reference = a.provider_reference
      WHERE a.status IN ('voided', 'declined')) AS v
CROSS JOIN params
ORDER BY 1";

/// Invariant 6. For each `BookingCancelled`, a window over its stream finds the `BookingPlaced`, the last
/// `BookingConfirmed` (paid) and the last `FlightDelayNoted` (departure) before it; `RefundIssued` and the
/// ledger are matched against each booking's latest cancellation.
const REFUNDS: &str = r"
WITH params AS (SELECT now() - make_interval(secs => $1::float8) AS cutoff),
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p, recorded_at,
           max(sequence) FILTER (WHERE event_type = 'BookingPlaced') OVER w AS placed_seq,
           max(sequence) FILTER (WHERE event_type = 'BookingConfirmed') OVER w AS confirmed_seq,
           max(sequence) FILTER (WHERE event_type = 'FlightDelayNoted') OVER w AS delay_seq
    FROM events
    WHERE aggregate_type = 'booking'
      AND event_type IN ('BookingPlaced', 'BookingConfirmed', 'FlightDelayNoted', 'BookingCancelled', 'RefundIssued')
    WINDOW w AS (PARTITION BY aggregate_id ORDER BY sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
cancel AS (
    SELECT c.booking_id, c.seq, c.recorded_at, c.p ->> 'by' AS cancelled_by,
           (c.p #>> '{refund,amount_minor}')::bigint AS refund, c.p #>> '{refund,currency}' AS refund_currency,
           (c.p ->> 'cancelled_at')::timestamptz AS cancelled_at, (pl.p ->> 'placed_at')::timestamptz AS placed_at,
           coalesce(dl.p ->> 'departure_at', pl.p ->> 'departure_at')::timestamptz AS departure_at,
           (pl.p #>> '{fare_rules,refundable}')::boolean AS refundable,
           (pl.p #>> '{fare_rules,cancellation_fee,amount_minor}')::bigint AS fee,
           pl.p #>> '{fare_rules,cancellation_fee,currency}' AS fee_currency,
           (cf.p #>> '{payment,amount,amount_minor}')::bigint AS paid,
           coalesce(cf.p #>> '{payment,amount,currency}', pl.p #>> '{total,currency}') AS currency
    FROM be AS c
    JOIN be AS pl ON pl.booking_id = c.booking_id AND pl.seq = c.placed_seq
    LEFT JOIN be AS cf ON cf.booking_id = c.booking_id AND cf.seq = c.confirmed_seq
    LEFT JOIN be AS dl ON dl.booking_id = c.booking_id AND dl.seq = c.delay_seq
    WHERE c.kind = 'BookingCancelled'
),
due AS (
    SELECT *, CASE WHEN paid IS NULL THEN 0
                   WHEN cancelled_by = 'airline' THEN paid
                   WHEN cancelled_at - placed_at <= interval '24 hours'
                        AND departure_at - placed_at >= interval '7 days' THEN paid
                   WHEN refundable AND fee_currency = currency THEN greatest(paid - fee, 0)
                   ELSE 0 END AS expected
    FROM cancel
),
last_due AS (SELECT DISTINCT ON (booking_id) * FROM due ORDER BY booking_id, seq DESC),
owed AS (SELECT * FROM last_due WHERE refund > 0),
issued AS (
    SELECT booking_id, count(*) AS n, max(recorded_at) AS last_at,
           min((p #>> '{amount,amount_minor}')::bigint) AS amount, min(p #>> '{amount,currency}') AS currency,
           string_agg(concat_ws(' ', p #>> '{amount,amount_minor}', p #>> '{amount,currency}'), ', ' ORDER BY seq) AS amounts
    FROM be WHERE kind = 'RefundIssued' GROUP BY booking_id
),
refund_row AS (SELECT * FROM payments WHERE kind = 'refund')
SELECT violation, coalesce(last_at > cutoff, false)
FROM (SELECT format('booking %s: cancelled by %s with a refund of %s %s, but the rule gives %s %s (paid %s, placed %s, '
                        'cancelled %s, departure %s, %s fare with fee %s %s)',
                    booking_id, cancelled_by, refund, refund_currency, expected, currency, coalesce(paid::text, 'nothing'),
                    placed_at, cancelled_at, departure_at,
                    CASE WHEN refundable THEN 'refundable' ELSE 'non-refundable' END, fee, fee_currency) AS violation,
             recorded_at AS last_at
      FROM due WHERE refund IS DISTINCT FROM expected OR refund_currency IS DISTINCT FROM currency
      UNION ALL
      SELECT CASE WHEN o.booking_id IS NULL THEN
                      format('booking %s has RefundIssued %s but no refund is due', i.booking_id, i.amounts)
                  WHEN i.booking_id IS NULL THEN
                      format('booking %s: its cancellation refunds %s %s but there is no RefundIssued',
                             o.booking_id, o.refund, o.refund_currency)
                  ELSE format('booking %s: its cancellation refunds %s %s but RefundIssued events are for %s',
                              o.booking_id, o.refund, o.refund_currency, i.amounts) END,
             greatest(o.recorded_at, i.last_at)
      FROM owed AS o FULL JOIN issued AS i ON i.booking_id = o.booking_id
      WHERE NOT coalesce(i.n = 1 AND i.amount = o.refund AND i.currency = o.refund_currency, false)
      UNION ALL
      SELECT format('ledger refund %s of booking %s (%s %s, %s): %s', r.payment_id, r.booking_id, r.amount_minor,
                    r.currency, r.status,
                    concat_ws('; ',
                              CASE WHEN d.booking_id IS NULL THEN 'the booking was never cancelled'
                                   WHEN (d.refund, d.refund_currency) IS DISTINCT FROM (r.amount_minor, r.currency) THEN
                                       format('its cancellation refunds %s %s', d.refund, d.refund_currency) END,
                              CASE WHEN r.status = 'pending' THEN format('still pending since %s', r.updated_at)
                                   WHEN r.status <> 'refunded' THEN 'not a refund status' END)),
             greatest(r.updated_at, d.recorded_at)
      FROM refund_row AS r LEFT JOIN last_due AS d ON d.booking_id = r.booking_id::text
      WHERE r.status <> 'refunded' OR d.booking_id IS NULL
         OR (d.refund, d.refund_currency) IS DISTINCT FROM (r.amount_minor, r.currency)
      UNION ALL
      SELECT format('booking %s: its cancellation refunds %s %s but the ledger has no refund row', o.booking_id,
                    o.refund, o.refund_currency),
             o.recorded_at
      FROM owed AS o WHERE NOT EXISTS (SELECT 1 FROM refund_row AS r WHERE r.booking_id::text = o.booking_id)) AS v
CROSS JOIN params
ORDER BY 1";

/// Invariant 7. Events count for the flight of their booking's `BookingPlaced`; ledger rows for their own
/// `flight_id`. No grace: a capture or refund moves its ledger row in the commit of its event.
const MONEY_PER_FLIGHT: &str = r"
WITH flight_of AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id AS booking_id, payload #>> '{BookingPlaced,flight_id}' AS flight_id
    FROM events WHERE aggregate_type = 'booking' AND event_type = 'BookingPlaced'
    ORDER BY aggregate_id, sequence DESC
),
by_events AS (
    SELECT coalesce(f.flight_id, '(no BookingPlaced)') AS flight_id,
           e.payload -> e.event_type -> 'amount' ->> 'currency' AS currency,
           coalesce(sum((e.payload -> e.event_type -> 'amount' ->> 'amount_minor')::bigint)
                        FILTER (WHERE e.event_type = 'PaymentCaptured'), 0) AS captured,
           coalesce(sum((e.payload -> e.event_type -> 'amount' ->> 'amount_minor')::bigint)
                        FILTER (WHERE e.event_type = 'RefundIssued'), 0) AS refunded
    FROM events AS e LEFT JOIN flight_of AS f ON f.booking_id = e.aggregate_id
    WHERE e.aggregate_type = 'booking' AND e.event_type IN ('PaymentCaptured', 'RefundIssued')
    GROUP BY 1, 2
),
by_ledger AS (
    SELECT flight_id::text AS flight_id, currency,
           coalesce(sum(amount_minor) FILTER (WHERE kind = 'authorization' AND status = 'captured'), 0) AS captured,
           coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund' AND status = 'refunded'), 0) AS refunded
    FROM payments GROUP BY 1, 2
)
SELECT format('flight %s, %s: the ledger nets %s (captured %s - refunded %s), the events %s (PaymentCaptured %s - '
                  'RefundIssued %s)', flight_id, currency, coalesce(l.captured - l.refunded, 0),
              coalesce(l.captured, 0), coalesce(l.refunded, 0), coalesce(e.captured - e.refunded, 0),
              coalesce(e.captured, 0), coalesce(e.refunded, 0)),
       false
FROM by_events AS e
FULL JOIN by_ledger AS l USING (flight_id, currency)
WHERE coalesce(l.captured - l.refunded, 0) <> coalesce(e.captured - e.refunded, 0)
ORDER BY 1";

//! The money invariants in SQL: confirmed bookings captured, authorizations settled, refunds by the
//! fare rules, and the money per flight.

/// Invariant 4, for the latest `BookingConfirmed` of each booking.
pub(super) const CONFIRMED_BOOKINGS_CAPTURED: &str = r"
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
pub(super) const AUTHORIZATIONS_SETTLED: &str = r"
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

/// Invariant 6. The refunds of cancellations (offloads have their own check). For each `BookingCancelled`, a window over its stream finds the `BookingPlaced`, the last
/// `BookingConfirmed` (paid) and the last `FlightDelayNoted` of its first flight (departure) before it; `RefundIssued` and the
/// ledger are matched against each booking's latest cancellation.
pub(super) const REFUNDS: &str = r"
WITH params AS (SELECT now() - make_interval(secs => $1::float8) AS cutoff),
first_flight AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id AS booking_id,
           coalesce(payload #>> '{BookingPlaced,segments,0,flight_id}', payload #>> '{BookingPlaced,flight_id}') AS flight_id
    FROM events WHERE aggregate_type = 'booking' AND event_type = 'BookingPlaced'
    ORDER BY aggregate_id, sequence DESC
),
be AS (
    SELECT e.aggregate_id AS booking_id, e.sequence AS seq, e.event_type AS kind, e.payload -> e.event_type AS p,
           e.recorded_at,
           max(e.sequence) FILTER (WHERE e.event_type = 'BookingPlaced') OVER w AS placed_seq,
           max(e.sequence) FILTER (WHERE e.event_type = 'BookingConfirmed') OVER w AS confirmed_seq,
           -- The journey's departure is its first flight's: only that flight's delays move it (1.0 delays
           -- name no flight and were about the only one).
           max(e.sequence) FILTER (WHERE e.event_type = 'FlightDelayNoted'
               AND coalesce(e.payload #>> '{FlightDelayNoted,flight_id}', ff.flight_id) = ff.flight_id) OVER w AS delay_seq
    FROM events AS e LEFT JOIN first_flight AS ff ON ff.booking_id = e.aggregate_id
    WHERE e.aggregate_type = 'booking'
      AND e.event_type IN ('BookingPlaced', 'BookingConfirmed', 'FlightDelayNoted', 'BookingCancelled', 'RefundIssued',
                           'PassengersOffloaded')
    WINDOW w AS (PARTITION BY e.aggregate_id ORDER BY e.sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
cancel AS (
    SELECT c.booking_id, c.seq, c.recorded_at, c.p ->> 'by' AS cancelled_by,
           (c.p #>> '{refund,amount_minor}')::bigint AS refund, c.p #>> '{refund,currency}' AS refund_currency,
           (c.p ->> 'cancelled_at')::timestamptz AS cancelled_at, (pl.p ->> 'placed_at')::timestamptz AS placed_at,
           coalesce(dl.p ->> 'departure_at', pl.p #>> '{segments,0,departure_at}', pl.p ->> 'departure_at')::timestamptz
               AS departure_at,
           (pl.p #>> '{fare_rules,refundable}')::boolean AS refundable,
           (pl.p #>> '{fare_rules,cancellation_fee,amount_minor}')::bigint AS fee,
           pl.p #>> '{fare_rules,cancellation_fee,currency}' AS fee_currency,
           -- What offloads refunded already is not paid back twice.
           greatest((cf.p #>> '{payment,amount,amount_minor}')::bigint
                    - coalesce((SELECT sum((o.p #>> '{refund,amount_minor}')::bigint) FROM be AS o
                                WHERE o.booking_id = c.booking_id AND o.kind = 'PassengersOffloaded'
                                  AND o.seq < c.seq), 0), 0) AS paid,
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
    FROM be WHERE kind = 'RefundIssued' AND p ->> 'offload' IS NULL GROUP BY booking_id
),
refund_row AS (SELECT * FROM payments WHERE kind = 'refund' AND offload_flight_id IS NULL)
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

/// Invariant 7. Events count for the (first) flight of their booking's `BookingPlaced`; ledger rows for
/// their own `flight_id` (a journey's first flight). No grace: a capture or refund moves its ledger row in the commit of its event.
pub(super) const MONEY_PER_FLIGHT: &str = r"
WITH flight_of AS (
    SELECT DISTINCT ON (aggregate_id) aggregate_id AS booking_id,
           coalesce(payload #>> '{BookingPlaced,segments,0,flight_id}', payload #>> '{BookingPlaced,flight_id}') AS flight_id
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

/// Invariant 8. Each `PassengersOffloaded` refunds the offloaded seated passengers' fare on that segment
/// (a booking placed before journeys pays its total over its seated passengers), issued once
/// (`RefundIssued` naming the flight) and paid back (a refunded ledger row keyed to the offload), and its
/// compensation is an `owed` ledger row of that amount; no offload row without its event.
pub(super) const OFFLOADS: &str = r"
WITH params AS (SELECT now() - make_interval(secs => $1::float8) AS cutoff),
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p, recorded_at
    FROM events
    WHERE aggregate_type = 'booking' AND event_type IN ('BookingPlaced', 'PassengersOffloaded', 'RefundIssued')
),
placed AS (SELECT DISTINCT ON (booking_id) booking_id, p FROM be WHERE kind = 'BookingPlaced' ORDER BY booking_id, seq DESC),
off AS (
    SELECT o.booking_id, o.recorded_at, o.p ->> 'flight_id' AS flight_id,
           (o.p #>> '{refund,amount_minor}')::bigint AS refund, o.p #>> '{refund,currency}' AS currency,
           (o.p #>> '{compensation,amount_minor}')::bigint AS compensation,
           coalesce(g.seg, jsonb_build_object('passengers', pl.p -> 'passengers')) AS seg,
           (pl.p #>> '{total,amount_minor}')::bigint AS total, o.p -> 'passengers' AS offloaded
    FROM be AS o JOIN placed AS pl USING (booking_id)
    LEFT JOIN LATERAL (SELECT pl.p -> 'segments' -> ((o.p ->> 'segment')::int) AS seg) AS g ON true
    WHERE o.kind = 'PassengersOffloaded'
),
due AS (
    SELECT *,
           (SELECT count(*) FROM jsonb_array_elements_text(offloaded) AS i (idx)
            WHERE seg -> 'passengers' -> (i.idx::int) ->> 'type' <> 'infant') AS seated,
           coalesce((seg #>> '{fare,price,amount_minor}')::bigint,
                    total / greatest(1, (SELECT count(*) FROM jsonb_array_elements(seg -> 'passengers') AS x
                                         WHERE x ->> 'type' <> 'infant'))) AS fare
    FROM off
),
issued AS (
    SELECT booking_id, p ->> 'offload' AS flight_id, count(*) AS n, max(recorded_at) AS last_at,
           min((p #>> '{amount,amount_minor}')::bigint) AS amount
    FROM be WHERE kind = 'RefundIssued' AND p ->> 'offload' IS NOT NULL GROUP BY 1, 2
),
refund_row AS (
    SELECT booking_id::text AS booking_id, offload_flight_id::text AS flight_id, amount_minor, status, updated_at
    FROM payments WHERE kind = 'refund' AND offload_flight_id IS NOT NULL
),
owed_row AS (
    SELECT booking_id::text AS booking_id, right(provider_key, 36) AS flight_id, amount_minor, status, updated_at
    FROM payments WHERE kind = 'compensation'
)
SELECT violation, coalesce(last_at > cutoff, false)
FROM (SELECT format('booking %s: offloaded from flight %s with a refund of %s %s, but %s seated passengers at %s are %s',
                    booking_id, flight_id, refund, currency, seated, fare, seated * fare) AS violation,
             recorded_at AS last_at
      FROM due WHERE refund IS DISTINCT FROM seated * fare
      UNION ALL
      SELECT format('booking %s: its offload from flight %s refunds %s but %s', d.booking_id, d.flight_id, d.refund,
                    CASE WHEN i.n IS NULL THEN 'there is no RefundIssued for it'
                         ELSE format('%s RefundIssued for it, of %s', i.n, i.amount) END),
             greatest(d.recorded_at, i.last_at)
      FROM due AS d LEFT JOIN issued AS i ON i.booking_id = d.booking_id AND i.flight_id = d.flight_id
      WHERE d.refund > 0 AND NOT coalesce(i.n = 1 AND i.amount = d.refund, false)
      UNION ALL
      SELECT format('booking %s: its offload from flight %s refunds %s but the ledger %s', d.booking_id, d.flight_id,
                    d.refund, CASE WHEN r.status IS NULL THEN 'has no refund row for it'
                                   ELSE format('row is %s %s', r.status, r.amount_minor) END),
             greatest(d.recorded_at, r.updated_at)
      FROM due AS d LEFT JOIN refund_row AS r ON r.booking_id = d.booking_id AND r.flight_id = d.flight_id
      WHERE d.refund > 0 AND NOT coalesce(r.status = 'refunded' AND r.amount_minor = d.refund, false)
      UNION ALL
      SELECT format('booking %s: its offload from flight %s owes a compensation of %s but the ledger %s', d.booking_id,
                    d.flight_id, d.compensation, CASE WHEN c.status IS NULL THEN 'has no compensation row for it'
                                                      ELSE format('row is %s %s', c.status, c.amount_minor) END),
             d.recorded_at
      FROM due AS d LEFT JOIN owed_row AS c ON c.booking_id = d.booking_id AND c.flight_id = d.flight_id
      WHERE d.compensation > 0 AND NOT coalesce(c.status = 'owed' AND c.amount_minor = d.compensation, false)
      UNION ALL
      SELECT format('ledger %s row of booking %s for an offload from flight %s that is not in the log', kind,
                    x.booking_id, x.flight_id), x.updated_at
      FROM (SELECT 'refund' AS kind, * FROM refund_row UNION ALL SELECT 'compensation', * FROM owed_row) AS x
      WHERE NOT EXISTS (SELECT 1 FROM off AS o WHERE o.booking_id = x.booking_id AND o.flight_id = x.flight_id)) AS v
CROSS JOIN params
ORDER BY 1";

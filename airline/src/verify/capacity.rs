//! The overbooking invariant in SQL: no sale took a cabin past its authorized places (its seats plus the
//! overbooking in force at that sale, the latest `OverbookingSet` before it), and no sale with seats took
//! it past its seats (places beyond them are sold without seats). Places held per cabin are running sums
//! over the holds (seats and places without one), less releases and expiries (a booking's latest hold,
//! less what offloads took from it) and offloads, in log order.

/// Violations only: `(text, false)`.
pub const CAPACITY: &str = r"
WITH fe AS (
    SELECT aggregate_id AS flight_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events
    WHERE aggregate_type = 'flight'
      AND event_type IN ('FlightScheduled', 'OverbookingSet', 'SeatsHeld', 'SeatsReleased', 'HoldExpired',
                         'PassengersOffloaded')
),
seats AS (
    SELECT flight_id, c ->> 'cabin' AS cabin,
           ((c ->> 'last_row')::int - (c ->> 'first_row')::int + 1) * length(replace(c ->> 'letters', ' ', '')) AS seats
    FROM fe CROSS JOIN LATERAL jsonb_array_elements(p -> 'layout') AS c
    WHERE kind = 'FlightScheduled'
),
held AS (
    SELECT flight_id, seq, p ->> 'booking_id' AS booking_id, p ->> 'cabin' AS cabin,
           jsonb_array_length(p -> 'seats') AS seated,
           jsonb_array_length(coalesce(p -> 'unseated', '[]'::jsonb)) AS unseated
    FROM fe WHERE kind = 'SeatsHeld'
),
offloads AS (
    SELECT flight_id, seq, p ->> 'booking_id' AS booking_id,
           jsonb_array_length(p -> 'seats') + jsonb_array_length(coalesce(p -> 'unseated', '[]'::jsonb)) AS places
    FROM fe WHERE kind = 'PassengersOffloaded'
),
-- An offload takes places from its booking's latest hold.
offl AS (
    SELECT DISTINCT ON (o.flight_id, o.seq) o.flight_id, o.seq, h.cabin, h.seq AS held_seq, o.booking_id,
           -o.places AS delta
    FROM offloads AS o JOIN held AS h ON h.flight_id = o.flight_id AND h.booking_id = o.booking_id AND h.seq < o.seq
    ORDER BY o.flight_id, o.seq, h.seq DESC
),
-- A release or an expiry gives back its booking's latest hold, less what offloads took from it.
gone AS (
    SELECT DISTINCT ON (g.flight_id, g.seq) g.flight_id, g.seq, h.cabin,
           -(h.seated + h.unseated) - coalesce((SELECT sum(x.delta) FROM offl AS x
                                                WHERE x.flight_id = h.flight_id AND x.booking_id = h.booking_id
                                                  AND x.held_seq = h.seq AND x.seq < g.seq), 0) AS delta
    FROM fe AS g JOIN held AS h ON h.flight_id = g.flight_id AND h.booking_id = g.p ->> 'booking_id' AND h.seq < g.seq
    WHERE g.kind IN ('SeatsReleased', 'HoldExpired')
    ORDER BY g.flight_id, g.seq, h.seq DESC
),
deltas AS (
    SELECT flight_id, seq, cabin, seated + unseated AS delta FROM held
    UNION ALL
    SELECT flight_id, seq, cabin, delta FROM gone
    UNION ALL
    SELECT flight_id, seq, cabin, delta FROM offl
),
running AS MATERIALIZED (
    SELECT flight_id, seq, cabin, sum(delta) OVER (PARTITION BY flight_id, cabin ORDER BY seq) AS places
    FROM deltas
),
extra AS (
    SELECT flight_id, seq, p ->> 'cabin' AS cabin, (p ->> 'extra_seats')::int AS extra
    FROM fe WHERE kind = 'OverbookingSet'
),
at_sale AS (
    SELECT s.flight_id, s.seq, s.cabin, s.seated, r.places, c.seats,
           coalesce((SELECT e.extra FROM extra AS e
                     WHERE e.flight_id = s.flight_id AND e.cabin = s.cabin AND e.seq < s.seq
                     ORDER BY e.seq DESC LIMIT 1), 0) AS extra
    FROM held AS s
    JOIN running AS r ON r.flight_id = s.flight_id AND r.seq = s.seq AND r.cabin = s.cabin
    JOIN seats AS c ON c.flight_id = s.flight_id AND c.cabin = s.cabin
)
SELECT CASE WHEN places > seats + extra THEN
                format('flight %s, %s: the sale at event %s took it to %s places, past its %s seats + %s overbooking',
                       flight_id, cabin, seq, places, seats, extra)
            ELSE format('flight %s, %s: the sale at event %s sold %s seats and took it to %s places, past its %s seats',
                        flight_id, cabin, seq, seated, places, seats) END,
       false
FROM at_sale
WHERE places > seats + extra OR (seated > 0 AND places > seats)
ORDER BY flight_id, seq
";

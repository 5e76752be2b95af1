//! The booking-class invariant in SQL: no sale took a class past its nested limit. For each `SeatsHeld`
//! on a flight whose fares limit some class, the fares in force (the latest `FlightScheduled` or
//! `FaresChanged` before it) and each class's seats held at that moment (running sums over the holds,
//! less the releases and expiries of each booking's hold, in log order; a hold's places without a seat count
//! as seats do) are folded from the log; for the class
//! sold and every dearer class of its cabin with a limit, the seats held or sold in it and the cheaper
//! classes must not pass that limit. A hold written before classes existed (no `class`) is in its
//! cabin's one class (F, J, W or Y), as fares without a class are.

/// Violations only: `(text, false)`.
pub const CLASS_LIMITS: &str = r"
WITH fe AS (
    SELECT aggregate_id AS flight_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events
    WHERE aggregate_type = 'flight'
      AND event_type IN ('FlightScheduled', 'FaresChanged', 'SeatsHeld', 'SeatsReleased', 'HoldExpired')
),
fares AS (
    SELECT flight_id, seq, f ->> 'cabin' AS cabin,
           coalesce(f ->> 'class', CASE f ->> 'cabin' WHEN 'first' THEN 'F' WHEN 'business' THEN 'J'
                                   WHEN 'premium_economy' THEN 'W' ELSE 'Y' END) AS class,
           (f -> 'price' ->> 'amount_minor')::bigint AS price, (f ->> 'limit')::bigint AS lim
    FROM fe CROSS JOIN LATERAL jsonb_array_elements(p -> 'fares') AS f
    WHERE kind IN ('FlightScheduled', 'FaresChanged')
),
limited AS (SELECT DISTINCT flight_id FROM fares WHERE lim IS NOT NULL),
-- Each event of a limited flight with the fares in force at it (the latest fares event up to it).
marks AS (
    SELECT fe.*, max(seq) FILTER (WHERE kind IN ('FlightScheduled', 'FaresChanged'))
                     OVER (PARTITION BY flight_id ORDER BY seq) AS fares_seq
    FROM fe JOIN limited USING (flight_id)
),
held AS (
    SELECT flight_id, seq, fares_seq, p ->> 'booking_id' AS booking_id,
           coalesce(p ->> 'class', CASE p ->> 'cabin' WHEN 'first' THEN 'F' WHEN 'business' THEN 'J'
                                   WHEN 'premium_economy' THEN 'W' ELSE 'Y' END) AS class,
           jsonb_array_length(p -> 'seats') + jsonb_array_length(coalesce(p -> 'unseated', '[]'::jsonb)) AS seats
    FROM marks WHERE kind = 'SeatsHeld'
),
-- A release or an expiry gives back its booking's latest hold on that flight.
gone AS (
    SELECT DISTINCT ON (g.flight_id, g.seq) g.flight_id, g.seq, h.class, -h.seats AS delta
    FROM marks g JOIN held h ON h.flight_id = g.flight_id AND h.booking_id = g.p ->> 'booking_id' AND h.seq < g.seq
    WHERE g.kind IN ('SeatsReleased', 'HoldExpired')
    ORDER BY g.flight_id, g.seq, h.seq DESC
),
deltas AS (
    SELECT flight_id, seq, class, seats AS delta FROM held
    UNION ALL
    SELECT flight_id, seq, class, delta FROM gone
),
codes AS (SELECT DISTINCT flight_id, class FROM held),
-- Every class's seats held or sold after each change: one row per change and class.
totals AS MATERIALIZED (
    SELECT d.flight_id, d.seq, c.class,
           sum(CASE WHEN d.class = c.class THEN d.delta ELSE 0 END)
               OVER (PARTITION BY d.flight_id, c.class ORDER BY d.seq) AS held
    FROM deltas d JOIN codes c ON c.flight_id = d.flight_id
),
-- At each sale, every class in force with what it holds, and with what it and the cheaper classes of
-- its cabin hold (classes of a cabin have distinct prices).
at_sale AS (
    SELECT s.flight_id, s.seq, s.class AS sold_class, f.cabin, f.class, f.price, f.lim, coalesce(t.held, 0) AS held
    FROM held s
    JOIN fares f ON f.flight_id = s.flight_id AND f.seq = s.fares_seq
    LEFT JOIN totals t ON t.flight_id = s.flight_id AND t.seq = s.seq AND t.class = f.class
),
nested AS (
    SELECT *,
           sum(held) OVER (PARTITION BY flight_id, seq, cabin ORDER BY price ROWS UNBOUNDED PRECEDING) AS with_cheaper,
           max(price) FILTER (WHERE class = sold_class) OVER (PARTITION BY flight_id, seq, cabin) AS sold_price
    FROM at_sale
)
SELECT format('flight %s: the sale at event %s in class %s took class %s (limit %s) to %s seats with the cheaper classes',
              flight_id, seq, sold_class, class, lim, with_cheaper),
       false
FROM nested
WHERE lim IS NOT NULL AND price >= sold_price AND with_cheaper > lim
ORDER BY flight_id, seq, class
";

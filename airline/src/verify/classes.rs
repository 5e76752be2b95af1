//! The booking-class invariant in SQL: no sale took a class past its nested limit. For each `SeatsHeld`
//! on a flight whose fares limit some class, the fares in force (the latest `FlightScheduled` or
//! `FaresChanged` before it) and the holds live at that moment are folded from the log; for the class
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
held AS (
    SELECT fe.flight_id, seq, p ->> 'booking_id' AS booking_id,
           coalesce(p ->> 'class', CASE p ->> 'cabin' WHEN 'first' THEN 'F' WHEN 'business' THEN 'J'
                                   WHEN 'premium_economy' THEN 'W' ELSE 'Y' END) AS class,
           jsonb_array_length(p -> 'seats') AS seats
    FROM fe JOIN limited USING (flight_id)
    WHERE kind = 'SeatsHeld'
),
gone AS (
    SELECT flight_id, seq, p ->> 'booking_id' AS booking_id FROM fe WHERE kind IN ('SeatsReleased', 'HoldExpired')
),
sale AS (
    SELECT h.*, (SELECT max(x.seq) FROM fares x WHERE x.flight_id = h.flight_id AND x.seq < h.seq) AS fares_seq
    FROM held h
),
live AS (
    SELECT s.flight_id, s.seq AS sale_seq, o.class, o.seats
    FROM sale s JOIN held o ON o.flight_id = s.flight_id AND o.seq <= s.seq
    WHERE NOT EXISTS (SELECT 1 FROM gone g WHERE g.flight_id = o.flight_id AND g.booking_id = o.booking_id
                                             AND g.seq > o.seq AND g.seq <= s.seq)
      AND NOT EXISTS (SELECT 1 FROM held n WHERE n.flight_id = o.flight_id AND n.booking_id = o.booking_id
                                             AND n.seq > o.seq AND n.seq <= s.seq)
)
SELECT format('flight %s: the sale at event %s in class %s took class %s (limit %s) to %s seats with the cheaper classes',
              s.flight_id, s.seq, s.class, k.class, k.lim, sum(l.seats)),
       false
FROM sale s
JOIN fares c ON c.flight_id = s.flight_id AND c.seq = s.fares_seq AND c.class = s.class
JOIN fares k ON k.flight_id = s.flight_id AND k.seq = s.fares_seq AND k.cabin = c.cabin AND k.price >= c.price
                AND k.lim IS NOT NULL
JOIN live l ON l.flight_id = s.flight_id AND l.sale_seq = s.seq
JOIN fares lc ON lc.flight_id = s.flight_id AND lc.seq = s.fares_seq AND lc.class = l.class AND lc.cabin = k.cabin
                 AND lc.price <= k.price
GROUP BY s.flight_id, s.seq, s.class, k.class, k.lim
HAVING sum(l.seats) > k.lim
ORDER BY s.flight_id, s.seq
";

//! The seat invariants in SQL: every seat held or sold on a flight belongs to a live booking that
//! holds it there (on one of its journey's segments), every segment of a live booking holds its seats,
//! one booking per seat, and no hold without its booking.

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

/// Invariant 1. A booking's status is its latest of placed/confirmed/cancelled/expired; its segments are
/// the `BookingPlaced`'s (version 1.0, one flight, is read as one segment), and its seats on each are the
/// passengers' there with each seated passenger's latest `PassengerSeatChanged` on that segment applied.
/// Every seat held or sold on a flight belongs to a booking with a segment on that flight whose status
/// matches, and every seat of a live booking is in its hold on that segment's flight.
pub(super) const SEATS_VS_BOOKINGS: &str = concat!(
    "WITH",
    flight_holds!(),
    r",
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events WHERE aggregate_type = 'booking'
),
booking AS (
    SELECT booking_id, max(seq) FILTER (WHERE kind = 'BookingPlaced') AS placed_seq,
           CASE (array_agg(kind ORDER BY seq DESC) FILTER (WHERE kind IN
                     ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired')))[1]
               WHEN 'BookingPlaced' THEN 'held' WHEN 'BookingConfirmed' THEN 'confirmed'
               WHEN 'BookingCancelled' THEN 'cancelled' ELSE 'expired' END AS status
    FROM be GROUP BY booking_id HAVING bool_or(kind = 'BookingPlaced')
),
segment AS (
    SELECT b.booking_id, b.status, s.n - 1 AS idx, s.seg ->> 'flight_id' AS flight_id, s.seg -> 'passengers' AS passengers
    FROM booking AS b
    JOIN be AS pl ON pl.booking_id = b.booking_id AND pl.seq = b.placed_seq
    CROSS JOIN LATERAL jsonb_array_elements(coalesce(
        pl.p -> 'segments',
        jsonb_build_array(jsonb_build_object('flight_id', pl.p -> 'flight_id', 'passengers', pl.p -> 'passengers'))))
        WITH ORDINALITY AS s (seg, n)
),
moved AS (
    SELECT DISTINCT ON (booking_id, coalesce((p ->> 'segment')::bigint, 0), (p ->> 'passenger')::bigint)
           booking_id, coalesce((p ->> 'segment')::bigint, 0) AS seg, (p ->> 'passenger')::bigint AS idx,
           p ->> 'to' AS seat
    FROM be WHERE kind = 'PassengerSeatChanged'
    ORDER BY booking_id, coalesce((p ->> 'segment')::bigint, 0), (p ->> 'passenger')::bigint, seq DESC
),
booking_seat AS (
    SELECT g.booking_id, g.flight_id, g.status, coalesce(m.seat, x.pax ->> 'seat') AS seat
    FROM segment AS g
    CROSS JOIN LATERAL jsonb_array_elements(g.passengers) WITH ORDINALITY AS x (pax, n)
    LEFT JOIN moved AS m ON m.booking_id = g.booking_id AND m.seg = g.idx AND m.idx = x.n - 1
    WHERE x.pax ->> 'seat' IS NOT NULL
)
SELECT violation, false
FROM (SELECT CASE
                 WHEN NOT EXISTS (SELECT 1 FROM segment AS g
                                  WHERE g.booking_id = h.booking_id AND g.flight_id = h.flight_id) THEN
                     format('flight %s: seat %s is %s for booking %s, which is booked on flights %s',
                            h.flight_id, h.seat, h.state, h.booking_id,
                            (SELECT string_agg(g.flight_id, ', ' ORDER BY g.idx) FROM segment AS g
                             WHERE g.booking_id = h.booking_id))
                 WHEN b.status <> CASE WHEN h.sold THEN 'confirmed' ELSE 'held' END THEN
                     format('flight %s: seat %s is %s for booking %s, whose status is %s',
                            h.flight_id, h.seat, h.state, h.booking_id, b.status)
                 WHEN bs.seat IS NULL THEN
                     format('flight %s: seat %s is %s for booking %s (%s), but none of its passengers has that seat there',
                            h.flight_id, h.seat, h.state, h.booking_id, b.status)
             END AS violation
      FROM hold_seat AS h
      JOIN booking AS b ON b.booking_id = h.booking_id
      LEFT JOIN booking_seat AS bs
        ON bs.booking_id = h.booking_id AND bs.flight_id = h.flight_id AND bs.seat = h.seat
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
pub(super) const ONE_BOOKING_PER_SEAT: &str = concat!(
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
pub(super) const NO_ORPHAN_HOLDS: &str = concat!(
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

//! The seat invariants in SQL: every seat held or sold on a flight belongs to a live booking that
//! holds it there (on one of its journey's segments), every segment of a live booking holds its seats,
//! one booking per seat, and no hold without its booking.

/// CTEs folding the flight streams: `hold` per (flight, booking) — the latest `SeatsHeld`, `live` unless
/// released or expired since, `sold` if confirmed since — and `hold_seat`, the seats of each live hold
/// after `SeatChanged` moves, `SeatAssigned` seats and `PassengersOffloaded` releases (per seat, the
/// latest of: in the `SeatsHeld`, moved from, moved to, assigned, offloaded).
macro_rules! flight_holds {
    () => {
        r"
fe AS (
    SELECT aggregate_id AS flight_id, payload -> event_type ->> 'booking_id' AS booking_id, sequence AS seq,
           event_type AS kind, payload -> event_type AS p, recorded_at
    FROM events
    WHERE aggregate_type = 'flight'
      AND event_type IN ('SeatsHeld', 'SeatsConfirmed', 'SeatsReleased', 'HoldExpired', 'SeatChanged',
                         'SeatAssigned', 'PassengersOffloaded')
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
                SELECT flight_id, booking_id, p ->> 'to', seq, 1, true FROM fe WHERE kind = 'SeatChanged'
                UNION ALL
                SELECT flight_id, booking_id, p ->> 'seat', seq, 1, true FROM fe WHERE kind = 'SeatAssigned'
                UNION ALL
                SELECT flight_id, booking_id, s.seat, seq, 0, false
                FROM fe CROSS JOIN LATERAL jsonb_array_elements_text(p -> 'seats') AS s (seat)
                WHERE kind = 'PassengersOffloaded') AS o
          JOIN hold AS h
            ON h.live AND h.flight_id = o.flight_id AND h.booking_id = o.booking_id AND o.seq >= h.held_seq
          ORDER BY o.flight_id, o.booking_id, o.seat, o.seq DESC, o.step DESC) AS latest
    WHERE present
)"
    };
}

/// Invariant 1. A booking's status is its latest of placed/confirmed/cancelled/expired; its segments are
/// the `BookingPlaced`'s (version 1.0, one flight, is read as one segment), and its seats on each are the
/// passengers' there with each seated passenger's latest `PassengerSeatChanged` or `SeatsAssigned` on that
/// segment applied; passengers offloaded from a segment (`PassengersOffloaded`) have none there.
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
seat_event AS (
    SELECT booking_id, seq, coalesce((p ->> 'segment')::bigint, 0) AS seg, (p ->> 'passenger')::bigint AS idx,
           p ->> 'to' AS seat
    FROM be WHERE kind = 'PassengerSeatChanged'
    UNION ALL
    SELECT booking_id, seq, (p ->> 'segment')::bigint, (a ->> 'passenger')::bigint, a ->> 'seat'
    FROM be CROSS JOIN LATERAL jsonb_array_elements(p -> 'seats') AS a
    WHERE kind = 'SeatsAssigned'
),
moved AS (
    SELECT DISTINCT ON (booking_id, seg, idx) booking_id, seg, idx, seat
    FROM seat_event ORDER BY booking_id, seg, idx, seq DESC
),
offloaded AS (
    SELECT DISTINCT booking_id, (p ->> 'segment')::bigint AS seg, i.idx::bigint AS idx
    FROM be CROSS JOIN LATERAL jsonb_array_elements_text(p -> 'passengers') AS i (idx)
    WHERE kind = 'PassengersOffloaded'
),
booking_seat AS (
    SELECT g.booking_id, g.flight_id, g.status, coalesce(m.seat, x.pax ->> 'seat') AS seat
    FROM segment AS g
    CROSS JOIN LATERAL jsonb_array_elements(g.passengers) WITH ORDINALITY AS x (pax, n)
    LEFT JOIN moved AS m ON m.booking_id = g.booking_id AND m.seg = g.idx AND m.idx = x.n - 1
    WHERE coalesce(m.seat, x.pax ->> 'seat') IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM offloaded AS o
                      WHERE o.booking_id = g.booking_id AND o.seg = g.idx AND o.idx = x.n - 1)
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

/// Invariant 9: a closed flight (`FlightClosed`). After the close nothing is sold, moved or assigned on
/// it and its fares and overbooking stay; at the end of the log every live hold on it has a seat for each
/// of its places (none left without one) and, per cabin, the places of its live holds fit its seats; every
/// confirmed booking on it has a seat there for each seated passenger who was not offloaded.
pub(super) const CLOSED_FLIGHTS: &str = concat!(
    "WITH",
    flight_holds!(),
    r",
closed AS (
    SELECT aggregate_id AS flight_id, min(sequence) AS closed_seq
    FROM events WHERE aggregate_type = 'flight' AND event_type = 'FlightClosed' GROUP BY 1
),
layout AS (
    SELECT e.aggregate_id AS flight_id, c ->> 'cabin' AS cabin,
           ((c ->> 'last_row')::int - (c ->> 'first_row')::int + 1) * length(replace(c ->> 'letters', ' ', '')) AS seats
    FROM events AS e JOIN closed AS k ON k.flight_id = e.aggregate_id
    CROSS JOIN LATERAL jsonb_array_elements(e.payload -> 'FlightScheduled' -> 'layout') AS c
    WHERE e.aggregate_type = 'flight' AND e.event_type = 'FlightScheduled'
),
live AS (
    SELECT h.flight_id, h.booking_id, f.p ->> 'cabin' AS cabin,
           (SELECT count(*) FROM hold_seat AS x WHERE x.flight_id = h.flight_id AND x.booking_id = h.booking_id) AS seated,
           jsonb_array_length(coalesce(f.p -> 'unseated', '[]'::jsonb))
             - (SELECT count(*) FROM fe AS a WHERE a.flight_id = h.flight_id AND a.booking_id = h.booking_id
                                              AND a.kind = 'SeatAssigned' AND a.seq > h.held_seq)
             - coalesce((SELECT sum(jsonb_array_length(coalesce(o.p -> 'unseated', '[]'::jsonb))) FROM fe AS o
                         WHERE o.flight_id = h.flight_id AND o.booking_id = h.booking_id
                           AND o.kind = 'PassengersOffloaded' AND o.seq > h.held_seq), 0) AS unseated
    FROM hold AS h JOIN closed USING (flight_id)
    JOIN fe AS f ON f.flight_id = h.flight_id AND f.seq = h.held_seq
    WHERE h.live
),
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events WHERE aggregate_type = 'booking'
      AND event_type IN ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired',
                         'PassengerSeatChanged', 'SeatsAssigned', 'PassengersOffloaded')
),
confirmed AS (
    SELECT booking_id, max(seq) FILTER (WHERE kind = 'BookingPlaced') AS placed_seq
    FROM be GROUP BY booking_id
    HAVING (array_agg(kind ORDER BY seq DESC) FILTER (WHERE kind IN
               ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired')))[1] = 'BookingConfirmed'
),
unseated_passenger AS (
    SELECT b.booking_id, s.seg ->> 'flight_id' AS flight_id, x.n - 1 AS idx
    FROM confirmed AS b
    JOIN be AS pl ON pl.booking_id = b.booking_id AND pl.seq = b.placed_seq
    CROSS JOIN LATERAL jsonb_array_elements(pl.p -> 'segments') WITH ORDINALITY AS s (seg, sn)
    JOIN closed AS k ON k.flight_id = s.seg ->> 'flight_id'
    CROSS JOIN LATERAL jsonb_array_elements(s.seg -> 'passengers') WITH ORDINALITY AS x (pax, n)
    WHERE x.pax ->> 'type' <> 'infant' AND x.pax ->> 'seat' IS NULL
      AND NOT EXISTS (SELECT 1 FROM be AS m CROSS JOIN LATERAL jsonb_array_elements(m.p -> 'seats') AS a
                      WHERE m.booking_id = b.booking_id AND m.kind = 'SeatsAssigned'
                        AND (m.p ->> 'segment')::bigint = s.sn - 1 AND (a ->> 'passenger')::bigint = x.n - 1)
      AND NOT EXISTS (SELECT 1 FROM be AS o CROSS JOIN LATERAL jsonb_array_elements_text(o.p -> 'passengers') AS i (idx)
                      WHERE o.booking_id = b.booking_id AND o.kind = 'PassengersOffloaded'
                        AND (o.p ->> 'segment')::bigint = s.sn - 1 AND i.idx::bigint = x.n - 1)
)
SELECT violation, false
FROM (SELECT format('flight %s: %s at event %s, after it closed at event %s', e.aggregate_id, e.event_type, e.sequence,
                    k.closed_seq) AS violation
      FROM events AS e JOIN closed AS k ON k.flight_id = e.aggregate_id
      WHERE e.aggregate_type = 'flight' AND e.sequence > k.closed_seq
        AND e.event_type IN ('SeatsHeld', 'SeatsConfirmed', 'SeatChanged', 'SeatAssigned', 'OverbookingSet',
                             'FaresChanged', 'FlightClosed')
      UNION ALL
      SELECT format('flight %s (closed): booking %s still has %s places without a seat', flight_id, booking_id, unseated)
      FROM live WHERE unseated <> 0
      UNION ALL
      SELECT format('flight %s (closed), %s: its live holds have %s places for %s seats', l.flight_id, l.cabin,
                    sum(l.seated + l.unseated), min(c.seats))
      FROM live AS l JOIN layout AS c ON c.flight_id = l.flight_id AND c.cabin = l.cabin
      GROUP BY l.flight_id, l.cabin HAVING sum(l.seated + l.unseated) > min(c.seats)
      UNION ALL
      SELECT format('booking %s (confirmed): passenger %s has no seat on flight %s, which closed', booking_id, idx,
                    flight_id)
      FROM unseated_passenger) AS v
ORDER BY 1"
);

/// Invariant 10: places without a seat. For every live hold, the flight's places without a seat (those
/// held, less `SeatAssigned` and offloads since) equal its booking's seated passengers on that segment
/// without a seat and not offloaded, and a held or confirmed booking's passengers without a seat are in a
/// live hold on that flight.
pub(super) const PLACES_VS_BOOKINGS: &str = concat!(
    "WITH",
    flight_holds!(),
    r",
after_hold AS (
    SELECT e.flight_id, e.booking_id,
           count(*) FILTER (WHERE e.kind = 'SeatAssigned') AS assigned,
           coalesce(sum(jsonb_array_length(coalesce(e.p -> 'unseated', '[]'::jsonb)))
                        FILTER (WHERE e.kind = 'PassengersOffloaded'), 0) AS offloaded
    FROM fe AS e JOIN hold AS h ON h.live AND h.flight_id = e.flight_id AND h.booking_id = e.booking_id
    WHERE e.seq > h.held_seq AND e.kind IN ('SeatAssigned', 'PassengersOffloaded')
    GROUP BY e.flight_id, e.booking_id
),
flight_places AS (
    SELECT h.flight_id, h.booking_id,
           jsonb_array_length(coalesce(f.p -> 'unseated', '[]'::jsonb)) - coalesce(a.assigned, 0)
               - coalesce(a.offloaded, 0) AS unseated
    FROM hold AS h JOIN fe AS f ON f.flight_id = h.flight_id AND f.seq = h.held_seq
    LEFT JOIN after_hold AS a ON a.flight_id = h.flight_id AND a.booking_id = h.booking_id
    WHERE h.live
),
be AS (
    SELECT aggregate_id AS booking_id, sequence AS seq, event_type AS kind, payload -> event_type AS p
    FROM events WHERE aggregate_type = 'booking'
      AND event_type IN ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired', 'SeatsAssigned',
                         'PassengersOffloaded')
),
live_booking AS (
    SELECT booking_id, max(seq) FILTER (WHERE kind = 'BookingPlaced') AS placed_seq
    FROM be GROUP BY booking_id
    HAVING (array_agg(kind ORDER BY seq DESC) FILTER (WHERE kind IN
               ('BookingPlaced', 'BookingConfirmed', 'BookingCancelled', 'BookingExpired')))[1]
           IN ('BookingPlaced', 'BookingConfirmed')
),
given AS (
    SELECT DISTINCT m.booking_id, (m.p ->> 'segment')::bigint AS seg, (a ->> 'passenger')::bigint AS idx
    FROM be AS m CROSS JOIN LATERAL jsonb_array_elements(m.p -> 'seats') AS a
    WHERE m.kind = 'SeatsAssigned'
    UNION
    SELECT o.booking_id, (o.p ->> 'segment')::bigint, i.idx::bigint
    FROM be AS o CROSS JOIN LATERAL jsonb_array_elements_text(o.p -> 'passengers') AS i (idx)
    WHERE o.kind = 'PassengersOffloaded'
),
booking_places AS (
    SELECT b.booking_id, s.seg ->> 'flight_id' AS flight_id,
           count(*) FILTER (WHERE x.pax ->> 'type' <> 'infant' AND x.pax ->> 'seat' IS NULL AND g.idx IS NULL)
               AS unseated
    FROM live_booking AS b
    JOIN be AS pl ON pl.booking_id = b.booking_id AND pl.seq = b.placed_seq
    CROSS JOIN LATERAL jsonb_array_elements(pl.p -> 'segments') WITH ORDINALITY AS s (seg, sn)
    CROSS JOIN LATERAL jsonb_array_elements(s.seg -> 'passengers') WITH ORDINALITY AS x (pax, n)
    LEFT JOIN given AS g ON g.booking_id = b.booking_id AND g.seg = s.sn - 1 AND g.idx = x.n - 1
    GROUP BY b.booking_id, s.seg ->> 'flight_id'
)
SELECT format('flight %s, booking %s: the flight holds %s places without a seat, the booking has %s passengers without one',
              coalesce(f.flight_id, b.flight_id), coalesce(f.booking_id, b.booking_id), coalesce(f.unseated, 0),
              coalesce(b.unseated, 0)),
       false
FROM flight_places AS f FULL JOIN booking_places AS b ON b.flight_id = f.flight_id AND b.booking_id = f.booking_id
WHERE coalesce(f.unseated, 0) <> coalesce(b.unseated, 0)
ORDER BY 1"
);

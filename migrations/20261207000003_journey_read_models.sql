-- Journeys: a booking holds one to four flights. The booking read model keeps every segment (its flight,
-- slice, cabin, fare and the party's seats there) and the flights' ids, so that a flight's manifest finds
-- the journeys that pass through it; analytics counts a booking's seats on each of its flights.
-- Existing rows are one-flight bookings: they become one-segment journeys here, as their events are read.
ALTER TABLE rm_bookings ADD COLUMN segments jsonb, ADD COLUMN flight_ids uuid[];
UPDATE rm_bookings b SET
    flight_ids = ARRAY[b.flight_id],
    segments = jsonb_build_array(jsonb_build_object(
        'flight_id', b.flight_id,
        'slice', 0,
        'cabin', b.cabin,
        'fare_minor', b.total_minor / GREATEST(1, (SELECT count(*) FROM jsonb_array_elements(b.passengers) p
                                                   WHERE jsonb_typeof(p -> 'seat') = 'string')),
        'seats', (SELECT coalesce(jsonb_agg(p.value -> 'seat' ORDER BY p.ordinality), '[]'::jsonb)
                  FROM jsonb_array_elements(b.passengers) WITH ORDINALITY p)));
ALTER TABLE rm_bookings ALTER COLUMN segments SET NOT NULL, ALTER COLUMN flight_ids SET NOT NULL;
CREATE INDEX rm_bookings_flight_ids ON rm_bookings USING gin (flight_ids);

CREATE TABLE rm_analytics_segments
(
    flight_id  uuid NOT NULL,
    booking_id uuid NOT NULL,
    PRIMARY KEY (flight_id, booking_id)
);
INSERT INTO rm_analytics_segments (flight_id, booking_id)
SELECT flight_id, booking_id FROM rm_analytics_bookings ON CONFLICT DO NOTHING;

-- Overbooking and places without seats on the read side. A cabin sells capacity + overbooking places;
-- `unassigned` counts its passengers (held or sold) without a seat yet. rm_class_holds keeps how many of
-- a booking's places have no seat and whether they are paid, so the cabin recount can add them to the
-- seat map's held and sold. A flight's close is kept on rm_flights (the closer worker reads it).
ALTER TABLE rm_flight_cabins
    ADD COLUMN overbooking integer NOT NULL DEFAULT 0,
    ADD COLUMN overbooking_percent integer,
    ADD COLUMN unassigned  integer NOT NULL DEFAULT 0;
ALTER TABLE rm_class_holds
    ADD COLUMN unseated  integer NOT NULL DEFAULT 0,
    ADD COLUMN confirmed boolean NOT NULL DEFAULT false,
    ADD COLUMN cabin     text;
-- The cabin a hold is in (a class a later fare change removed still counts in its cabin).
UPDATE rm_class_holds h SET cabin = k.cabin FROM rm_flight_classes k
WHERE k.flight_id = h.flight_id AND k.class = h.class;
-- Holds projected before this were all seated; the paid ones show as sold on the seat map.
UPDATE rm_class_holds h SET confirmed = true
WHERE EXISTS (SELECT 1 FROM rm_seats s WHERE s.flight_id = h.flight_id AND s.booking_id = h.booking_id
                                        AND s.status = 'sold');
ALTER TABLE rm_flights ADD COLUMN closed_at timestamptz;
CREATE INDEX rm_flights_to_close ON rm_flights (departure_at) WHERE closed_at IS NULL AND status <> 'cancelled';
-- A booking's offloads at flights' close: [{flight_id, segment, passengers, refund_minor,
-- compensation_minor, offloaded_at}].
ALTER TABLE rm_bookings ADD COLUMN offloads jsonb NOT NULL DEFAULT '[]';

-- Booking classes per flight for search: each class's price, rules, nested limit, seats held or sold in
-- it, and seats it may still sell (rank 0 is a cabin's dearest). rm_class_holds keeps each booking's
-- class per flight so a release knows what it frees.
CREATE TABLE rm_flight_classes
(
    flight_id    uuid    NOT NULL,
    cabin        text    NOT NULL,
    class        text    NOT NULL,
    rank         integer NOT NULL,
    price_minor  bigint  NOT NULL,
    currency     text    NOT NULL,
    refundable   boolean NOT NULL,
    fee_minor    bigint  NOT NULL,
    nested_limit integer,
    sold         integer NOT NULL DEFAULT 0,
    available    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (flight_id, class)
);

CREATE TABLE rm_class_holds
(
    flight_id  uuid    NOT NULL,
    booking_id uuid    NOT NULL,
    class      text    NOT NULL,
    seats      integer NOT NULL,
    PRIMARY KEY (flight_id, booking_id)
);

-- Flights projected before classes sell each cabin as its one class (as the write side reads them).
INSERT INTO rm_flight_classes (flight_id, cabin, class, rank, price_minor, currency, refundable, fee_minor,
                               nested_limit, sold, available)
SELECT flight_id, cabin,
       CASE cabin WHEN 'first' THEN 'F' WHEN 'business' THEN 'J' WHEN 'premium_economy' THEN 'W' ELSE 'Y' END,
       0, price_minor, currency, refundable, fee_minor, NULL, seats_held + seats_sold, seats_free
FROM rm_flight_cabins;
INSERT INTO rm_class_holds (flight_id, booking_id, class, seats)
SELECT flight_id, booking_id,
       CASE min(cabin) WHEN 'first' THEN 'F' WHEN 'business' THEN 'J' WHEN 'premium_economy' THEN 'W' ELSE 'Y' END,
       count(*)
FROM rm_seats WHERE booking_id IS NOT NULL AND status IN ('held', 'sold')
GROUP BY flight_id, booking_id;

-- Read models, written only by the projector (each in the same transaction as its subscription's
-- checkpoint) and read by the query API. All of them can be rebuilt from the event log.

-- Reference data.
CREATE TABLE rm_airports
(
    code      text PRIMARY KEY,
    name      text   NOT NULL,
    city      text   NOT NULL,
    country   text   NOT NULL,
    time_zone text   NOT NULL,
    version   bigint NOT NULL
);

CREATE TABLE rm_aircraft
(
    aircraft_id uuid PRIMARY KEY,
    model       text    NOT NULL,
    cabins      jsonb   NOT NULL,
    seat_count  integer NOT NULL,
    version     bigint  NOT NULL
);

-- Flight search: one row per flight, with local times at each end.
CREATE TABLE rm_flights
(
    flight_id       uuid PRIMARY KEY,
    number          text        NOT NULL,
    origin          text        NOT NULL,
    destination     text        NOT NULL,
    departure_at    timestamptz NOT NULL,
    arrival_at      timestamptz NOT NULL,
    origin_tz       text        NOT NULL,
    destination_tz  text        NOT NULL,
    departure_local timestamp   NOT NULL,
    arrival_local   timestamp   NOT NULL,
    duration_min    integer     NOT NULL,
    status          text        NOT NULL,
    aircraft_id     uuid        NOT NULL,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rm_flights_route_departure ON rm_flights (origin, destination, departure_local);

-- Fares and seats left per cabin of each flight.
CREATE TABLE rm_flight_cabins
(
    flight_id    uuid    NOT NULL,
    cabin        text    NOT NULL,
    price_minor  bigint  NOT NULL,
    currency     text    NOT NULL,
    refundable   boolean NOT NULL,
    fee_minor    bigint  NOT NULL,
    capacity     integer NOT NULL,
    seats_free   integer NOT NULL,
    seats_held   integer NOT NULL DEFAULT 0,
    seats_sold   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (flight_id, cabin)
);
CREATE INDEX rm_flight_cabins_price ON rm_flight_cabins (cabin, price_minor);

-- Seat maps: one row per seat.
CREATE TABLE rm_seats
(
    flight_id       uuid    NOT NULL,
    seat            text    NOT NULL,
    row_number      integer NOT NULL,
    letter          text    NOT NULL,
    cabin           text    NOT NULL,
    characteristics text[]  NOT NULL,
    status          text    NOT NULL DEFAULT 'free',
    booking_id      uuid,
    PRIMARY KEY (flight_id, seat)
);

-- A per-flight version the seat-map cache keys on: it only grows.
CREATE TABLE rm_seat_map_versions
(
    flight_id uuid PRIMARY KEY,
    version   bigint NOT NULL
);

-- Bookings, by id, PNR, customer and flight.
CREATE TABLE rm_bookings
(
    booking_id      uuid PRIMARY KEY,
    reference       text        NOT NULL UNIQUE,
    customer_id     uuid        NOT NULL,
    flight_id       uuid        NOT NULL,
    status          text        NOT NULL,
    cabin           text        NOT NULL,
    passengers      jsonb       NOT NULL,
    contact_email   text        NOT NULL,
    total_minor     bigint      NOT NULL,
    currency        text        NOT NULL,
    refund_minor    bigint,
    hold_until      timestamptz NOT NULL,
    placed_at       timestamptz NOT NULL,
    confirmed_at    timestamptz,
    cancelled_at    timestamptz,
    expired_at      timestamptz,
    version         bigint      NOT NULL
);
CREATE INDEX rm_bookings_customer ON rm_bookings (customer_id, placed_at DESC, booking_id DESC);
CREATE INDEX rm_bookings_flight ON rm_bookings (flight_id);
CREATE INDEX rm_bookings_placed ON rm_bookings (placed_at DESC, booking_id DESC);

-- Analytics: its own copy of each flight's route and day (so it depends on no other read model), and
-- one row per booking with the facts the reports add up.
CREATE TABLE rm_analytics_flights
(
    flight_id   uuid PRIMARY KEY,
    origin      text        NOT NULL,
    destination text        NOT NULL,
    departure_at timestamptz NOT NULL,
    capacity    integer     NOT NULL,
    status      text        NOT NULL
);

CREATE TABLE rm_analytics_bookings
(
    booking_id   uuid PRIMARY KEY,
    flight_id    uuid        NOT NULL,
    origin       text        NOT NULL,
    destination  text        NOT NULL,
    seats        integer     NOT NULL,
    total_minor  bigint      NOT NULL,
    currency     text        NOT NULL,
    placed_at    timestamptz NOT NULL,
    confirmed_at timestamptz,
    cancelled_at timestamptz,
    expired_at   timestamptz,
    refund_minor bigint
);
CREATE INDEX rm_analytics_bookings_day ON rm_analytics_bookings (placed_at);

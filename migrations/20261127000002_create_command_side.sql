-- Tables the command API owns besides the event log. None of them decides a business rule: the
-- aggregates do. They make retries safe (idempotency keys), references unique (PNR registry) and expiry
-- findable (hold deadlines).

-- One row per (principal, Idempotency-Key) on a POST: the request's fingerprint, and once done the
-- response to replay byte for byte.
CREATE TABLE idempotency_keys
(
    principal        text        NOT NULL,
    key              text        NOT NULL,
    fingerprint      bytea       NOT NULL,
    state            text        NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status  smallint,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Booking references handed out; the primary key makes a collision fail and the caller draw again.
CREATE TABLE pnr_registry
(
    pnr        text PRIMARY KEY,
    booking_id uuid        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Unpaid holds and their deadlines: the sweeper's work list. Written before the hold is placed, removed
-- once the hold is paid, released or expired; the Flight and Booking aggregates still decide.
CREATE TABLE hold_deadlines
(
    booking_id uuid PRIMARY KEY,
    flight_id  uuid        NOT NULL,
    hold_until timestamptz NOT NULL
);
CREATE INDEX hold_deadlines_due ON hold_deadlines (hold_until);

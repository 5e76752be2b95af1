-- One commit per decision (issue 12): the rows a decision writes beside its events, in the same statement.

-- The payments ledger: every authorization attempt and refund, with the provider key it was sent under
-- (the provider deduplicates by that key, so any step can be retried). An authorization goes
-- authorizing -> authorized (in the commit that confirms the booking) -> captured; or authorizing ->
-- declined, or -> voiding -> voided when its commit never happened. A refund is written pending by the
-- commit that cancels the booking, and becomes refunded once the provider has paid it back.
CREATE TABLE payments
(
    payment_id         uuid PRIMARY KEY,
    booking_id         uuid        NOT NULL,
    flight_id          uuid        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('authorization', 'refund')),
    attempt            integer     NOT NULL,
    amount_minor       bigint      NOT NULL CHECK (amount_minor >= 0),
    currency           text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('authorizing', 'declined', 'authorized', 'captured',
                                                              'voiding', 'voided', 'pending', 'refunded')),
    provider_key       text        NOT NULL UNIQUE,
    provider_reference text,
    -- The principal and Idempotency-Key of the request that made an authorization: a retry of that
    -- request after a crash carries on with the same attempt instead of authorizing twice.
    request_scope      text,
    tries              integer     NOT NULL DEFAULT 0,
    last_error         text,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (booking_id, kind, attempt)
);
-- One authorization in progress per booking; one refund per booking.
CREATE UNIQUE INDEX payments_one_authorizing ON payments (booking_id) WHERE status = 'authorizing';
CREATE UNIQUE INDEX payments_one_refund ON payments (booking_id) WHERE kind = 'refund';
CREATE INDEX payments_open ON payments (next_attempt_at)
    WHERE status IN ('authorizing', 'authorized', 'voiding', 'pending');

-- An idempotency key is claimed with a token; only the holder of the current token can commit the
-- outcome (with the decision's events). A claim whose lease ran out (its process died) can be taken over.
ALTER TABLE idempotency_keys ADD COLUMN claim uuid;
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz NOT NULL DEFAULT now();

-- The sweeper claims due holds for a lease (replicas skip each other's rows); a row that fails is set
-- aside with a growing delay and its error, and never stops the pass.
ALTER TABLE hold_deadlines ADD COLUMN claimed_until timestamptz;
ALTER TABLE hold_deadlines ADD COLUMN failures integer NOT NULL DEFAULT 0;
ALTER TABLE hold_deadlines ADD COLUMN last_error text;

-- Raises from inside a statement, so a guard in a multi-row commit aborts the whole commit. VOLATILE, so
-- the planner never evaluates it ahead of time.
CREATE FUNCTION airline_abort(reason text) RETURNS integer LANGUAGE plpgsql VOLATILE AS
$$
BEGIN
    RAISE EXCEPTION '%', reason USING ERRCODE = 'P0001';
END;
$$;

-- The bookings read model shows the money movements that follow a decision.
ALTER TABLE rm_bookings ADD COLUMN captured_at timestamptz;
ALTER TABLE rm_bookings ADD COLUMN refunded_at timestamptz;

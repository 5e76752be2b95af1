-- The notifier's tables. A message is recorded once per consumer (inbox) in the same transaction as the
-- notifications or deliveries it causes; sending is then retried until each one is done. A sender claims
-- a row (status 'sending') before the side effect, so two consumers handling the same redelivered
-- message never both send it; a claim older than a minute belongs to a dead consumer and is taken over.

CREATE TABLE notifier_inbox
(
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE notifications
(
    notification_id uuid PRIMARY KEY,
    message_id      uuid        NOT NULL,
    booking_id      uuid,
    kind            text        NOT NULL,
    channel         text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    claimed_at      timestamptz,
    correlation_id  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notifications_message ON notifications (message_id);
CREATE INDEX notifications_booking ON notifications (booking_id, created_at);

CREATE TABLE webhooks
(
    webhook_id uuid PRIMARY KEY,
    url        text        NOT NULL,
    secret     text        NOT NULL,
    events     text[]      NOT NULL,
    active     boolean     NOT NULL DEFAULT true,
    created_by uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries
(
    delivery_id     uuid PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    message_id      uuid        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    claimed_at      timestamptz,
    response_status integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (webhook_id, message_id)
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

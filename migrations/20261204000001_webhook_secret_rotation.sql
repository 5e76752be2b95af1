-- Secret rotation with an overlap window: while `previous_secret_expires_at` is in the future, deliveries
-- carry a signature with the previous secret too, so a receiver can switch over without dropping any.
ALTER TABLE webhooks
    ADD COLUMN previous_secret            text,
    ADD COLUMN previous_secret_expires_at timestamptz;

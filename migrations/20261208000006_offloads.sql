-- Offloads at a flight's close. A refund row may pay back an offload rather than a cancellation: its
-- provider key is `offload-<booking>-<flight>`, and the flight it refunds is read from that key. The
-- denied-boarding compensation owed is a row of kind `compensation`, status `owed`: no card provider
-- pays money out beyond what it charged, so the airline pays it by other means (voucher, transfer).
ALTER TABLE payments
    ADD COLUMN offload_flight_id uuid GENERATED ALWAYS AS (
        CASE WHEN provider_key LIKE 'offload-%' THEN right(provider_key, 36)::uuid END) STORED;
ALTER TABLE payments DROP CONSTRAINT payments_kind_check,
    ADD CONSTRAINT payments_kind_check CHECK (kind IN ('authorization', 'refund', 'compensation'));
ALTER TABLE payments DROP CONSTRAINT payments_status_check,
    ADD CONSTRAINT payments_status_check CHECK (status IN ('authorizing', 'declined', 'authorized', 'captured',
                                                           'voiding', 'voided', 'pending', 'refunded', 'owed'));
-- One cancellation refund per booking, as before; offload refunds are one per flight by their key.
DROP INDEX payments_one_refund;
CREATE UNIQUE INDEX payments_one_refund ON payments (booking_id) WHERE kind = 'refund' AND offload_flight_id IS NULL;

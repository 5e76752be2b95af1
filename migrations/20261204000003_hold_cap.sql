-- Who holds each unpaid hold and how many seats, so a customer's seats on hold can be capped (seat
-- spinning holds a plane empty). Rows from before carry no customer and count for nobody.
ALTER TABLE hold_deadlines
    ADD COLUMN customer_id uuid,
    ADD COLUMN seats       integer NOT NULL DEFAULT 0;
CREATE INDEX hold_deadlines_customer ON hold_deadlines (customer_id) WHERE customer_id IS NOT NULL;

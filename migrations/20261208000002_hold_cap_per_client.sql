-- The client address a hold was made from (as the gateway saw it), so that seats held at once can be
-- capped per address across accounts too: signing up is free, so a cap per account alone lets a few
-- new accounts hold a plane empty. Rows from before carry none and count for no address.
ALTER TABLE hold_deadlines ADD COLUMN client_addr text;
CREATE INDEX hold_deadlines_client ON hold_deadlines (client_addr) WHERE client_addr IS NOT NULL;

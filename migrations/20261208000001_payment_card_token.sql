-- The card token an authorization was asked with (a provider's token, never a card number): a provider
-- that finds an authorization by asking again under the same key (Stripe's idempotent replay) needs the
-- same parameters, when a crash or a lost answer came between its call and the record of its reference.
ALTER TABLE payments ADD COLUMN card_token text;

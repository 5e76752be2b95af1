-- A new account's hold records the flights it holds on and its party (seats on each): the per-flight
-- cap on what accounts younger than a day may hold counts them. Other holds leave both empty.
ALTER TABLE hold_deadlines ADD COLUMN new_account_flights uuid[];
ALTER TABLE hold_deadlines ADD COLUMN party integer;

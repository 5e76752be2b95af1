-- The reference the Redis cache is checked against. A cached search page is keyed by the search generation
-- it was read at, and the flights projection moves the generation in the transaction that changes what a
-- search can see, so a reader that takes the generation from here can never be served a page older than
-- the read model (whatever Redis holds after a restart or a restore from an old snapshot). Seat maps need
-- no row here: their reference is rm_seat_map_versions (and flight ids are never reused).
-- The epoch is new with every database, so a database dropped and made again (its generation back at 0)
-- under the same Redis prefix never meets the old database's pages. A database restored from a backup
-- brings its old epoch back: flush its Redis prefix after a restore.
CREATE TABLE rm_cache_generations (
    name text PRIMARY KEY,
    epoch uuid NOT NULL DEFAULT gen_random_uuid(),
    generation bigint NOT NULL DEFAULT 0
);
INSERT INTO rm_cache_generations (name) VALUES ('search');

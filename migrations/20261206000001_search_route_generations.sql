-- Search pages of one route are cached under that route's generation (`search:<origin>-<destination>`),
-- which the flights projection moves with the rows of that route's flights. Routes that already have
-- flights get theirs now; a route's first flight event creates it otherwise.
INSERT INTO rm_cache_generations (name)
SELECT DISTINCT 'search:' || origin || '-' || destination FROM rm_flights
ON CONFLICT (name) DO NOTHING;

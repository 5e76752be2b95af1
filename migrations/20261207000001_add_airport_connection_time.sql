-- An airport's minimum connecting time (journeys connect there no sooner after landing). Airports
-- registered before it get the default, as their events are read.
ALTER TABLE rm_airports ADD COLUMN min_connection_minutes integer NOT NULL DEFAULT 60;

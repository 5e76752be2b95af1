-- Each booking's flights with the class, seated passengers and fare per seat it was sold at, for revenue
-- per class and yield per flight. Rows projected before this migration have none until the analytics
-- projection is replayed (`airline replay analytics`).
ALTER TABLE rm_analytics_segments ADD COLUMN class text;
ALTER TABLE rm_analytics_segments ADD COLUMN seats integer;
ALTER TABLE rm_analytics_segments ADD COLUMN fare_minor bigint;
ALTER TABLE rm_analytics_segments ADD COLUMN currency text;

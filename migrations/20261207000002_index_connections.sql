-- Journey search reads the flights leaving an airport on a day, then the flights into the destination
-- leaving within a day of those landing.
CREATE INDEX rm_flights_origin_departure ON rm_flights (origin, departure_local);
CREATE INDEX rm_flights_destination_departure ON rm_flights (destination, departure_at);

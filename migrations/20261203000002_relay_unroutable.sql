-- Events the broker returned as unroutable (published with `mandatory`, no queue bound to their routing
-- key). The relay's checkpoint moves past them, so they are kept here and republished until a queue takes
-- them; nothing is dropped silently.
CREATE TABLE relay_unroutable (
    event_id uuid PRIMARY KEY,
    routing_key text NOT NULL,
    first_returned_at timestamptz NOT NULL DEFAULT now(),
    last_returned_at timestamptz NOT NULL DEFAULT now(),
    returns integer NOT NULL DEFAULT 1
);

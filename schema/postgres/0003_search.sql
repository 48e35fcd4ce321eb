-- The search model of the local profile: a denormalized copy of the vendors and their
-- itineraries, written only by the search indexer from the new_vendor and vendor_updated events
-- (so it carries no foreign keys to the system of record, exactly like the Elasticsearch index of
-- the scale profile). Availability is not copied here: searches read bookable_itinerary_slot,
-- the live system of record of held and booked units.

CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

CREATE TABLE search_vendor (
    vendor_id      uuid PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('hotel', 'restaurant')),
    name           text NOT NULL,
    city           text NOT NULL,              -- lower(trim(city name)): what filters match
    city_name      text NOT NULL,              -- the city as the vendor wrote it, for display
    country_code   char(2) NOT NULL,
    lat            double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon            double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    cuisines       text[] NOT NULL DEFAULT '{}',
    star_rating    smallint,
    -- double precision, not numeric: the keyset cursor compares the exact value it read.
    rating         double precision NOT NULL DEFAULT 0,
    currency       char(3) NOT NULL,
    active         boolean NOT NULL,
    -- How the vendor sells time, to compute the periods a search asks about.
    timezone       text NOT NULL,
    check_in_time  time,
    check_out_time time,
    opening_hours  jsonb,
    slot_minutes   smallint,
    turn_minutes   smallint,
    -- A hash of the schedule above: vendors sharing a schedule share their periods, so a search
    -- computes periods once per distinct schedule, not once per vendor.
    schedule_key   text NOT NULL,
    -- Seq of the event this row was written from; an older event never overwrites a newer one.
    seq            bigint NOT NULL,
    indexed_at     timestamptz NOT NULL DEFAULT now()
);

-- City searches, in rating order straight from the index.
CREATE INDEX search_vendor_kind_city_idx ON search_vendor (kind, city, country_code, rating DESC, vendor_id)
    WHERE active;
-- Rating order without a place.
CREATE INDEX search_vendor_kind_rating_idx ON search_vendor (kind, rating DESC, vendor_id) WHERE active;
CREATE INDEX search_vendor_cuisines_idx ON search_vendor USING gin (cuisines) WHERE active;
-- Radius searches: earth_box(...) @> ll_to_earth(lat, lon), then an exact earth_distance check.
CREATE INDEX search_vendor_geo_idx ON search_vendor USING gist (ll_to_earth(lat, lon)) WHERE active;
-- The distinct schedules of a kind, for dated searches without a place.
CREATE INDEX search_vendor_kind_schedule_idx ON search_vendor (kind, schedule_key) WHERE active;

CREATE TABLE search_itinerary (
    itinerary_id uuid PRIMARY KEY,
    vendor_id    uuid NOT NULL REFERENCES search_vendor (vendor_id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('room', 'table')),
    type         text NOT NULL,
    name         text NOT NULL,
    capacity     integer NOT NULL,
    quantity     integer NOT NULL,
    base_price   bigint NOT NULL,
    currency     char(3) NOT NULL,
    facilities   text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL
);
-- A vendor's itineraries cheapest first: the per-vendor lookup of every search and its price.
CREATE INDEX search_itinerary_vendor_price_idx ON search_itinerary (vendor_id, base_price, itinerary_id);
-- Price ranges and room or table types across vendors.
CREATE INDEX search_itinerary_type_price_idx ON search_itinerary (type, base_price) WHERE active;
CREATE INDEX search_itinerary_facilities_idx ON search_itinerary USING gin (facilities) WHERE active;

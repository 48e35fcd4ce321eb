-- Dynamic pricing (pricing/): a vendor's settings, the signals and price of each itinerary
-- period that searches or bookings touched, and the price of the periods no signal touched
-- yet (a profile per itinerary and slot: weekday and local start time). Rows exist only for
-- vendors with pricing on, and only for periods with signals, so storage grows with demand,
-- like the inventory rows grow with bookings. The search reads these prices live, as it reads
-- the inventory rows.

ALTER TABLE event_log DROP CONSTRAINT IF EXISTS event_log_type_check;
ALTER TABLE event_log ADD CONSTRAINT event_log_type_check CHECK (type IN ('new_vendor', 'vendor_updated',
    'new_booking', 'booking_updated', 'booking_availed', 'booking_cancelled', 'booking_expired',
    'search_demand', 'price_updated'));

CREATE TABLE pricing_settings (
    vendor_id                uuid PRIMARY KEY REFERENCES vendor (id) ON DELETE CASCADE,
    enabled                  boolean NOT NULL DEFAULT false,
    -- Percentages of each itinerary's base price.
    floor_percent            smallint NOT NULL CHECK (floor_percent BETWEEN 10 AND 100),
    ceiling_percent          smallint NOT NULL CHECK (ceiling_percent BETWEEN 100 AND 1000),
    max_daily_change_percent smallint NOT NULL CHECK (max_daily_change_percent BETWEEN 1 AND 100),
    version                  integer NOT NULL CHECK (version > 0),
    enabled_at               timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    -- Seq of the last event whose signals the pricing worker counted: each event counts once.
    signals_seq              bigint NOT NULL DEFAULT 0
);
CREATE INDEX pricing_settings_enabled_idx ON pricing_settings (vendor_id) WHERE enabled;

CREATE TABLE pricing_period (
    itinerary_id uuid NOT NULL REFERENCES vendor_itinerary (id) ON DELETE CASCADE,
    starts_at    timestamptz NOT NULL,
    vendor_id    uuid NOT NULL,
    -- Searches that showed the period and bookings of it, per lead time bucket (pricing.Buckets).
    searches     integer[] NOT NULL,
    bookings     integer[] NOT NULL,
    log_price    double precision NOT NULL DEFAULT 0,
    sold_out_at  timestamptz,
    price        bigint NOT NULL CHECK (price >= 0),
    day_price    bigint NOT NULL CHECK (day_price >= 0),
    day          date NOT NULL,
    breakdown    jsonb,
    priced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (itinerary_id, starts_at)
);
CREATE INDEX pricing_period_vendor_idx ON pricing_period (vendor_id, starts_at);

CREATE TABLE pricing_profile (
    itinerary_id uuid NOT NULL REFERENCES vendor_itinerary (id) ON DELETE CASCADE,
    slot         text NOT NULL CHECK (slot ~ '^[1-7]T[0-2][0-9]:[0-5][0-9]$'),
    vendor_id    uuid NOT NULL,
    price        bigint NOT NULL CHECK (price >= 0),
    day_price    bigint NOT NULL CHECK (day_price >= 0),
    day          date NOT NULL,
    breakdown    jsonb,
    priced_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (itinerary_id, slot)
);
CREATE INDEX pricing_profile_vendor_idx ON pricing_profile (vendor_id);

-- The search model learns from price_updated which vendors price dynamically and their
-- floor: a priced vendor's min_base_price is its cheapest itinerary's floor, still a lower
-- bound of any price a search can quote it at.
ALTER TABLE search_vendor ADD COLUMN price_floor_percent smallint;
ALTER TABLE search_vendor ADD COLUMN price_ceiling_percent smallint;
-- Seq of the price_updated event the two columns above come from.
ALTER TABLE search_vendor ADD COLUMN price_seq bigint NOT NULL DEFAULT 0;

-- The price of one unit of an itinerary over periods (a JSON array of [start, slot]) of a vendor
-- with dynamic pricing: each period's stored price, else its slot's profile, else the base
-- price, held within the floor and ceiling (percent of base), summed. Functions (PL/pgSQL: their
-- plans are kept per connection, and they are never inlined) with a small declared cost, so
-- that the planner weighs the search of a vendor's price as it did before dynamic pricing:
-- given the cost of the subqueries written out in the search statement, it walked whole
-- indexes in rating order, or the table in parallel, instead of a city's few vendors (a city
-- search went from 4 to 12 ms).
CREATE FUNCTION search_unit_price(p_itinerary uuid, p_base bigint, p_floor int, p_ceiling int, p_periods jsonb)
RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE COST 5 SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (SELECT sum(least(greatest(coalesce(pp.price, pf.price, p_base), (p_base * p_floor + 99) / 100),
                             p_base * p_ceiling / 100))::bigint
        FROM jsonb_array_elements(p_periods) AS ps(e)
        LEFT JOIN pricing_period pp ON pp.itinerary_id = p_itinerary AND pp.starts_at = (ps.e ->> 0)::timestamptz
        LEFT JOIN pricing_profile pf ON pf.itinerary_id = p_itinerary AND pf.slot = ps.e ->> 1);
END $$;

-- The cheapest price of one unit of a vendor with dynamic pricing in a dated search: over its
-- itineraries that match (type, facilities, party) and have p_qty units free in every period
-- of p_starts, the price over the priced periods (as search_unit_price), within [p_lo, p_hi]
-- (NULL: unbounded); NULL when none.
CREATE FUNCTION search_priced_min(p_vendor uuid, p_floor int, p_ceiling int, p_periods jsonb, p_starts timestamptz[],
    p_qty int, p_type text, p_facilities text[], p_party int, p_lo bigint, p_hi bigint)
RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE COST 10 SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN (SELECT min(x.p) FROM (
        SELECT (SELECT sum(least(greatest(coalesce(pp.price, pf.price, si.base_price), (si.base_price * p_floor + 99) / 100),
                               si.base_price * p_ceiling / 100))::bigint
                FROM jsonb_array_elements(p_periods) AS ps(e)
                LEFT JOIN pricing_period pp ON pp.itinerary_id = si.itinerary_id AND pp.starts_at = (ps.e ->> 0)::timestamptz
                LEFT JOIN pricing_profile pf ON pf.itinerary_id = si.itinerary_id AND pf.slot = ps.e ->> 1) AS p
        FROM search_itinerary si
        WHERE si.vendor_id = p_vendor AND si.active
          AND (p_type IS NULL OR si.type = p_type)
          AND (p_facilities IS NULL OR si.facilities @> p_facilities)
          AND (p_party IS NULL OR si.capacity * p_qty >= p_party)
          AND si.quantity - coalesce((SELECT max(bis.held + bis.booked) FROM bookable_itinerary_slot bis
                WHERE bis.itinerary_id = si.itinerary_id AND bis.vendor_id = p_vendor AND bis.starts_at = ANY (p_starts)), 0) >= p_qty
    ) x WHERE (p_lo IS NULL OR x.p >= p_lo) AND (p_hi IS NULL OR x.p <= p_hi));
END $$;

-- The search model is read by short queries only, a few dozen vendors each through an index:
-- the workers of a parallel scan cost more to start than such a search takes, and the price
-- branch's estimated cost, divided among workers, made the planner take a whole-table parallel
-- scan for a city search (4 ms became 12).
ALTER TABLE search_vendor SET (parallel_workers = 0);


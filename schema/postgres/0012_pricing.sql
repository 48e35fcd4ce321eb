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

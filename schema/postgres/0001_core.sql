-- Reservo's system of record. Money is integer minor units with an ISO 4217 currency; times are
-- timestamptz (UTC) with each vendor's IANA time zone kept beside them.

CREATE TABLE city (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    country_code char(2) NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX city_name_country_uq ON city (lower(name), country_code);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    phone         text CHECK (phone IS NULL OR length(phone) <= 32),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'staff')),
    version       integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_uq ON users (lower(email));

CREATE TABLE vendor (
    id                        uuid PRIMARY KEY,
    kind                      text NOT NULL CHECK (kind IN ('hotel', 'restaurant')),
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description               text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    city_id                   bigint NOT NULL REFERENCES city (id),
    timezone                  text NOT NULL,
    address                   text NOT NULL CHECK (length(address) BETWEEN 1 AND 400),
    lat                       double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                       double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    phone                     text CHECK (phone IS NULL OR length(phone) <= 32),
    cuisines                  text[] NOT NULL DEFAULT '{}',
    star_rating               smallint CHECK (star_rating BETWEEN 1 AND 5),
    currency                  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Hotels sell nights: a stay runs from check_in_time on the first night to check_out_time.
    check_in_time             time,
    check_out_time            time,
    -- Restaurants sell seatings: opening hours per ISO weekday, slots of slot_minutes, and a
    -- table stays taken for turn_minutes.
    opening_hours             jsonb,
    slot_minutes              smallint CHECK (slot_minutes BETWEEN 5 AND 240),
    turn_minutes              smallint CHECK (turn_minutes BETWEEN 5 AND 720),
    deposit_percent           smallint NOT NULL DEFAULT 20 CHECK (deposit_percent BETWEEN 0 AND 100),
    cancellation_cutoff_hours smallint NOT NULL DEFAULT 24 CHECK (cancellation_cutoff_hours BETWEEN 0 AND 720),
    webhook_url               text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://'),
    rating                    numeric(2, 1) NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
    active                    boolean NOT NULL DEFAULT true,
    version                   integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vendor_hotel_shape CHECK (kind <> 'hotel' OR (
        check_in_time IS NOT NULL AND check_out_time IS NOT NULL AND star_rating IS NOT NULL
        AND cardinality(cuisines) = 0)),
    CONSTRAINT vendor_restaurant_shape CHECK (kind <> 'restaurant' OR (
        opening_hours IS NOT NULL AND slot_minutes IS NOT NULL AND turn_minutes IS NOT NULL
        AND turn_minutes >= slot_minutes AND star_rating IS NULL))
);
CREATE INDEX vendor_city_kind_idx ON vendor (city_id, kind);

-- A vendor's manager signs in with these credentials.
CREATE TABLE vendor_manager (
    id            uuid PRIMARY KEY,
    vendor_id     uuid NOT NULL REFERENCES vendor (id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vendor_manager_email_uq ON vendor_manager (lower(email));
CREATE INDEX vendor_manager_vendor_idx ON vendor_manager (vendor_id);

-- Amenities belong to rooms, offers to tables.
CREATE TABLE facility (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('amenity', 'offer')),
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    UNIQUE (kind, name)
);

-- A room type or a table type: quantity units, each for up to capacity people.
CREATE TABLE vendor_itinerary (
    id          uuid PRIMARY KEY,
    vendor_id   uuid NOT NULL REFERENCES vendor (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('room', 'table')),
    type        text NOT NULL CHECK (type ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    capacity    integer NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    quantity    integer NOT NULL CHECK (quantity BETWEEN 0 AND 100000),
    base_price  bigint NOT NULL CHECK (base_price >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active      boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (vendor_id, type)
);

CREATE TABLE itinerary_facility (
    itinerary_id uuid NOT NULL REFERENCES vendor_itinerary (id) ON DELETE CASCADE,
    facility_id  bigint NOT NULL REFERENCES facility (id),
    PRIMARY KEY (itinerary_id, facility_id)
);
CREATE INDEX itinerary_facility_facility_idx ON itinerary_facility (facility_id);

-- A bookable period of a vendor: a night for hotels, a seating for restaurants. Created lazily
-- when first booked, so storage grows with bookings, not with vendors x calendar days.
CREATE TABLE vendor_datetimeslot (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor_id uuid NOT NULL REFERENCES vendor (id) ON DELETE CASCADE,
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL CHECK (ends_at > starts_at),
    UNIQUE (vendor_id, starts_at)
);

-- The lockable inventory row: how many units of one itinerary exist, are held by unpaid
-- bookings, and are booked, for one datetimeslot. Bookings lock these rows FOR UPDATE.
CREATE TABLE bookable_itinerary_slot (
    itinerary_id    uuid NOT NULL REFERENCES vendor_itinerary (id) ON DELETE CASCADE,
    datetimeslot_id bigint NOT NULL REFERENCES vendor_datetimeslot (id) ON DELETE CASCADE,
    vendor_id       uuid NOT NULL,
    starts_at       timestamptz NOT NULL,
    total           integer NOT NULL CHECK (total >= 0),
    held            integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    booked          integer NOT NULL DEFAULT 0 CHECK (booked >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (itinerary_id, datetimeslot_id),
    CONSTRAINT bookable_itinerary_slot_capacity CHECK (held + booked <= total)
);
CREATE INDEX bookable_itinerary_slot_vendor_time_idx ON bookable_itinerary_slot (vendor_id, starts_at);

CREATE TABLE booking (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    vendor_id       uuid NOT NULL REFERENCES vendor (id),
    itinerary_id    uuid NOT NULL REFERENCES vendor_itinerary (id),
    status          text NOT NULL CHECK (status IN
                    ('PENDING', 'BLOCKED', 'CONFIRMED', 'CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    party_size      integer NOT NULL CHECK (party_size BETWEEN 1 AND 10000),
    price_total     bigint NOT NULL CHECK (price_total >= 0),
    deposit_amount  bigint NOT NULL CHECK (deposit_amount >= 0 AND deposit_amount <= price_total),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    hold_expires_at timestamptz,
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_user_idx ON booking (user_id, starts_at DESC);
CREATE INDEX booking_vendor_idx ON booking (vendor_id, starts_at DESC);
CREATE INDEX booking_status_idx ON booking (status) WHERE status IN ('PENDING', 'BLOCKED');

-- booking : bookable_itinerary_slot = 1 : n. state says what the booking has of the row.
CREATE TABLE booking_slot (
    booking_id      uuid NOT NULL REFERENCES booking (id) ON DELETE CASCADE,
    itinerary_id    uuid NOT NULL,
    datetimeslot_id bigint NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    state           text NOT NULL CHECK (state IN ('held', 'booked', 'released')),
    PRIMARY KEY (booking_id, itinerary_id, datetimeslot_id),
    FOREIGN KEY (itinerary_id, datetimeslot_id)
        REFERENCES bookable_itinerary_slot (itinerary_id, datetimeslot_id)
);
CREATE INDEX booking_slot_slot_idx ON booking_slot (itinerary_id, datetimeslot_id);

CREATE TABLE payment (
    id              uuid PRIMARY KEY,
    booking_id      uuid NOT NULL REFERENCES booking (id),
    kind            text NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount          bigint NOT NULL CHECK (amount >= 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    provider        text NOT NULL,
    provider_ref    text,
    -- Derived from the booking id and the saga step, never from a run id, so that a retried
    -- or reset workflow finds the payment it already made instead of making a second one.
    idempotency_key text NOT NULL UNIQUE,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_booking_idx ON payment (booking_id);
CREATE UNIQUE INDEX payment_provider_ref_uq ON payment (provider, provider_ref) WHERE provider_ref IS NOT NULL;

-- The event log (transactional outbox): each state change writes its event here in the same
-- transaction. seq orders events for the consumers; tx lets a consumer wait for transactions
-- that took a lower seq but had not committed yet, so that no event is ever skipped.
CREATE TABLE event_log (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             uuid NOT NULL UNIQUE,
    type           text NOT NULL CHECK (type IN ('new_vendor', 'vendor_updated', 'new_booking',
                   'booking_updated', 'booking_availed', 'booking_cancelled', 'booking_expired')),
    key            text NOT NULL,
    schema_version smallint NOT NULL CHECK (schema_version > 0),
    occurred_at    timestamptz NOT NULL,
    payload        jsonb NOT NULL,
    tx             xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX event_log_key_idx ON event_log (key, seq);

CREATE FUNCTION event_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('event_log', NEW.seq::text);
    RETURN NULL;
END $$;
CREATE TRIGGER event_log_notify AFTER INSERT ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_notify();

-- How far each consumer has read the event log.
CREATE TABLE consumer_offset (
    consumer   text PRIMARY KEY,
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

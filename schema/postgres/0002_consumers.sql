-- Event consumers: events that kept failing are parked here (per consumer) for support staff to
-- look at and replay; the consumer goes on with the next event.
CREATE TABLE parked_event (
    consumer  text NOT NULL,
    event_id  uuid NOT NULL,
    seq       bigint NOT NULL,
    type      text NOT NULL,
    key       text NOT NULL,
    attempts  integer NOT NULL CHECK (attempts > 0),
    error     text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The archive of closed bookings (the archive service), partitioned by the month the booking
-- starts; the archiver creates each month's partition when it first needs it.
CREATE TABLE booking_archive (
    id             uuid NOT NULL,
    user_id        uuid NOT NULL,
    vendor_id      uuid NOT NULL,
    itinerary_id   uuid NOT NULL,
    status         text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    quantity       integer NOT NULL,
    party_size     integer NOT NULL,
    price_total    bigint NOT NULL,
    deposit_amount bigint NOT NULL,
    currency       char(3) NOT NULL,
    version        integer NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, starts_at)
) PARTITION BY RANGE (starts_at);
CREATE INDEX booking_archive_user_idx ON booking_archive (user_id, starts_at DESC, id DESC);
CREATE INDEX booking_archive_vendor_idx ON booking_archive (vendor_id, starts_at DESC, id DESC);

-- Payments are financial records: they outlive the live booking row, which is purged once
-- archived; the booking stays findable in the archive.
ALTER TABLE payment DROP CONSTRAINT payment_booking_id_fkey;

-- Booking management lists a user's or a vendor's bookings newest first.
CREATE INDEX booking_user_list_idx ON booking (user_id, starts_at DESC, id DESC);
CREATE INDEX booking_vendor_list_idx ON booking (vendor_id, starts_at DESC, id DESC);

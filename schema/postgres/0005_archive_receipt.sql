-- In the scale profile closed bookings are archived to Cassandra, outside the system of record.
-- The archiver records here each booking version the archive holds, so that the purge deletes
-- a live booking only when its archived copy is at least as new (as it checks booking_archive
-- in the local profile).
CREATE TABLE archive_receipt (
    booking_id  uuid PRIMARY KEY,
    version     integer NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);

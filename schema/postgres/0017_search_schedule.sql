-- The distinct schedules of the search model, in a table of their own.
--
-- A dated search computes its periods once per distinct schedule (search_vendor.schedule_key,
-- a hash of the schedule). It found them by a loose scan of the (kind, schedule_key) index, one
-- probe per key: for the 360 restaurant schedules of the 500,000-vendor data set that took
-- 3.5 ms of every dated restaurant search, a quarter of it. Here they are one short read.
--
-- A key names its schedule for ever (it is the schedule's hash), so a row is written once, by
-- the triggers below, whoever writes search_vendor: the indexer's upsert, the seed's COPY, a
-- reindex. Rows are never deleted: a schedule that no vendor uses any more only costs a search
-- the computation of periods nobody matches (the search keeps the vendors whose key has
-- periods), and deleting one safely would race with a vendor taking it again.

CREATE TABLE search_schedule (
    kind           text NOT NULL CHECK (kind IN ('hotel', 'restaurant')),
    schedule_key   text NOT NULL,
    timezone       text NOT NULL,
    check_in_time  time,
    check_out_time time,
    opening_hours  jsonb,
    slot_minutes   smallint,
    turn_minutes   smallint,
    PRIMARY KEY (kind, schedule_key)
);

-- Rows inserted into search_vendor, per statement (a COPY of 500,000 vendors adds one statement).
CREATE FUNCTION search_schedule_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_schedule (kind, schedule_key, timezone, check_in_time, check_out_time, opening_hours,
                                 slot_minutes, turn_minutes)
    SELECT DISTINCT ON (n.kind, n.schedule_key) n.kind, n.schedule_key, n.timezone, n.check_in_time,
           n.check_out_time, n.opening_hours, n.slot_minutes, n.turn_minutes
    FROM new_vendors n
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER search_schedule_inserted AFTER INSERT ON search_vendor
    REFERENCING NEW TABLE AS new_vendors FOR EACH STATEMENT EXECUTE FUNCTION search_schedule_inserted();

-- A vendor whose schedule changed (an upsert of the indexer sets the key every time; only a
-- new one fires this).
CREATE FUNCTION search_schedule_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_schedule (kind, schedule_key, timezone, check_in_time, check_out_time, opening_hours,
                                 slot_minutes, turn_minutes)
    VALUES (NEW.kind, NEW.schedule_key, NEW.timezone, NEW.check_in_time, NEW.check_out_time, NEW.opening_hours,
            NEW.slot_minutes, NEW.turn_minutes)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER search_schedule_updated AFTER UPDATE OF schedule_key, kind ON search_vendor
    FOR EACH ROW WHEN (OLD.schedule_key IS DISTINCT FROM NEW.schedule_key OR OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION search_schedule_updated();

INSERT INTO search_schedule (kind, schedule_key, timezone, check_in_time, check_out_time, opening_hours,
                             slot_minutes, turn_minutes)
SELECT DISTINCT ON (v.kind, v.schedule_key) v.kind, v.schedule_key, v.timezone, v.check_in_time,
       v.check_out_time, v.opening_hours, v.slot_minutes, v.turn_minutes
FROM search_vendor v
ON CONFLICT DO NOTHING;

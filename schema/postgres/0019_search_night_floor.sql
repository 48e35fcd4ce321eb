-- Lower bounds of a priced vendor's price per weekday, so that a dated search by price walks
-- each weekday of the stay by its own bound instead of the lowest of the week.
--
-- A dated search sorted by price walked the vendors by min_base_price, for a priced vendor the
-- lowest price of one unit for any period: a vendor with one cheap night of the week (a cheap
-- Monday in its profile, a stored price at its floor) was bounded by it on every night, and a
-- stay of two dearer nights walked far past its page: at 500,000 vendors, hotels within 30 km
-- of Lisbon for two nights needed the batch of 1,024 on most check-in days (one of 64 when the
-- stay began on the cheap Monday).
--
-- night_floor of a priced vendor (NULL otherwise) is, for each ISO weekday d (Monday first), the
-- lowest price of one unit of any active itinerary for a period starting on day d in the
-- vendor's time zone, from its price_bounds (0015): the least of
--   - each stored period's bound p[start] of a start on day d;
--   - for a hotel whose profiles have its night of day d (slot "dT<check-in time>"), that
--     slot's bound s[slot]; otherwise the cheapest base price d and every slot bound of day d
--     (a restaurant has many slots a day, and a hotel's night without a profile costs its base).
-- A period's bound (search_price_bound) is never below its day's night_floor, so the sum of
-- night_floor over a stay's nights bounds every price of the stay: a walk per weekday of the
-- stay by night_floor[d], with the vendors without dynamic pricing walked by min_base_price,
-- bounds every vendor past all the walks by that sum (postgres.SearchStore.Search).
--
-- It follows price_bounds, the time zone and the check-in time by the triggers below, whoever
-- writes them (search_price_refresh, the seed's COPY, a reindex).

ALTER TABLE search_vendor ADD COLUMN night_floor bigint[];

CREATE FUNCTION search_night_floor(p_bounds jsonb, p_kind text, p_timezone text, p_check_in time) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT array_agg(least(
               (SELECT min(x.value::bigint) FROM jsonb_each_text(p_bounds -> 'p') x
                WHERE extract(isodow FROM x.key::timestamptz AT TIME ZONE p_timezone) = d),
               CASE WHEN p_kind = 'hotel' AND p_bounds -> 's' ? (d || 'T' || to_char(p_check_in, 'HH24:MI'))
                    THEN (p_bounds -> 's' ->> (d || 'T' || to_char(p_check_in, 'HH24:MI')))::bigint
                    ELSE least((p_bounds ->> 'd')::bigint,
                               (SELECT min(y.value::bigint) FROM jsonb_each_text(p_bounds -> 's') y
                                WHERE y.key LIKE d || 'T%')) END)
           ORDER BY d)
    FROM generate_series(1, 7) d
    WHERE p_bounds IS NOT NULL
$$;

CREATE FUNCTION search_night_floor_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.night_floor := search_night_floor(NEW.price_bounds, NEW.kind, NEW.timezone, NEW.check_in_time);
    RETURN NEW;
END $$;

CREATE TRIGGER search_night_floor_inserted BEFORE INSERT ON search_vendor
    FOR EACH ROW WHEN (NEW.price_bounds IS NOT NULL) EXECUTE FUNCTION search_night_floor_set();

CREATE TRIGGER search_night_floor_updated BEFORE UPDATE ON search_vendor
    FOR EACH ROW WHEN (OLD.price_bounds IS DISTINCT FROM NEW.price_bounds OR OLD.kind IS DISTINCT FROM NEW.kind
                       OR OLD.timezone IS DISTINCT FROM NEW.timezone OR OLD.check_in_time IS DISTINCT FROM NEW.check_in_time)
    EXECUTE FUNCTION search_night_floor_set();

UPDATE search_vendor SET night_floor = search_night_floor(price_bounds, kind, timezone, check_in_time)
WHERE price_bounds IS NOT NULL;

-- The walks per weekday, of a kind (a city, a country) and of the cells of a dense radius
-- (0018), over the priced vendors only.
CREATE INDEX search_vendor_kind_night1_idx ON search_vendor (kind, (night_floor[1]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night2_idx ON search_vendor (kind, (night_floor[2]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night3_idx ON search_vendor (kind, (night_floor[3]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night4_idx ON search_vendor (kind, (night_floor[4]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night5_idx ON search_vendor (kind, (night_floor[5]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night6_idx ON search_vendor (kind, (night_floor[6]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_night7_idx ON search_vendor (kind, (night_floor[7]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night1_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[1]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night2_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[2]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night3_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[3]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night4_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[4]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night5_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[5]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night6_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[6]), vendor_id) WHERE active AND night_floor IS NOT NULL;
CREATE INDEX search_vendor_kind_cell_night7_idx ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), (night_floor[7]), vendor_id) WHERE active AND night_floor IS NOT NULL;

-- The walk of the vendors without dynamic pricing, by min_base_price, skips the priced ones in
-- the indexes of 0006 and 0018: in a city where the cheapest vendors price dynamically it read
-- every one of them first (1,850 rows for the 64 of a batch within 30 km of Lisbon, 3 of a
-- search's 10 ms).
CREATE INDEX search_vendor_kind_plain_price_idx ON search_vendor (kind, min_base_price, vendor_id)
    WHERE active AND min_base_price IS NOT NULL AND night_floor IS NULL;
CREATE INDEX search_vendor_kind_cell_plain_price_idx
    ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), min_base_price, vendor_id)
    WHERE active AND min_base_price IS NOT NULL AND night_floor IS NULL;

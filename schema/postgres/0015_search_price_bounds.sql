-- The dynamic prices of a vendor copied into the search model, as the Elasticsearch index copies
-- them: each itinerary's stored prices in its search_itinerary row, and lower bounds of them in
-- the vendor's search_vendor row, so that a dated search sorted by price prices only the few
-- vendors that can be on its page, each from its own rows.
--
-- Before: a priced vendor's min_base_price was its cheapest itinerary's floor. Prices mostly sit
-- well above the floors, so a walk by min_base_price met every priced vendor of a place before
-- the first vendor without dynamic pricing, and priced each one night by night, a look at
-- pricing_period and pricing_profile per itinerary and period (a radius of 30 km around Lisbon
-- with 5,400 priced hotels took 9 s at 500,000 vendors).
--
-- prices of a priced vendor's itinerary (NULL otherwise) is
--   {"s": {slot: its profile price}, "p": {period start, RFC 3339 UTC: its period price}}
-- for the periods from yesterday on: what search_unit_price read from the pricing tables.
--
-- price_bounds of a priced vendor (NULL otherwise) is
--   {"d": the cheapest active base price,
--    "s": {slot: the lowest price of one unit of any active itinerary for a period of that slot},
--    "p": {period start, RFC 3339 UTC: the lowest stored price of one unit of any active
--          itinerary for that period}},
-- every price held within the vendor's floor and ceiling. The price of one unit of itinerary i
-- for a period is its stored period price, else its slot's profile price, else its base price
-- (search_unit_price): it is never below least(p[start], s[slot]) when the slot has a profile,
-- nor below least(p[start], d) when it has none. The sum over a stay's periods
-- (search_price_bound) is a lower bound of any itinerary's price for the stay, and min_base_price
-- becomes the least of d, every s and every coming p: a lower bound of one period's price.
--
-- Both are copied from the pricing tables again (search_price_refresh) when the indexer applies
-- the vendor's price_updated or vendor_updated event, like the rest of the search model: a
-- search shows a new price once the indexer has applied its event (the hold always quotes the
-- stored price itself).

ALTER TABLE search_vendor ADD COLUMN price_bounds jsonb;
ALTER TABLE search_itinerary ADD COLUMN prices jsonb;

-- The price of one unit of an itinerary over p_periods (a JSON array of [start, slot]) from its
-- copied prices (as search_unit_price from the pricing tables): each period's price, else its
-- slot's, else the base price, held within the floor and ceiling (percent of base), summed.
CREATE FUNCTION search_copy_price(p_prices jsonb, p_base bigint, p_floor int, p_ceiling int, p_periods jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sum(least(greatest(coalesce((p_prices -> 'p' ->> (ps.e ->> 0))::bigint, (p_prices -> 's' ->> (ps.e ->> 1))::bigint, p_base),
                              (p_base * p_floor + 99) / 100), p_base * p_ceiling / 100))::bigint
    FROM jsonb_array_elements(p_periods) AS ps(e)
$$;

-- The lower bound of one unit's price over p_periods (a JSON array of [start, slot]) for a vendor
-- whose price_bounds are p_bounds.
CREATE FUNCTION search_price_bound(p_bounds jsonb, p_periods jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sum(least(coalesce((p_bounds -> 'p' ->> (ps.e ->> 0))::bigint, 9223372036854775807),
                     coalesce((p_bounds -> 's' ->> (ps.e ->> 1))::bigint, (p_bounds ->> 'd')::bigint)))::bigint
    FROM jsonb_array_elements(p_periods) AS ps(e)
$$;

-- Copies a vendor's stored prices (periods from yesterday on) into its search_itinerary rows and
-- recomputes its min_base_price and price_bounds.
CREATE FUNCTION search_price_refresh(p_vendor uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    fl int;
    ce int;
BEGIN
    SELECT price_floor_percent, price_ceiling_percent INTO fl, ce FROM search_vendor WHERE vendor_id = p_vendor;
    IF fl IS NULL THEN
        UPDATE search_itinerary SET prices = NULL WHERE vendor_id = p_vendor AND prices IS NOT NULL;
        UPDATE search_vendor SET price_bounds = NULL, min_base_price = (SELECT min(si.base_price)
            FROM search_itinerary si WHERE si.vendor_id = p_vendor AND si.active)
        WHERE vendor_id = p_vendor;
        RETURN;
    END IF;
    -- Only the rows whose prices changed are written.
    UPDATE search_itinerary si SET prices = n.prices
    FROM (SELECT x.itinerary_id, jsonb_build_object(
            's', coalesce((SELECT jsonb_object_agg(pf.slot, pf.price) FROM pricing_profile pf
                           WHERE pf.itinerary_id = x.itinerary_id), '{}'::jsonb),
            'p', coalesce((SELECT jsonb_object_agg(to_char(pp.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), pp.price)
                           FROM pricing_period pp WHERE pp.itinerary_id = x.itinerary_id
                           AND pp.starts_at >= now() - interval '1 day'), '{}'::jsonb)) AS prices
          FROM search_itinerary x WHERE x.vendor_id = p_vendor) n
    WHERE si.itinerary_id = n.itinerary_id AND si.prices IS DISTINCT FROM n.prices;
    WITH it AS (
        SELECT si.prices, si.base_price AS base, (si.base_price * fl + 99) / 100 AS lo, si.base_price * ce / 100 AS hi
        FROM search_itinerary si WHERE si.vendor_id = p_vendor AND si.active),
    s AS (
        SELECT sl.slot, min(least(greatest(coalesce((it.prices -> 's' ->> sl.slot)::bigint, it.base), it.lo), it.hi)) AS lo
        FROM (SELECT DISTINCT jsonb_object_keys(it.prices -> 's') AS slot FROM it) sl CROSS JOIN it
        GROUP BY sl.slot),
    p AS (
        SELECT x.key AS start, min(least(greatest(x.value::bigint, it.lo), it.hi)) AS lo
        FROM it CROSS JOIN LATERAL jsonb_each_text(it.prices -> 'p') x
        GROUP BY x.key)
    UPDATE search_vendor SET
        price_bounds = CASE WHEN EXISTS (SELECT 1 FROM it) THEN jsonb_build_object(
            'd', (SELECT min(base) FROM it),
            's', coalesce((SELECT jsonb_object_agg(slot, lo) FROM s), '{}'::jsonb),
            'p', coalesce((SELECT jsonb_object_agg(start, lo) FROM p), '{}'::jsonb)) END,
        min_base_price = least((SELECT min(base) FROM it), (SELECT min(lo) FROM s), (SELECT min(lo) FROM p))
    WHERE vendor_id = p_vendor;
END $$;

SELECT search_price_refresh(vendor_id) FROM search_vendor WHERE price_floor_percent IS NOT NULL;

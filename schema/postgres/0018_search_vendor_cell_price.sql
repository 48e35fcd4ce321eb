-- The price walk of a dense radius by cell: vendors by kind, by the cell of whole degrees of
-- their lat and lon (postgres.cellOf writes the same expression), then cheapest first.
--
-- A search sorted by price within a radius that holds many vendors walks them by min_base_price
-- and keeps those in the radius. By the (kind, min_base_price) index it read the kind's vendors
-- everywhere: for hotels within 30 km of Lisbon at 500,000 vendors, 3,447 rows for the 1,024 of
-- its batch. Walking each of the few cells that hold the radius by this index, and merging the
-- walks in price order, reads the radius's neighbourhood only.
CREATE INDEX search_vendor_kind_cell_price_idx
    ON search_vendor (kind, ((floor(lat)::int + 90) * 361 + floor(lon)::int + 180), min_base_price, vendor_id)
    WHERE active AND min_base_price IS NOT NULL;

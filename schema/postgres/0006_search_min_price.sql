-- Price order at scale: each vendor's cheapest active itinerary, kept by the search indexer. It
-- is a lower bound of the price a search sorts on (the cheapest itinerary that matches the
-- filter and is free), so a search sorted by price walks the vendors in this order and stops
-- once no vendor further on can be cheaper than its page.
ALTER TABLE search_vendor ADD COLUMN min_base_price bigint;
UPDATE search_vendor v SET min_base_price = (SELECT min(si.base_price) FROM search_itinerary si
    WHERE si.vendor_id = v.vendor_id AND si.active);
CREATE INDEX search_vendor_kind_price_idx ON search_vendor (kind, min_base_price, vendor_id)
    WHERE active AND min_base_price IS NOT NULL;

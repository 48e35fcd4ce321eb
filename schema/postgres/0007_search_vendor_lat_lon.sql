-- Radius density: a radius search sorted by price first counts, up to a few hundred, the vendors
-- of the kind in the radius, to choose between pricing them all and walking the price index
-- (postgres/search.go). Through the GiST index every vendor counted is a visit to its wide row
-- (about 3.5 ms for a big city); this index counts them by latitude band and longitude from the
-- index alone (search_vendor is all-visible but for its latest writes), in about 0.5 ms. It
-- takes about 45 bytes a vendor (22 MB for 500,000), and like the table's other indexes an
-- entry for each write of a vendor (its rows are wide, so few of its updates are HOT).
CREATE INDEX IF NOT EXISTS search_vendor_kind_lat_lon_idx ON search_vendor (kind, lat, lon) WHERE active;

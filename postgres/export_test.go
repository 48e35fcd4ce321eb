package postgres

// SetPriceWalk sets the batch sizes of the price walk, the number of vendors in a radius from
// which it goes by the price index, and how many candidates per row of a page it prices
// exactly at first, for a test; it returns the restore.
func SetPriceWalk(batches []int, dense, pricedPerRow int) (restore func()) {
	oldB, oldD, oldP := priceBatches, denseAt, pricedPages
	priceBatches, denseAt, pricedPages = batches, dense, pricedPerRow
	return func() { priceBatches, denseAt, pricedPages = oldB, oldD, oldP }
}

// SetSphereCutMargin sets the margin of the cosine by which a dense radius's price walk takes
// more than the radius (sphereCut), for a test; it returns the restore.
func SetSphereCutMargin(m float64) (restore func()) {
	old := sphereMargin
	sphereMargin = m
	return func() { sphereMargin = old }
}

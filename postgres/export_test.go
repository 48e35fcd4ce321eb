package postgres

// SetPriceWalk sets the batch sizes of the price walk, and the number of vendors in a radius
// from which it goes by the price index, for a test; it returns the restore.
func SetPriceWalk(batches []int, dense int) (restore func()) {
	oldB, oldD := priceBatches, denseAt
	priceBatches, denseAt = batches, dense
	return func() { priceBatches, denseAt = oldB, oldD }
}

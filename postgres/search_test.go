package postgres_test

import (
	"testing"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/search/searchtest"
)

func TestSearchStore_Contract(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), pgtest.NewSearchSeeder(t, db)
	})
}

// With price batches of a few vendors, every search sorted by price walks batch after batch
// (and past the last, prices every candidate), a radius counting as dense from one vendor: the
// suite's oracle must still agree.
func TestSearchStore_ContractWithTinyPriceBatches(t *testing.T) {
	defer postgres.SetPriceWalk([]int{1, 3}, 1)()
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), pgtest.NewSearchSeeder(t, db)
	})
}

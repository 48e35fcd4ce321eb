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

package postgres_test

import (
	"testing"

	"github.com/reservo/reservo/archive/archivetest"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

func TestArchiveStore_Contract(t *testing.T) {
	archivetest.Run(t, func(t *testing.T) archivetest.Archive {
		return postgres.NewArchiveStore(pgtest.NewDB(t))
	})
}

package cassandra_test

import (
	"testing"

	"github.com/reservo/reservo/archive/archivetest"
	"github.com/reservo/reservo/cassandra/cassandratest"
)

func TestStore_Contract(t *testing.T) {
	archivetest.Run(t, func(t *testing.T) archivetest.Archive {
		return cassandratest.NewStore(t)
	})
}

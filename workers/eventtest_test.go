package workers_test

import (
	"context"
	"testing"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/workers"
	"github.com/reservo/reservo/workers/eventtest"
)

// logBus is the local profile's event bus: each consumer reads the PostgreSQL log itself.
type logBus struct {
	db *postgres.DB
	o  eventtest.Options
}

func (b logBus) Run(ctx context.Context, h workers.Handler) error {
	c := &workers.LogConsumer{Log: postgres.NewEventLog(b.db), Handler: h, MaxAttempts: b.o.MaxAttempts, Backoff: b.o.Backoff}
	return c.Run(ctx)
}

func TestEventBus_LogContract(t *testing.T) {
	eventtest.Run(t, func(t *testing.T, db *postgres.DB, o eventtest.Options) eventtest.Bus { return logBus{db, o} })
}

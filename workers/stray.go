package workers

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/payment"
)

// StrayCharges finds charges captured after their booking's money was settled (see
// payment.Settlement) whose refund has not been asked for yet.
type StrayCharges interface {
	// Stray returns up to limit stray charges, oldest first.
	Stray(ctx context.Context, limit int) ([]payment.Record, error)
}

// StartStrayRefund starts the refund workflow of one stray charge, or finds it started.
type StartStrayRefund func(ctx context.Context, bookingID uuid.UUID, chargeKey string) error

// SweepStray starts, every interval until ctx ends, the refund of each stray charge that has
// none running: the payment webhook and the booking's own settlement start them as they find
// them, and this sweep makes sure of the ones whose start was lost (the engine was down, a
// process died in between). Several processes may sweep: a refund workflow is one per charge.
func SweepStray(ctx context.Context, charges StrayCharges, start StartStrayRefund, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := SweepStrayOnce(ctx, charges, start); err != nil {
			log.WarnContext(ctx, "sweep stray charges", "err", err, "started", n)
		} else if n > 0 {
			log.InfoContext(ctx, "stray charges found; their refunds run", "charges", n)
		}
	}
}

// SweepStrayOnce is one sweep: it returns how many stray charges it saw.
func SweepStrayOnce(ctx context.Context, charges StrayCharges, start StartStrayRefund) (int, error) {
	recs, err := charges.Stray(ctx, 100)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		if err := start(ctx, r.BookingID, r.IdempotencyKey); err != nil {
			return len(recs), err
		}
	}
	return len(recs), nil
}

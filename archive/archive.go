// Package archive is the archive service: a consumer of the closing booking events that copies
// closed bookings to the archive store (PostgreSQL tables partitioned by month here, Cassandra
// at scale), after which the live rows may be purged.
package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
)

// Store keeps archived bookings.
type Store interface {
	// Put archives b, replacing an older version of it; putting the same version again
	// changes nothing.
	Put(ctx context.Context, b booking.Booking) error
}

// Purger deletes live bookings that are closed, archived, and older than the retention.
type Purger interface {
	Purge(ctx context.Context, closedBefore time.Time) (int64, error)
}

// Receipts records which version of a booking an archive outside the system of record holds
// (Cassandra at scale), so that the purge of the system of record never deletes a booking the
// archive lacks.
type Receipts interface {
	Record(ctx context.Context, id uuid.UUID, version int) error
}

// WithReceipts returns a Store that puts a booking into s, then records its receipt in r. A
// crash between the two only leaves the booking unpurged until the event is redelivered.
func WithReceipts(s Store, r Receipts) Store { return receipted{s, r} }

type receipted struct {
	store    Store
	receipts Receipts
}

func (r receipted) Put(ctx context.Context, b booking.Booking) error {
	if err := r.store.Put(ctx, b); err != nil {
		return err
	}
	if err := r.receipts.Record(ctx, b.ID, b.Version); err != nil {
		return fmt.Errorf("archive receipt %s: %w", b.ID, err)
	}
	return nil
}

// Archiver is the archive consumer.
type Archiver struct {
	Store Store
}

// Name implements the consumer's handler.
func (a *Archiver) Name() string { return "archiver" }

// Handle archives the booking of a closing event: availed, cancelled, expired, and the
// booking_updated events that close a booking (no-show, declined). Others are ignored.
func (a *Archiver) Handle(ctx context.Context, e event.Envelope) error {
	switch e.Type {
	case event.BookingAvailed, event.BookingCancelled, event.BookingExpired, event.BookingUpdated:
	default:
		return nil
	}
	var p booking.EventPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("archive: decode %s %s: %w", e.Type, e.ID, err)
	}
	if p.Booking == nil {
		return fmt.Errorf("archive: %s %s has no booking", e.Type, e.ID)
	}
	if !p.Booking.Status.Closed() {
		return nil // a change of a confirmed booking: not closed yet
	}
	return a.Store.Put(ctx, *p.Booking)
}

// RunPurge purges, every interval until ctx ends, the live bookings closed longer ago than
// retention (and archived: the purger never deletes a booking the archive lacks).
func RunPurge(ctx context.Context, p Purger, retention, interval time.Duration, now func() time.Time, onErr func(error), onPurged func(int64)) {
	for {
		n, err := p.Purge(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			onErr(err)
		case n > 0:
			onPurged(n)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

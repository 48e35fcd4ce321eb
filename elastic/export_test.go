package elastic

import (
	"context"
	"encoding/json"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/vendors"
)

// WriteFloorsOf writes the floors of v as its document holds them after its event seq alone,
// as a writer that stalled since would.
func (s *Store) WriteFloorsOf(ctx context.Context, v *vendors.Vendor, seq int64) error {
	var d vendorDoc
	d.setVendor(v, seq)
	d.recount(s.now())
	return s.writeFloors(ctx, &d)
}

// ForgetPast deletes the availability of the past now.
func (s *Store) ForgetPast(ctx context.Context) error { return s.forgetPast(ctx, true) }

// WriteBookingStateOnly writes the booking document of the state event e gives and stops before
// its periods: a write that stopped half way.
func (s *Store) WriteBookingStateOnly(ctx context.Context, e event.Envelope, p booking.EventPayload) error {
	w := bookingWrite{ID: p.Booking.ID.String(), Vendor: p.Booking.VendorID.String(), Entry: bookingEntry(e.Seq, p)}
	_, err := s.writeBookingStates(ctx, []bookingWrite{w}, false, map[string]*pendingPeriod{})
	return err
}

// NewestVendors is the newest version of the vendors index, what Migrate brings it to.
func NewestVendors() int {
	vs, _ := indexVersions("vendors")
	return vs[len(vs)-1]
}

// OnRebuild calls fn at each stage of a rebuild ("writes moved", "copied", "reads moved"); its
// error stops the rebuild there.
func (s *Store) OnRebuild(fn func(stage string) error) { s.onRebuild = fn }

// SetBusyWindow sizes each search that reads the units in use of a batch's vendors by their ids
// (0: Elasticsearch's result window).
func (s *Store) SetBusyWindow(n int) { s.busyWindow = n }

// SkipFloors makes the store write no floors while skip, as if its process died after each
// write of a vendor document.
func (s *Store) SkipFloors(skip bool) { s.skipFloors = skip }

// MigrateVendorsTo makes Migrate bring the vendors index to version v instead of the newest.
func (s *Store) MigrateVendorsTo(v int) { s.vendorsVersion = v }

// VendorDocument is v's document as a write after its event seq alone makes it, with the fields
// derived for the index that the source leaves out since version 6.
func (s *Store) VendorDocument(v *vendors.Vendor, seq int64) map[string]any {
	var d vendorDoc
	d.setVendor(v, seq)
	d.recount(s.now())
	b, _ := json.Marshal(&d)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

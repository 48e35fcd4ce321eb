package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// Vendors finds a vendor with its itineraries.
type Vendors interface {
	ByID(ctx context.Context, id uuid.UUID) (*vendors.Vendor, error)
}

// Store reads bookings from the system of record.
type Store interface {
	// ByID returns a booking, or ErrNotFound.
	ByID(ctx context.Context, id uuid.UUID) (*Booking, error)
}

// Cache keeps bookings for fast reads. It is never the truth: a miss or an error means a read
// from the Store.
type Cache interface {
	Get(ctx context.Context, id uuid.UUID) (*Booking, bool, error)
	Set(ctx context.Context, b *Booking) error
	Delete(ctx context.Context, id uuid.UUID) error
}

// Raw is a booking as the JSON the API sends, with the ids that decide who may read it.
type Raw struct {
	UserID, VendorID uuid.UUID
	JSON             []byte
}

// RawCache is a Cache that also hands out a booking as its JSON (Raw), so that a cached read
// needs no decoding and no encoding.
type RawCache interface {
	GetRaw(ctx context.Context, id uuid.UUID) (*Raw, bool, error)
}

// Hold is the answer to a booking request: the held (or, when paid at once, confirmed)
// booking and what the app needs to pay its deposit.
type Hold struct {
	Booking      *Booking `json:"booking"`
	Provider     string   `json:"payment_provider,omitempty"`
	ProviderRef  string   `json:"payment_ref,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"`
}

// Start is what the engine needs to start a booking's saga.
type Start struct {
	Booking            Booking
	Slots              Slots
	PaymentMethod      string
	CancellationCutoff time.Duration
}

// Engine runs the booking sagas (the Temporal adapter).
type Engine interface {
	// Start starts the saga and waits for the hold's outcome. Starting a booking id again
	// returns the first answer. It returns ErrUnavailable, ErrDeclined, ErrProviderDown, ErrHoldFailed or ErrEngineDown.
	Start(ctx context.Context, s Start) (*Hold, error)
	// Change changes a confirmed booking; ErrUnavailable leaves it as it was.
	Change(ctx context.Context, id uuid.UUID, ch Change) (*Changed, error)
	// SetStatus cancels, avails or marks a no-show, as role; ErrInvalidState or ErrForbidden.
	SetStatus(ctx context.Context, id uuid.UUID, to Status, role auth.Role) (*Booking, error)
	// Pay tells the saga of booking id the outcome of its deposit ref ("succeeded"/"failed");
	// ErrNotFound when the saga is over.
	Pay(ctx context.Context, id uuid.UUID, providerRef, status string) error
	// RefundStray starts the refund of a stray charge of booking id (money captured after the
	// booking's money was settled), unless it was started before.
	RefundStray(ctx context.Context, id uuid.UUID, chargeKey string) error
}

// Service is the booking service: it validates and prices requests, checks who may do what,
// and hands the work to the sagas.
type Service struct {
	vendors  Vendors
	store    Store
	lister   Lister
	archive  Archive
	guests   Guests
	cache    Cache
	log      *slog.Logger
	engine   Engine
	now      func() time.Time
	payments Payments // nil: bookings show no payments
	guard    Guard    // nil: no idempotency fingerprints, no cap of holds
	maxHolds int
}

// NewService returns the booking service; cache may be nil.
func NewService(v Vendors, s Store, e Engine, now func() time.Time) *Service {
	return &Service{vendors: v, store: s, engine: e, now: now, log: slog.Default()}
}

// WithLists lets the service list bookings: current ones from live, past ones from archive.
func (s *Service) WithLists(live Lister, archive Archive) *Service {
	s.lister, s.archive = live, archive
	return s
}

// WithGuests lets the vendor's manager and support staff see who the guests of the bookings
// are (lists, a booking, the vendor's calendar).
func (s *Service) WithGuests(g Guests) *Service {
	s.guests = g
	return s
}

// WithCache makes reads of bookings go through c; when c fails, reads go to the store.
func (s *Service) WithCache(c Cache, log *slog.Logger) *Service {
	s.cache, s.log = c, log
	return s
}

// read returns a booking from the cache, or from the store (filling the cache).
func (s *Service) read(ctx context.Context, id uuid.UUID) (*Booking, error) {
	if s.cache != nil {
		b, ok, err := s.cache.Get(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "booking cache unavailable; reading the database", "err", err)
		}
		if ok {
			return b, nil
		}
	}
	b, err := s.store.ByID(ctx, id)
	if errors.Is(err, ErrNotFound) && s.archive != nil {
		// Closed bookings leave the live table some time after they are archived: links in
		// e-mails and apps keep working.
		b, err = s.archive.ByID(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.withPayments(ctx, b); err != nil {
		return nil, err
	}
	if s.cache != nil {
		if err := s.cache.Set(ctx, b); err != nil {
			s.log.WarnContext(ctx, "booking cache unavailable", "err", err)
		}
	}
	return b, nil
}

// forget drops a changed booking from the cache (the saga's activities do so too).
func (s *Service) forget(ctx context.Context, id uuid.UUID) {
	if s.cache != nil {
		if err := s.cache.Delete(ctx, id); err != nil {
			s.log.WarnContext(ctx, "booking cache unavailable", "err", err)
		}
	}
}

// idempotencyNamespace makes booking ids from (user, Idempotency-Key): a retried request maps
// to the same booking id, so to the same workflow, and gets the first answer.
var idempotencyNamespace = uuid.MustParse("6f1c2f8e-6a55-4d7c-9d8e-4c1b0f3e2a71")

// schedule is how v sells time.
func schedule(v *vendors.Vendor) (Schedule, error) {
	loc, err := time.LoadLocation(v.Timezone)
	if err != nil {
		return Schedule{}, fmt.Errorf("vendor time zone: %w", err)
	}
	s := Schedule{Kind: string(v.Kind), Location: loc, SlotMinutes: v.SlotMinutes, TurnMinutes: v.TurnMinutes}
	var e validate.Errors
	s.CheckIn = e.ClockTime("check_in_time", v.CheckInTime)
	s.CheckOut = e.ClockTime("check_out_time", v.CheckOutTime)
	for _, oh := range v.OpeningHours {
		s.Opening = append(s.Opening, OpeningPeriod{Weekday: oh.Weekday, Open: e.ClockTime("open", oh.Open), Close: e.ClockTime("close", oh.Close)})
	}
	return s, nil
}

// plan validates r against the vendor and prices it.
func (s *Service) plan(ctx context.Context, vendorID uuid.UUID, r Request) (*vendors.Vendor, *vendors.Itinerary, []Period, int64, int64, error) {
	v, err := s.vendors.ByID(ctx, vendorID)
	if err != nil {
		return nil, nil, nil, 0, 0, err
	}
	if !v.Active {
		return nil, nil, nil, 0, 0, vendors.ErrNotFound
	}
	var it *vendors.Itinerary
	for i := range v.Itineraries {
		if v.Itineraries[i].ID == r.ItineraryID && v.Itineraries[i].Active {
			it = &v.Itineraries[i]
		}
	}
	if it == nil {
		// Like an unknown vendor: the resource the request names does not exist.
		return nil, nil, nil, 0, 0, vendors.ErrItineraryNotFound
	}
	sch, err := schedule(v)
	if err != nil {
		return nil, nil, nil, 0, 0, err
	}
	periods, err := sch.Periods(r, s.now())
	if err != nil {
		return nil, nil, nil, 0, 0, err
	}
	if err := CheckParty(r.PartySize, it.Capacity, r.Quantity); err != nil {
		return nil, nil, nil, 0, 0, err
	}
	total, deposit := Quote(string(v.Kind), it.BasePrice, len(periods), r.Quantity, v.DepositPercent)
	return v, it, periods, total, deposit, nil
}

// Book asks for a booking for user at a vendor. A non-empty idempotencyKey makes a retried
// request return the first answer and create nothing new.
func (s *Service) Book(ctx context.Context, userID, vendorID uuid.UUID, r Request, idempotencyKey string) (*Hold, error) {
	v, it, periods, total, deposit, err := s.plan(ctx, vendorID, r)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	if idempotencyKey != "" {
		id = uuid.NewSHA1(idempotencyNamespace, []byte(userID.String()+"\x00"+idempotencyKey))
	}
	if err := s.guardBook(ctx, userID, vendorID, r, idempotencyKey, id); err != nil {
		return nil, err
	}
	b := Booking{ID: id, UserID: userID, VendorID: v.ID, ItineraryID: it.ID, Status: Pending,
		StartsAt: periods[0].StartsAt, EndsAt: periods[len(periods)-1].EndsAt, Quantity: r.Quantity, PartySize: r.PartySize,
		PriceTotal: total, Deposit: deposit, Currency: it.Currency}
	hold, err := s.engine.Start(ctx, Start{Booking: b, Slots: Slots{VendorID: v.ID, ItineraryID: it.ID, Quantity: r.Quantity, Periods: periods},
		PaymentMethod: r.PaymentMethod, CancellationCutoff: time.Duration(v.CancellationCutoffHours) * time.Hour})
	if err != nil {
		return nil, fmt.Errorf("book: %w", err)
	}
	if hold.ClientSecret == "" && hold.Booking.Status == Blocked {
		hold.ClientSecret = s.paySecret(ctx, hold.Booking.ID, hold.ProviderRef)
	}
	return hold, nil
}

// mayRead reports whether p may see booking b.
func mayRead(p auth.Principal, b *Booking) bool { return mayReadOf(p, b.UserID, b.VendorID) }

// mayReadOf is mayRead of a booking known by its guest and vendor.
func mayReadOf(p auth.Principal, userID, vendorID uuid.UUID) bool {
	switch p.Role {
	case auth.RoleStaff:
		return true
	case auth.RoleManager:
		return p.VendorID == vendorID
	case auth.RoleUser:
		return p.ID == userID
	}
	return false
}

// Get returns a booking its caller may see: its user, its vendor's manager, or support staff.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Booking, error) {
	b, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayRead(p, b) {
		return nil, ErrForbidden
	}
	return b, nil
}

// GetJSON is Get that returns the booking as its JSON: from the cache as it is stored when the
// cache has it, encoded otherwise.
func (s *Service) GetJSON(ctx context.Context, p auth.Principal, id uuid.UUID) ([]byte, error) {
	if rc, ok := s.cache.(RawCache); ok {
		r, hit, err := rc.GetRaw(ctx, id)
		if err != nil {
			s.log.WarnContext(ctx, "booking cache unavailable; reading the database", "err", err)
		}
		if hit {
			if !mayReadOf(p, r.UserID, r.VendorID) {
				return nil, ErrForbidden
			}
			return r.JSON, nil
		}
	}
	b, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode booking %s: %w", id, err)
	}
	return raw, nil
}

// WaitStatus returns the booking once its status differs from since (or at once when since is
// empty), or as it is when wait runs out.
func (s *Service) WaitStatus(ctx context.Context, p auth.Principal, id uuid.UUID, since Status, wait time.Duration) (*Booking, error) {
	b, err := s.Get(ctx, p, id)
	if err != nil || since == "" || wait <= 0 {
		return b, err
	}
	// Waiting reads the truth: a cached status could hide the change being waited for.
	if b, err = s.store.ByID(ctx, id); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for b.Status == since {
		select {
		case <-ctx.Done():
			return b, nil
		case <-deadline.C:
			return b, nil
		case <-tick.C:
		}
		if b, err = s.store.ByID(ctx, id); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Change moves a confirmed booking of the caller to r (same vendor), re-priced.
func (s *Service) Change(ctx context.Context, p auth.Principal, id uuid.UUID, r Request) (*Changed, error) {
	b, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if p.Role == auth.RoleManager {
		return nil, ErrForbidden // the guest changes their booking; the manager may cancel it
	}
	if b.Status != Confirmed {
		return nil, fmt.Errorf("change a %s booking: %w", b.Status, ErrInvalidState)
	}
	if r.ItineraryID == uuid.Nil {
		r.ItineraryID = b.ItineraryID
	}
	_, it, periods, total, deposit, err := s.plan(ctx, b.VendorID, r)
	if err != nil {
		return nil, err
	}
	out, err := s.engine.Change(ctx, id, Change{Slots: Slots{VendorID: b.VendorID, ItineraryID: it.ID, Quantity: r.Quantity, Periods: periods},
		PartySize: r.PartySize, PriceTotal: total, Deposit: deposit})
	s.forget(ctx, id)
	if err != nil {
		return nil, err
	}
	if x := out.ExtraDeposit; x != nil && x.ClientSecret == "" && x.Status == string(payment.Pending) {
		x.ClientSecret = s.paySecret(ctx, id, x.ProviderRef)
	}
	if err := s.withPayments(ctx, &out.Booking); err != nil {
		s.log.WarnContext(ctx, "payments of a changed booking", "booking_id", id, "err", err)
	}
	return out, nil
}

// SetStatus cancels, avails or marks a no-show: a guest may cancel their own booking; the
// vendor's manager (and support staff) may cancel with a full refund, avail or mark a no-show.
func (s *Service) SetStatus(ctx context.Context, p auth.Principal, id uuid.UUID, to Status) (*Booking, error) {
	b, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	switch to {
	case Cancelled, Availed, NoShow:
	default:
		return nil, validate.Errors{{Field: "status", Message: "must be CANCELLED, AVAILED or NO_SHOW"}}
	}
	if p.Role == auth.RoleUser && to != Cancelled {
		return nil, ErrForbidden
	}
	if b.Status.Closed() {
		return nil, fmt.Errorf("%s booking: %w", b.Status, ErrInvalidState)
	}
	out, err := s.engine.SetStatus(ctx, id, to, p.Role)
	s.forget(ctx, id)
	if err != nil {
		return nil, err
	}
	// The refund of a cancellation shows at once, on its way.
	if err := s.withPayments(ctx, out); err != nil {
		s.log.WarnContext(ctx, "payments of a closed booking", "booking_id", id, "err", err)
	}
	return out, nil
}

// Pay passes a deposit's outcome to its booking's saga.
func (s *Service) Pay(ctx context.Context, id uuid.UUID, providerRef, status string) error {
	defer s.forget(ctx, id)
	if err := s.engine.Pay(ctx, id, providerRef, status); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

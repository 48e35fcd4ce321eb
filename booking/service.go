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
	"github.com/reservo/reservo/pricing"
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
	// Quote is the dynamic price the booking was held at, period by period with each price's
	// breakdown (vendors with dynamic pricing on).
	Quote *pricing.Quote `json:"quote,omitempty"`
}

// Pricer quotes the stored dynamic prices of a vendor's itineraries (the pricing service): nil
// when the vendor's pricing is off.
type Pricer interface {
	Quotes(ctx context.Context, vendorID uuid.UUID, bases map[uuid.UUID]int64, loc *time.Location, starts []time.Time) (map[uuid.UUID]*pricing.Quote, error)
}

// WithPricer makes the service price bookings at the vendors' dynamic prices when their
// pricing is on. The price quoted here is the price the saga holds and charges.
func (s *Service) WithPricer(p Pricer) *Service {
	s.pricer = p
	return s
}

// PricedStarts are the periods of a booking that carry a price: every night of a stay, the
// first seating of a restaurant's turn (a restaurant's price is per seating booking).
func PricedStarts(kind string, periods []Period) []time.Time {
	n := len(periods)
	if kind == restaurantKind {
		n = min(n, 1)
	}
	out := make([]time.Time, n)
	for i := range n {
		out[i] = periods[i].StartsAt
	}
	return out
}

// ItineraryQuote is the price of an itinerary for the dates of a request, as a booking made
// now would be priced.
type ItineraryQuote struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	Quantity    int       `json:"quantity"`
	Price       int64     `json:"price"`
	Currency    string    `json:"currency"`
	// Dynamic is true when the vendor prices dynamically; Periods then has each period's price
	// and breakdown.
	Dynamic bool                   `json:"dynamic"`
	Periods []pricing.QuotedPeriod `json:"periods,omitempty"`
}

// Quotes prices every active itinerary of a vendor for the dates of r (its quantity; its
// itinerary and party are not used), as Book would now. It returns validate.Errors for dates
// the vendor cannot sell.
func (s *Service) Quotes(ctx context.Context, v *vendors.Vendor, r Request) ([]ItineraryQuote, error) {
	sch, err := schedule(v)
	if err != nil {
		return nil, err
	}
	r.PartySize = max(r.PartySize, 1)
	r.Quantity = max(r.Quantity, 1)
	periods, err := sch.Periods(r, s.now())
	if err != nil {
		return nil, err
	}
	bases := map[uuid.UUID]int64{}
	for _, it := range v.Itineraries {
		if it.Active {
			bases[it.ID] = it.BasePrice
		}
	}
	var qs map[uuid.UUID]*pricing.Quote
	if s.pricer != nil && len(bases) > 0 {
		if qs, err = s.pricer.Quotes(ctx, v.ID, bases, sch.Location, PricedStarts(string(v.Kind), periods)); err != nil {
			return nil, err
		}
	}
	out := []ItineraryQuote{}
	for _, it := range v.Itineraries {
		if !it.Active {
			continue
		}
		q := ItineraryQuote{ItineraryID: it.ID, Quantity: r.Quantity, Currency: it.Currency}
		if dq := qs[it.ID]; dq != nil {
			q.Price, _ = QuoteUnits(dq.PerUnit, r.Quantity, 0)
			q.Dynamic, q.Periods = true, dq.Periods
		} else {
			q.Price, _ = Quote(string(v.Kind), it.BasePrice, len(periods), r.Quantity, 0)
		}
		out = append(out, q)
	}
	return out, nil
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
	pricer   Pricer // nil: base prices
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

// planned is a request validated against its vendor and priced.
type planned struct {
	v              *vendors.Vendor
	it             *vendors.Itinerary
	periods        []Period
	total, deposit int64
	quote          *pricing.Quote // nil: base prices (the vendor's pricing is off)
}

// plan validates r against the vendor and prices it: at the stored dynamic prices when the
// vendor's pricing is on, else at the base price.
func (s *Service) plan(ctx context.Context, vendorID uuid.UUID, r Request) (*planned, error) {
	v, it, periods, total, deposit, err := s.planBase(ctx, vendorID, r)
	if err != nil {
		return nil, err
	}
	p := &planned{v: v, it: it, periods: periods, total: total, deposit: deposit}
	if s.pricer == nil {
		return p, nil
	}
	sch, err := schedule(v)
	if err != nil {
		return nil, err
	}
	qs, err := s.pricer.Quotes(ctx, v.ID, map[uuid.UUID]int64{it.ID: it.BasePrice}, sch.Location, PricedStarts(string(v.Kind), periods))
	if err != nil {
		return nil, fmt.Errorf("price: %w", err)
	}
	if q := qs[it.ID]; q != nil {
		p.quote = q
		p.total, p.deposit = QuoteUnits(q.PerUnit, r.Quantity, v.DepositPercent)
	}
	return p, nil
}

// planBase validates r against the vendor and prices it at the base price.
func (s *Service) planBase(ctx context.Context, vendorID uuid.UUID, r Request) (*vendors.Vendor, *vendors.Itinerary, []Period, int64, int64, error) {
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
	pl, err := s.plan(ctx, vendorID, r)
	if err != nil {
		return nil, err
	}
	v, it, periods, total, deposit := pl.v, pl.it, pl.periods, pl.total, pl.deposit
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
	// A request sent again (same Idempotency-Key) gets the first hold, whose price may be
	// another quote's: the quote is shown only with the price it made.
	if pl.quote != nil && hold.Booking != nil && hold.Booking.PriceTotal == total {
		hold.Quote = pl.quote
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

// How often WaitStatus reads the booking again: first after waitStatusFirstPoll, then twice
// as long each time, up to waitStatusMaxPoll.
const (
	waitStatusFirstPoll = 10 * time.Millisecond
	waitStatusMaxPoll   = 200 * time.Millisecond
)

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
	// The row is read again soon, then less and less often: a payment confirms within tens of
	// milliseconds (one workflow task), which a fixed 200 ms poll turned into 200.
	pause := waitStatusFirstPoll
	tick := time.NewTimer(pause)
	defer tick.Stop()
	for b.Status == since {
		select {
		case <-ctx.Done():
			return b, nil
		case <-deadline.C:
			return b, nil
		case <-tick.C:
		}
		pause = min(2*pause, waitStatusMaxPoll)
		tick.Reset(pause)
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
	pl, err := s.plan(ctx, b.VendorID, r)
	if err != nil {
		return nil, err
	}
	it, periods, total, deposit := pl.it, pl.periods, pl.total, pl.deposit
	if pl.quote != nil && it.ID == b.ItineraryID && periods[0].StartsAt.Equal(b.StartsAt) &&
		periods[len(periods)-1].EndsAt.Equal(b.EndsAt) && b.Quantity > 0 {
		// The same itinerary and periods (a new party size or quantity): a later change of the
		// dynamic price does not alter a confirmed booking, so each unit keeps its price.
		total, deposit = QuoteUnits(b.PriceTotal/int64(b.Quantity), r.Quantity, pl.v.DepositPercent)
		pl.quote = nil
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
	if pl.quote != nil && out.PriceTotal == total {
		out.Quote = pl.quote
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

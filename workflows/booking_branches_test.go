package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

func errType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func TestBooking_PaidThenAvailedRefundsAfterBilling(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-2 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	var availErr error = errors.New("not sent")
	s.status(3*time.Hour, StatusRequest{To: booking.Availed, By: RoleManager}, &availErr)
	res := s.run(t)
	if s.holdErr != nil || s.hold == nil || s.hold.Booking.Status != booking.Blocked || s.hold.ClientSecret != "secret" {
		t.Fatalf("hold answered %+v, %v", s.hold, s.holdErr)
	}
	if availErr != nil {
		t.Fatalf("avail: %v", availErr)
	}
	if res.Status != booking.Availed || !equal(s.transitions, []booking.Status{booking.Confirmed, booking.Availed}) {
		t.Fatalf("result %+v, transitions %v", res, s.transitions)
	}
	if len(s.refunds) != 1 || s.refunds[0].Reason != "billing" || s.refunds[0].Amount != 2000 {
		t.Fatalf("refunds %+v; want the deposit back after billing", s.refunds)
	}
	if len(s.charges) != 1 || s.charges[0].IdempotencyKey != payment.DepositKey(s.in.Booking.ID) {
		t.Fatalf("charges %+v", s.charges)
	}
	if len(s.pendingCancels) != 0 {
		t.Fatalf("pending charges cancelled %d times; no change asked for an extra deposit", len(s.pendingCancels))
	}
}

func TestBooking_Declined(t *testing.T) {
	s := newSaga(t)
	s.chargeFn = func(activities.ChargeInput) (*activities.ChargeResult, error) {
		return nil, temporal.NewNonRetryableApplicationError("declined", activities.ErrTypeDeclined, payment.ErrDeclined)
	}
	res := s.run(t)
	if errType(s.holdErr) != ErrTypeDeclined || res.Status != booking.Failed || !equal(s.transitions, []booking.Status{booking.Failed}) {
		t.Fatalf("hold err %v, result %+v, transitions %v", s.holdErr, res, s.transitions)
	}
}

func TestBooking_DeclinedBySignal(t *testing.T) {
	s := newSaga(t)
	s.pay(time.Minute, payment.Failed)
	res := s.run(t)
	if res.Status != booking.Failed || !equal(s.transitions, []booking.Status{booking.Failed}) || len(s.refunds) != 0 {
		t.Fatalf("result %+v, transitions %v, refunds %v", res, s.transitions, s.refunds)
	}
}

func TestBooking_Unavailable(t *testing.T) {
	s := newSaga(t)
	s.blockFn = func(activities.BlockInput) (*booking.Booking, error) {
		return nil, temporal.NewNonRetryableApplicationError("no units", activities.ErrTypeUnavailable, booking.ErrUnavailable)
	}
	res := s.run(t)
	if errType(s.holdErr) != ErrTypeUnavailable || res.Status != booking.Failed || len(s.transitions) != 0 || len(s.charges) != 0 {
		t.Fatalf("hold err %v, result %+v, transitions %v, charges %v", s.holdErr, res, s.transitions, s.charges)
	}
}

func TestBooking_HoldExpires(t *testing.T) {
	s := newSaga(t)
	res := s.run(t)
	if res.Status != booking.Expired || !equal(s.transitions, []booking.Status{booking.Expired}) || s.cancels != 1 {
		t.Fatalf("result %+v, transitions %v, cancels %d", res, s.transitions, s.cancels)
	}
	if len(s.refunds) != 0 {
		t.Fatalf("refunds %v", s.refunds)
	}
}

func TestBooking_LatePaymentIsRefunded(t *testing.T) {
	s := newSaga(t)
	s.pay(20*time.Minute, payment.Succeeded) // the hold expired at 10 minutes
	res := s.run(t)
	if res.Status != booking.Expired || len(s.refunds) != 1 || s.refunds[0].Reason != "late-payment" || res.Refunded != 2000 {
		t.Fatalf("result %+v, refunds %+v", res, s.refunds)
	}
}

func TestBooking_CancelWhileBlocked(t *testing.T) {
	s := newSaga(t)
	var err error = errors.New("not sent")
	s.status(time.Minute, StatusRequest{To: booking.Cancelled, By: RoleUser}, &err)
	res := s.run(t)
	if err != nil || res.Status != booking.Cancelled || s.cancels != 1 || !equal(s.transitions, []booking.Status{booking.Cancelled}) {
		t.Fatalf("err %v, result %+v, cancels %d, transitions %v", err, res, s.cancels, s.transitions)
	}
}

func TestBooking_CancelByPolicy(t *testing.T) {
	for _, c := range []struct {
		name     string
		at       time.Duration // after the start of the workflow
		by       Role
		refunded int64
	}{
		{"guest before the cut-off", time.Hour, RoleUser, 2000},
		{"guest after the cut-off", 0, RoleUser, 0},
		{"manager after the cut-off", 0, RoleManager, 2000},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSaga(t)
			if c.at == 0 { // start 2 hours before the booking: past the 24-hour cut-off
				s.env.SetStartTime(start.Add(-3 * time.Hour))
				c.at = time.Hour
			} else {
				s.env.SetStartTime(start.Add(-72 * time.Hour))
			}
			s.pay(time.Minute, payment.Succeeded)
			var err error = errors.New("not sent")
			s.status(c.at, StatusRequest{To: booking.Cancelled, By: c.by}, &err)
			res := s.run(t)
			if err != nil || res.Status != booking.Cancelled || res.Refunded != c.refunded {
				t.Fatalf("err %v, result %+v; want refunded %d", err, res, c.refunded)
			}
		})
	}
}

func TestBooking_NoShowKeepsDeposit(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-48 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	var userErr, err error = errors.New("not sent"), errors.New("not sent")
	s.status(time.Hour, StatusRequest{To: booking.NoShow, By: RoleUser}, &userErr)
	s.status(49*time.Hour, StatusRequest{To: booking.NoShow, By: RoleManager}, &err)
	res := s.run(t)
	if errType(userErr) != ErrTypeForbidden {
		t.Fatalf("a guest marked their own no-show: %v", userErr)
	}
	if err != nil || res.Status != booking.NoShow || len(s.refunds) != 0 {
		t.Fatalf("err %v, result %+v, refunds %v", err, res, s.refunds)
	}
}

func TestBooking_AutoAvailedWhenNobodyCloses(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-48 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	res := s.run(t)
	if res.Status != booking.Availed || len(s.refunds) != 1 || s.refunds[0].Reason != "billing" {
		t.Fatalf("result %+v, refunds %v", res, s.refunds)
	}
}

func TestBooking_ChangeSucceedsOrKeepsTheBooking(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-48 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	calls := 0
	s.env.OnActivity(acts.ChangeBooking, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChangeInput) (*booking.Booking, error) {
		calls++
		if calls == 1 {
			return nil, temporal.NewNonRetryableApplicationError("full", activities.ErrTypeUnavailable, booking.ErrUnavailable)
		}
		b := s.in.Booking
		b.Status, b.Quantity, b.Deposit, b.Version = booking.Confirmed, in.Change.Slots.Quantity, in.Change.Deposit, 3
		return &b, nil
	})
	ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 4, PriceTotal: 20000, Deposit: 4000}}
	ch.Change.Slots.Quantity = 2
	var failed, changed error = errors.New("not sent"), errors.New("not sent")
	var got *booking.Changed
	send := func(d time.Duration, dst *error) { s.change(d, d.String(), ch, dst, &got) }
	send(time.Hour, &failed)
	send(2*time.Hour, &changed)
	var cancelErr error = errors.New("not sent")
	s.status(3*time.Hour, StatusRequest{To: booking.Cancelled, By: RoleUser}, &cancelErr)
	res := s.run(t)
	if errType(failed) != ErrTypeUnavailable {
		t.Fatalf("first change: %v; want unavailable", failed)
	}
	if changed != nil || got == nil || got.Quantity != 2 || got.Deposit != 4000 {
		t.Fatalf("second change: %+v, %v", got, changed)
	}
	if len(s.charges) != 2 || s.charges[1].Amount != 2000 || s.charges[1].IdempotencyKey != payment.ChangeKey(s.in.Booking.ID, 3) {
		t.Fatalf("charges %+v; want the deposit difference charged once", s.charges)
	}
	want := booking.ExtraDeposit{Amount: 2000, Currency: "EUR", Status: "pending", Provider: "sandbox", ProviderRef: "pi_1", ClientSecret: "secret"}
	if got.ExtraDeposit == nil || *got.ExtraDeposit != want {
		t.Fatalf("extra deposit %+v; want %+v, for the guest to pay", got.ExtraDeposit, want)
	}
	if cancelErr != nil || res.Status != booking.Cancelled {
		t.Fatalf("cancel %v, result %+v", cancelErr, res)
	}
	// The unpaid extra deposit is cancelled before the refund.
	if !slices.Equal(s.pendingCancels, []int{0}) || len(s.refunds) != 1 || s.refunds[0].Reason != "cancel" {
		t.Fatalf("pending cancels %v (refunds before each), refunds %+v", s.pendingCancels, s.refunds)
	}
}

func TestBooking_TransitionRetriedUntilItSucceeds(t *testing.T) {
	s := newSaga(t)
	s.pay(time.Minute, payment.Succeeded)
	failures := 0
	s.transitionFn = func(in activities.TransitionInput) (*booking.Booking, error) {
		if in.To == booking.Confirmed && failures < 3 {
			failures++
			return nil, errors.New("connection refused")
		}
		s.transitions = append(s.transitions, in.To)
		b := s.in.Booking
		b.Status = in.To
		return &b, nil
	}
	var err error = errors.New("not sent")
	s.status(time.Hour, StatusRequest{To: booking.Cancelled, By: RoleManager}, &err)
	res := s.run(t)
	if failures != 3 || err != nil || res.Status != booking.Cancelled || !equal(s.transitions, []booking.Status{booking.Confirmed, booking.Cancelled}) {
		t.Fatalf("failures %d, err %v, result %+v, transitions %v", failures, err, res, s.transitions)
	}
}

func TestBooking_ExpiredButCapturedIsRefunded(t *testing.T) {
	s := newSaga(t)
	s.captured = true // the provider took the money but its webhook never came
	res := s.run(t)
	if res.Status != booking.Expired || len(s.refunds) != 1 || s.refunds[0].Reason != "late-payment" || res.Refunded != 2000 {
		t.Fatalf("result %+v, refunds %+v; want the captured deposit refunded", res, s.refunds)
	}
}

func TestBooking_ReminderADayBeforeTheStart(t *testing.T) {
	s := newSaga(t)
	s.in.RemindBefore = 24 * time.Hour
	s.env.SetStartTime(start.Add(-72 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	var err error = errors.New("not sent")
	s.status(73*time.Hour, StatusRequest{To: booking.Availed, By: RoleManager}, &err)
	res := s.run(t)
	if err != nil || res.Status != booking.Availed {
		t.Fatalf("avail %v, result %+v", err, res)
	}
	if len(s.reminders) != 1 || !s.reminders[0].Equal(start.Add(-24*time.Hour)) {
		t.Fatalf("reminders at %v; want one at %v", s.reminders, start.Add(-24*time.Hour))
	}
}

func TestBooking_NoReminderForACancelledBooking(t *testing.T) {
	s := newSaga(t)
	s.in.RemindBefore = 24 * time.Hour
	s.env.SetStartTime(start.Add(-72 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	var err error = errors.New("not sent")
	s.status(2*time.Hour, StatusRequest{To: booking.Cancelled, By: RoleUser}, &err)
	res := s.run(t)
	if err != nil || res.Status != booking.Cancelled || len(s.reminders) != 0 {
		t.Fatalf("err %v, result %+v, reminders %v", err, res, s.reminders)
	}
}

// TestBooking_AvailedOrNoShowOnlyOnceStarted: the manager cannot close a booking as availed or
// no-show (keeping the deposit) before it starts; support staff may correct at any time.
func TestBooking_AvailedOrNoShowOnlyOnceStarted(t *testing.T) {
	for _, c := range []struct {
		name string
		to   booking.Status
		by   Role
		at   time.Duration // after the workflow starts, 48 h before the booking
		want string        // the error type, "" for accepted
		end  booking.Status
	}{
		{"no-show a day early", booking.NoShow, RoleManager, 24 * time.Hour, ErrTypeNotStarted, booking.Cancelled},
		{"availed a day early", booking.Availed, RoleManager, 24 * time.Hour, ErrTypeNotStarted, booking.Cancelled},
		{"no-show after the start", booking.NoShow, RoleManager, 48*time.Hour + 15*time.Minute, "", booking.NoShow},
		{"staff correct early", booking.Availed, RoleStaff, 24 * time.Hour, "", booking.Availed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSaga(t)
			s.env.SetStartTime(start.Add(-48 * time.Hour))
			s.pay(time.Minute, payment.Succeeded)
			var err, cancelErr error = errors.New("not sent"), errors.New("not sent")
			s.status(c.at, StatusRequest{To: c.to, By: c.by}, &err)
			if c.want != "" { // then the manager cancels, which closes the workflow
				s.status(c.at+time.Minute, StatusRequest{To: booking.Cancelled, By: RoleManager}, &cancelErr)
			}
			res := s.run(t)
			if errType(err) != c.want || (c.want == "" && err != nil) {
				t.Fatalf("%s by %s: %v; want %q", c.to, c.by, err, c.want)
			}
			if res.Status != c.end {
				t.Fatalf("ended %s; want %s", res.Status, c.end)
			}
		})
	}
}

// TestBooking_ChangeClosesAtTheCutoff: a change at or after the cancellation cutoff is refused
// (it would move the cutoff with the start and reopen a refund the policy no longer gives).
func TestBooking_ChangeClosesAtTheCutoff(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-48 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 2, PriceTotal: 10000, Deposit: 2000}}
	var err error = errors.New("not sent")
	s.change(30*time.Hour, "late", ch, &err, nil) // 18 h before the start, the cutoff is 24 h
	var cancelErr error = errors.New("not sent")
	s.status(31*time.Hour, StatusRequest{To: booking.Cancelled, By: RoleUser}, &cancelErr)
	res := s.run(t)
	if errType(err) != ErrTypeChangeClosed {
		t.Fatalf("change after the cutoff: %v; want %s", err, ErrTypeChangeClosed)
	}
	if cancelErr != nil || res.Status != booking.Cancelled || len(s.refunds) != 0 {
		t.Fatalf("cancel after the cutoff: %v, %+v, refunds %+v; want cancelled, deposit kept", cancelErr, res, s.refunds)
	}
}

// TestBooking_LoweringTheDepositKeepsTheNewDepositPaid: a change that lowers the deposit after
// a raise the guest never paid cancels that extra deposit first, and its refund keeps the new
// deposit of what was paid (the activity caps it).
func TestBooking_LoweringTheDepositKeepsTheNewDepositPaid(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-96 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	version := 2
	s.env.OnActivity(acts.ChangeBooking, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChangeInput) (*booking.Booking, error) {
		version++
		b := s.in.Booking
		b.Status, b.Quantity, b.Deposit, b.Version = booking.Confirmed, in.Change.Slots.Quantity, in.Change.Deposit, version
		return &b, nil
	})
	change := func(d time.Duration, qty int, deposit int64, dst *error) {
		ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 2, PriceTotal: 10000, Deposit: deposit}}
		ch.Change.Slots.Quantity = qty
		s.change(d, d.String(), ch, dst, nil)
	}
	var raised, lowered, cancelErr error = errors.New("not sent"), errors.New("not sent"), errors.New("not sent")
	change(time.Hour, 2, 4000, &raised)    // extra 2000 asked, left pending
	change(2*time.Hour, 1, 1000, &lowered) // back down below what was first paid
	s.status(3*time.Hour, StatusRequest{To: booking.Cancelled, By: RoleManager}, &cancelErr)
	s.run(t)
	if raised != nil || lowered != nil || cancelErr != nil {
		t.Fatalf("raise %v, lower %v, cancel %v", raised, lowered, cancelErr)
	}
	if len(s.pendingCancels) < 1 || s.pendingCancels[0] != 0 {
		t.Fatalf("pending cancels %v (refunds before each); want the unpaid extra cancelled before any refund", s.pendingCancels)
	}
	if len(s.refunds) < 1 || s.refunds[0].Reason != "change-4" || s.refunds[0].Amount != 3000 || s.refunds[0].Keep != 1000 {
		t.Fatalf("refunds %+v; want the change's refund of 3000 keeping 1000 paid", s.refunds)
	}
}

// TestBooking_SavedMethodPaysTheRaiseBeforeTheChange: with a saved payment method the raised
// deposit's difference is charged before the change: declined, the booking stays as it was;
// paid but the new units are gone, the charge goes back whole; paid and changed, it is the
// change's extra deposit, charged once.
func TestBooking_SavedMethodPaysTheRaiseBeforeTheChange(t *testing.T) {
	for _, c := range []struct {
		name     string
		declined bool
		full     bool
		wantErr  string
	}{
		{"declined", true, false, ErrTypeExtraDeclined},
		{"paid, then no units", false, true, ErrTypeUnavailable},
		{"paid and changed", false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSaga(t)
			s.in.PaymentMethod = "pm_saved"
			s.env.SetStartTime(start.Add(-96 * time.Hour))
			var steps []string
			s.chargeFn = func(in activities.ChargeInput) (*activities.ChargeResult, error) {
				if strings.Contains(in.IdempotencyKey, ":change:") {
					steps = append(steps, "charge")
					if c.declined {
						return nil, temporal.NewNonRetryableApplicationError("payment declined", activities.ErrTypeDeclined, payment.ErrDeclined)
					}
				}
				return &activities.ChargeResult{Provider: "stripe", ProviderRef: "pi_" + in.IdempotencyKey, Status: payment.Succeeded}, nil
			}
			s.env.OnActivity(acts.ChangeBooking, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChangeInput) (*booking.Booking, error) {
				steps = append(steps, "change")
				if c.full {
					return nil, temporal.NewNonRetryableApplicationError("full", activities.ErrTypeUnavailable, booking.ErrUnavailable)
				}
				b := s.in.Booking
				b.Status, b.Quantity, b.Deposit, b.Version = booking.Confirmed, in.Change.Slots.Quantity, in.Change.Deposit, 3
				return &b, nil
			}).Maybe()
			ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 4, PriceTotal: 20000, Deposit: 4000}}
			ch.Change.Slots.Quantity = 2
			var err, cancelErr error = errors.New("not sent"), errors.New("not sent")
			var got *booking.Changed
			s.change(time.Hour, "raise", ch, &err, &got)
			s.status(2*time.Hour, StatusRequest{To: booking.Cancelled, By: RoleManager}, &cancelErr)
			s.run(t)
			if errType(err) != c.wantErr || (c.wantErr == "" && err != nil) {
				t.Fatalf("change: %v; want %q", err, c.wantErr)
			}
			switch c.name {
			case "declined":
				if !slices.Equal(steps, []string{"charge"}) {
					t.Fatalf("steps %v; want the charge alone, no change", steps)
				}
			case "paid, then no units":
				if !slices.Equal(steps, []string{"charge", "change"}) || s.cancels != 1 || len(s.refunds) < 1 ||
					!s.refunds[0].OnlyCharge || !strings.HasSuffix(s.refunds[0].ChargeKey, ":change:1:raise") || s.refunds[0].Amount != 2000 {
					t.Fatalf("steps %v, cancels %d, refunds %+v; want the prepaid charge returned whole", steps, s.cancels, s.refunds)
				}
			default:
				x := got.ExtraDeposit
				if !slices.Equal(steps, []string{"charge", "change"}) || x == nil || x.Status != "succeeded" || x.Amount != 2000 ||
					len(s.charges) != 2 || s.charges[1].IdempotencyKey != payment.ChangeKey(s.in.Booking.ID, 1)+":raise" {
					t.Fatalf("steps %v, extra %+v, charges %+v; want one charge before the change", steps, x, s.charges)
				}
			}
		})
	}
}

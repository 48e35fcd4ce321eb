package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

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
	if len(s.settles) != 1 || s.settles[0].KeepAll {
		t.Fatalf("settles %+v; want the money settled, nothing kept: a late capture is stray", s.settles)
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

// TestBooking_ClosedUnpaidSettlesAtOnce: a hold that expired settles its money at once (the
// vendor keeps nothing) and the workflow ends; a payment that still arrives is the stray
// refund's (the payment webhook finds the charge stray), not this workflow's.
func TestBooking_ClosedUnpaidSettlesAtOnce(t *testing.T) {
	s := newSaga(t)
	s.pay(20*time.Minute, payment.Succeeded) // the hold expired at 10 minutes
	res := s.run(t)
	if res.Status != booking.Expired || len(s.refunds) != 0 {
		t.Fatalf("result %+v, refunds %+v", res, s.refunds)
	}
	if len(s.settles) != 1 || s.settles[0].KeepAll {
		t.Fatalf("settles %+v; want one, keeping nothing", s.settles)
	}
	if d := s.env.Now().Sub(start); d > 15*time.Minute {
		t.Fatalf("the workflow ended %s after the start; want at the expiry (no late-payment window)", d)
	}
}

// TestBooking_SettlementStartsStrayRefunds: a charge the settlement finds stray (captured
// after the booking had closed) is refunded by a StrayRefund workflow of its own.
func TestBooking_SettlementStartsStrayRefunds(t *testing.T) {
	s := newSaga(t)
	key := payment.DepositKey(s.in.Booking.ID)
	s.stray = []string{key}
	res := s.run(t)
	if res.Status != booking.Expired || !slices.Equal(s.strayStarted, []string{key}) {
		t.Fatalf("result %+v, stray refunds %v; want the deposit's", res, s.strayStarted)
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
	s.changesApply(2)
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

// TestBooking_HoldCapAndRefusedPayment: a guest over the cap of holds, and a deposit the
// provider refuses as invalid, fail the hold with their own error types; nothing is held by
// the first, the second releases what it held.
func TestBooking_HoldCapAndRefusedPayment(t *testing.T) {
	s := newSaga(t)
	s.blockFn = func(activities.BlockInput) (*booking.Booking, error) {
		return nil, temporal.NewNonRetryableApplicationError("too many", activities.ErrTypeTooManyHolds, booking.ErrTooManyHolds)
	}
	res := s.run(t)
	if errType(s.holdErr) != ErrTypeTooManyHolds || res.Status != booking.Failed || len(s.transitions) != 0 || len(s.charges) != 0 || len(s.settles) != 0 {
		t.Fatalf("hold err %v, result %+v, transitions %v, charges %v, settles %v", s.holdErr, res, s.transitions, s.charges, s.settles)
	}
	s = newSaga(t)
	s.chargeFn = func(activities.ChargeInput) (*activities.ChargeResult, error) {
		return nil, temporal.NewNonRetryableApplicationError("refused", activities.ErrTypeRejected, payment.ErrRejected)
	}
	res = s.run(t)
	if errType(s.holdErr) != ErrTypeRejected || res.Status != booking.Failed || !equal(s.transitions, []booking.Status{booking.Failed}) || len(s.settles) != 1 {
		t.Fatalf("hold err %v, result %+v, transitions %v, settles %v", s.holdErr, res, s.transitions, s.settles)
	}
}

// TestBooking_CancelAnswersWhileTheProviderIsDown: the refund of a cancellation is written
// down and the booking CANCELLED at once; the refund itself waits out a provider outage in the
// background, and the workflow ends only once it went through.
func TestBooking_CancelAnswersWhileTheProviderIsDown(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-72 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	outage := 0
	s.refundFn = func(in activities.RefundInput) (*payment.Record, error) {
		if outage < 8 { // minutes of retries (the test environment stops at 10 attempts)
			outage++
			return nil, errors.New("stripe: connection refused")
		}
		s.refunds = append(s.refunds, in)
		return &payment.Record{Amount: in.Amount, Status: payment.Succeeded}, nil
	}
	var answered time.Time
	var cancelErr error = errors.New("not sent")
	var got *booking.Booking
	s.at(time.Hour, func() {
		s.env.UpdateWorkflow(UpdateStatus, "cancel", &testsuite.TestUpdateCallback{
			OnReject: func(e error) { cancelErr = e },
			OnAccept: func() {},
			OnComplete: func(r any, e error) {
				cancelErr, answered = e, s.env.Now()
				got, _ = r.(*booking.Booking)
			},
		}, StatusRequest{To: booking.Cancelled, By: RoleUser})
	})
	res := s.run(t)
	if cancelErr != nil || got == nil || got.Status != booking.Cancelled {
		t.Fatalf("cancel: %+v, %v", got, cancelErr)
	}
	if d := answered.Sub(start.Add(-71 * time.Hour)); d > time.Second {
		t.Fatalf("the cancel answered %s after it was asked; want at once", d)
	}
	if len(s.plans) != 1 || s.plans[0].Reason != "cancel" || len(s.refunds) != 1 || outage != 8 || res.Refunded != 2000 {
		t.Fatalf("plans %+v, refunds %+v after %d failed attempts, result %+v", s.plans, s.refunds, outage, res)
	}
	if len(s.settles) != 1 || s.settles[0].KeepAll {
		t.Fatalf("settles %+v; want the money settled once the refund went through, keeping nothing", s.settles)
	}
}

// TestBooking_BoundedChangesThenNoShow: a guest who floods a booking with changes is refused
// past the bound (too_many_changes), the workflow continues as new before its history grows
// large, and the manager's no-show still closes the booking, keeping the deposit.
func TestBooking_BoundedChangesThenNoShow(t *testing.T) {
	s := newSaga(t)
	s.in.MaxChanges = 4
	s.in.ContinueAfterEvents = 40
	s.env.SetStartTime(start.Add(-96 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	version := s.changesApply(2)
	errs := make([]error, 12)
	for i := range errs {
		errs[i] = errors.New("not sent")
		ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 1 + i%2, PriceTotal: 10000, Deposit: 2000}}
		s.change(time.Duration(i+1)*time.Hour, fmt.Sprintf("change-%d", i), ch, &errs[i], nil)
	}
	var noShow error = errors.New("not sent")
	s.status(97*time.Hour, StatusRequest{To: booking.NoShow, By: RoleManager}, &noShow)
	// The history grows (the test environment does not count it).
	s.at(6*time.Hour+30*time.Minute, func() { s.env.SetCurrentHistoryLength(41) })
	s.env.ExecuteWorkflow(Booking, s.in)
	// The run continued as new; the test environment ends at the continue-as-new.
	var can *workflow.ContinueAsNewError
	if !errors.As(s.env.GetWorkflowError(), &can) {
		t.Fatalf("workflow ended %v; want a continue-as-new once its history grew past 40 events", s.env.GetWorkflowError())
	}
	var next BookingInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Resume == nil || next.Resume.Booking.Status != booking.Confirmed || next.Resume.Changes == 0 || next.Resume.Charge == nil {
		t.Fatalf("carried %+v; want the confirmed booking, its changes and its charge", next.Resume)
	}
	// The new run, with the carried state: the rest of the changes and the no-show.
	r := newSaga(t)
	r.in = &next
	r.in.ContinueAfterEvents = 0
	r.env.SetStartTime(s.env.Now())
	r.changesApply(*version)
	left := 97*time.Hour - s.env.Now().Sub(start.Add(-96*time.Hour))
	more := make([]error, 3)
	for i := range more {
		more[i] = errors.New("not sent")
		ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 2, PriceTotal: 10000, Deposit: 2000}}
		r.change(time.Duration(i+1)*time.Minute, fmt.Sprintf("more-%d", i), ch, &more[i], nil)
	}
	r.status(left, StatusRequest{To: booking.NoShow, By: RoleManager}, &noShow)
	res := r.run(t)
	accepted := 0
	for _, err := range append(errs, more...) {
		switch {
		case err == nil:
			accepted++
		case errType(err) == ErrTypeTooManyChanges:
		case err.Error() == "not sent": // sent after the first run continued as new
		default:
			t.Fatalf("change: %v", err)
		}
	}
	if accepted != 4 {
		t.Fatalf("%d changes accepted in both runs; want the bound, 4", accepted)
	}
	if noShow != nil || res.Status != booking.NoShow || len(r.refunds) != 0 || len(r.settles) != 1 || !r.settles[0].KeepAll {
		t.Fatalf("no-show %v, result %+v, refunds %+v, settles %+v", noShow, res, r.refunds, r.settles)
	}
}

// TestBooking_NoTimersWhileAHandlerRunsPastTheEnd: when the booking's auto-avail time passes
// while a handler runs (a cancellation whose transition waits out a database outage), the
// workflow waits for the handler, with no timer (the loop before await-loop spun on 1 ms
// timers, a history event each).
func TestBooking_NoTimersWhileAHandlerRunsPastTheEnd(t *testing.T) {
	s := newSaga(t)
	s.in.AutoAvailAfter = time.Hour
	s.env.SetStartTime(start.Add(-2 * time.Hour))
	s.pay(time.Minute, payment.Succeeded)
	deadline := s.in.Booking.EndsAt.Add(time.Hour)
	base := s.transitionFn
	s.transitionFn = func(in activities.TransitionInput) (*booking.Booking, error) {
		if in.To == booking.Cancelled && s.env.Now().Before(deadline.Add(2*time.Hour)) {
			return nil, errors.New("database unavailable")
		}
		return base(in)
	}
	timers := 0
	s.env.SetOnTimerScheduledListener(func(string, time.Duration) {
		if !s.env.Now().Before(deadline) {
			timers++
		}
	})
	var err error = errors.New("not sent")
	s.status(deadline.Sub(start.Add(-2*time.Hour))-time.Minute, StatusRequest{To: booking.Cancelled, By: RoleManager}, &err)
	res := s.run(t)
	if err != nil || res.Status != booking.Cancelled {
		t.Fatalf("cancel %v, result %+v; want the cancellation, not an auto-avail", err, res)
	}
	if timers > 0 {
		t.Fatalf("%d timers after the auto-avail time while the handler ran; want none", timers)
	}
}

// TestBooking_AskedAsItIsBeingConfirmed: the booking's row says CONFIRMED a moment before the
// workflow has the transition's answer; a change, a no-show by staff and a cancellation asked in
// that moment are served on the confirmed booking, not refused (nor, for the cancellation,
// answered with a booking that stays confirmed).
func TestBooking_AskedAsItIsBeingConfirmed(t *testing.T) {
	for _, c := range []struct {
		name string
		ask  func(s *saga, errp *error)
		want booking.Status
	}{
		{"change", func(s *saga, errp *error) {
			ch := ChangeRequest{Change: booking.Change{Slots: s.in.Slots, PartySize: 1, PriceTotal: 10000, Deposit: 2000}}
			s.env.UpdateWorkflow(UpdateChange, "change", &testsuite.TestUpdateCallback{OnReject: func(e error) { *errp = e },
				OnAccept: func() {}, OnComplete: func(_ any, e error) { *errp = e }}, ch)
		}, booking.Availed},
		{"no-show", func(s *saga, errp *error) {
			s.env.UpdateWorkflow(UpdateStatus, "no-show", &testsuite.TestUpdateCallback{OnReject: func(e error) { *errp = e },
				OnAccept: func() {}, OnComplete: func(_ any, e error) { *errp = e }}, StatusRequest{To: booking.NoShow, By: RoleStaff})
		}, booking.NoShow},
		{"cancel", func(s *saga, errp *error) {
			s.env.UpdateWorkflow(UpdateStatus, "cancel", &testsuite.TestUpdateCallback{OnReject: func(e error) { *errp = e },
				OnAccept: func() {}, OnComplete: func(_ any, e error) { *errp = e }}, StatusRequest{To: booking.Cancelled, By: RoleUser})
		}, booking.Cancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSaga(t)
			s.env.SetStartTime(start.Add(-72 * time.Hour))
			s.env.OnActivity(acts.ChangeBooking, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChangeInput) (*booking.Booking, error) {
				b := s.in.Booking
				b.Status, b.PartySize, b.Version = booking.Confirmed, in.Change.PartySize, 3
				return &b, nil
			}).Maybe()
			s.pay(time.Minute, payment.Succeeded)
			base := s.transitionFn
			var err error = errors.New("not sent")
			asked := false
			s.transitionFn = func(in activities.TransitionInput) (*booking.Booking, error) {
				if in.To == booking.Confirmed && !asked {
					asked = true
					// The row is CONFIRMED now; the workflow does not know yet.
					c.ask(s, &err)
				}
				return base(in)
			}
			res := s.run(t)
			if err != nil {
				t.Fatalf("%s asked as the booking was being confirmed: %v", c.name, err)
			}
			if res.Status != c.want {
				t.Fatalf("ended %s; want %s", res.Status, c.want)
			}
		})
	}
}

// TestBooking_HoldAndConfirmRunAsLocalActivities: since local-activities the hold, the
// deposit, the payment's record and the transitions run as local activities (inside the
// workflow task) and the start's search attributes are not upserted again; a booking started
// before (DefaultVersion) runs them as activity tasks, as it did. Both keep the deposit's
// idempotency key and end confirmed then availed.
func TestBooking_HoldAndConfirmRunAsLocalActivities(t *testing.T) {
	for _, tc := range []struct {
		name          string
		version       workflow.Version
		local, remote []string // activities run locally, and as activity tasks, in order, up to the confirmation
	}{
		{"local-activities", 1, []string{"BlockSlots", "ChargeDeposit", "RecordPayment", "Transition"}, nil},
		{"before", workflow.DefaultVersion, nil, []string{"BlockSlots", "ChargeDeposit", "RecordPayment", "Transition"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSaga(t)
			s.env.OnGetVersion("local-activities", workflow.DefaultVersion, 1).Return(tc.version)
			var local, remote []string
			s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
				local = append(local, info.ActivityType.Name)
			})
			s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				remote = append(remote, info.ActivityType.Name)
			})
			upserts := 0
			s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(mock.Arguments) { upserts++ }).Return(nil).Maybe()
			s.env.SetStartTime(start.Add(-2 * time.Hour))
			s.pay(time.Minute, payment.Succeeded)
			var confirmedAt []string
			s.at(2*time.Minute, func() { confirmedAt = append(append(confirmedAt, local...), remote...) })
			var availErr error = errors.New("not sent")
			s.status(3*time.Hour, StatusRequest{To: booking.Availed, By: RoleManager}, &availErr)
			res := s.run(t)
			if s.holdErr != nil || s.hold == nil || s.hold.Booking.Status != booking.Blocked {
				t.Fatalf("hold answered %+v, %v", s.hold, s.holdErr)
			}
			if availErr != nil || res.Status != booking.Availed || !equal(s.transitions, []booking.Status{booking.Confirmed, booking.Availed}) {
				t.Fatalf("avail %v, result %+v, transitions %v", availErr, res, s.transitions)
			}
			want := append(append([]string{}, tc.local...), tc.remote...)
			if fmt.Sprint(confirmedAt) != fmt.Sprint(want) {
				t.Fatalf("ran %v (local %v, tasks %v) up to the confirmation; want %v", confirmedAt, local, remote, want)
			}
			if len(local) < len(tc.local) || fmt.Sprint(local[:len(tc.local)]) != fmt.Sprint(tc.local) {
				t.Fatalf("local activities %v; want %v first", local, tc.local)
			}
			if tc.version == workflow.DefaultVersion && len(local) != 0 {
				t.Fatalf("local activities %v in a booking of the build before", local)
			}
			if len(s.charges) != 1 || s.charges[0].IdempotencyKey != payment.DepositKey(s.in.Booking.ID) {
				t.Fatalf("charges %+v; want one, keyed by the booking", s.charges)
			}
			// PENDING (before only), BLOCKED, CONFIRMED, AVAILED.
			if want := map[workflow.Version]int{1: 3, workflow.DefaultVersion: 4}[tc.version]; upserts != want {
				t.Fatalf("%d search attribute upserts; want %d", upserts, want)
			}
		})
	}
}

// TestBooking_FailingLocalActivityBecomesAnActivityTask: a deposit request that fails as a
// local activity (the provider down) is asked again at once as an activity task, with the same
// idempotency key, where its retries are visible to reservo ops stuck; the hold then answers
// as usual.
func TestBooking_FailingLocalActivityBecomesAnActivityTask(t *testing.T) {
	s := newSaga(t)
	var local, remote int
	s.chargeCtxFn = func(ctx context.Context, in activities.ChargeInput) (*activities.ChargeResult, error) {
		if activity.GetInfo(ctx).IsLocalActivity {
			local++
			return nil, errors.New("provider down")
		}
		remote++
		return s.chargeFn(in)
	}
	s.pay(time.Minute, payment.Succeeded)
	var cancelErr error = errors.New("not sent")
	s.status(2*time.Minute, StatusRequest{To: booking.Cancelled, By: RoleUser}, &cancelErr)
	s.run(t)
	if s.holdErr != nil || s.hold == nil || s.hold.Booking.Status != booking.Blocked || s.hold.ProviderRef != "pi_1" {
		t.Fatalf("hold answered %+v, %v", s.hold, s.holdErr)
	}
	if local != 1 || remote != 1 {
		t.Fatalf("deposit asked %d times locally, %d as an activity task; want once each", local, remote)
	}
	for _, c := range s.charges {
		if c.IdempotencyKey != payment.DepositKey(s.in.Booking.ID) {
			t.Fatalf("charge %+v; want the booking's deposit key every time", c)
		}
	}
}

// TestBooking_PaymentSignalInTheHoldsTaskWaitsForTheDeposit: a payment signal received in the
// workflow task that asks for the deposit (a reset that runs the hold again gets the signals
// of the run before there) is taken once the deposit is known, not dropped as another
// payment's.
func TestBooking_PaymentSignalInTheHoldsTaskWaitsForTheDeposit(t *testing.T) {
	s := newSaga(t)
	s.env.SetStartTime(start.Add(-2 * time.Hour))
	s.pay(0, payment.Succeeded)
	var cancelErr error = errors.New("not sent")
	s.status(time.Minute, StatusRequest{To: booking.Cancelled, By: RoleStaff}, &cancelErr)
	s.run(t)
	if s.holdErr != nil || s.hold == nil {
		t.Fatalf("hold answered %+v, %v", s.hold, s.holdErr)
	}
	if len(s.transitions) == 0 || s.transitions[0] != booking.Confirmed {
		t.Fatalf("transitions %v; want the booking confirmed by the early signal", s.transitions)
	}
}

package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
)

// audience is who reads a message: the guest, or the vendor's staff.
type audience int

const (
	audienceGuest audience = iota
	audienceVendor
)

// message is a rendered subject and plain-text body.
type message struct {
	Subject string
	Body    string
}

func bookingPath(id uuid.UUID) string { return "/booking/" + id.String() }

// message renders what happened to b for one audience. Times are shown in the vendor's time
// zone, since that is where the guest will be.
//
// refund, when the event says it, is what of the deposit goes back as the booking closes.
func (n *Notifier) message(kind Kind, v Vendor, b *booking.Booking, to audience, g booking.Guest, refund *booking.Refund) message {
	var headline string
	guest := to == audienceGuest
	switch kind {
	case KindNewBooking:
		headline = pick(guest, "Your booking at %s is confirmed", "New booking at %s")
	case KindBookingUpdated:
		switch b.Status {
		case booking.Failed:
			headline = pick(guest, "Your booking at %s could not be completed: the deposit was declined",
				"A booking request at %s failed: the deposit was declined")
		case booking.NoShow:
			headline = pick(guest, "Your booking at %s was marked as a no-show; the deposit is kept",
				"A booking at %s was marked as a no-show")
		default:
			headline = pick(guest, "Your booking at %s was changed", "A booking at %s was changed")
		}
	case KindBookingCancelled:
		headline = pick(guest, "Your booking at %s is cancelled", "A booking at %s was cancelled")
	case KindBookingExpired:
		headline = pick(guest, "Your hold at %s expired before the deposit was paid",
			"A hold at %s expired before the deposit was paid")
	case KindBookingAvailed:
		headline = pick(guest, "Thank you for your visit to %s; your deposit will be refunded",
			"A booking at %s was availed")
	case KindReminder:
		headline = pick(guest, "Reminder: your booking at %s is coming up", "Reminder of a booking at %s")
	case KindRefund:
		headline = pick(guest, "A payment for your booking at %s was refunded", "A payment of a booking at %s was refunded")
	default:
		headline = pick(guest, "Your booking at %s was updated", "A booking at %s was updated")
	}
	// A vendor's name is free text: it must not break the Subject header.
	subject := strings.Join(strings.Fields(fmt.Sprintf(headline, v.Name)), " ")

	loc, err := time.LoadLocation(v.Timezone)
	if err != nil || v.Timezone == "" {
		loc = time.UTC
	}
	var sb strings.Builder
	sb.WriteString(subject + ".\n\n")
	fmt.Fprintf(&sb, "Vendor:    %s\n", v.Name)
	if !guest && booking.GuestShown(b.Status) { // the vendor's staff see whom to expect
		contact := g.Email
		if g.Phone != "" {
			contact += ", " + g.Phone
		}
		fmt.Fprintf(&sb, "Guest:     %s (%s)\n", oneLine(g.Name), contact)
	}
	fmt.Fprintf(&sb, "From:      %s\n", localTime(b.StartsAt, loc))
	fmt.Fprintf(&sb, "Until:     %s\n", localTime(b.EndsAt, loc))
	fmt.Fprintf(&sb, "Party:     %d\n", b.PartySize)
	fmt.Fprintf(&sb, "Quantity:  %d\n", b.Quantity)
	fmt.Fprintf(&sb, "Status:    %s\n", b.Status)
	fmt.Fprintf(&sb, "Total:     %s\n", Money(b.PriceTotal, b.Currency))
	fmt.Fprintf(&sb, "Deposit:   %s\n", Money(b.Deposit, b.Currency))
	switch {
	case refund == nil:
	case refund.Amount > 0:
		fmt.Fprintf(&sb, "Refund:    %s, on its way to the payment method it came from\n", Money(refund.Amount, refund.Currency))
	case b.Deposit > 0:
		fmt.Fprintf(&sb, "Refund:    none: the deposit is kept, as the vendor's policy says\n")
	}
	fmt.Fprintf(&sb, "Booking:   %s\n", b.ID)
	fmt.Fprintf(&sb, "\nDetails: %s%s\n", n.publicURL, bookingPath(b.ID))
	return message{Subject: subject, Body: sb.String()}
}

func pick(guest bool, forGuest, forVendor string) string {
	if guest {
		return forGuest
	}
	return forVendor
}

// localTime formats t in loc with the zone's name, e.g. "Mon 2 Mar 2026, 14:00 (Europe/Lisbon)".
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 2006, 15:04") + " (" + loc.String() + ")"
}

// minorDigits lists the ISO 4217 currencies whose minor unit is not the hundredth.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Money formats an amount in minor units of currency, e.g. Money(12050, "EUR") = "120.50 EUR".
func Money(minor int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d %s", sign, minor, currency)
	}
	div := int64(1)
	for range digits {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, minor/div, digits, minor%div, currency)
}

// oneLine keeps free text (a guest's name) on one line of a plain-text e-mail.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

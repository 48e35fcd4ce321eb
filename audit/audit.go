// Package audit is the record of what support staff did by hand with `reservo ops`: who
// (the operator), what (the action), to which booking or account, why (a reason is required),
// when, and how it ended. A record is written before the action and finished after it, so
// that an action cut short by a crash still shows.
package audit

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Outcomes of an action.
const (
	Started = "started" // written before the action; still so if it never finished
	Done    = "done"
	Failed  = "failed"
)

// ErrNoReason is returned for an action without a reason.
var ErrNoReason = errors.New("audit: a reason is required (--reason)")

// Entry is one action.
type Entry struct {
	ID        int64
	At        time.Time
	Operator  string
	Action    string        // retry, release, terminate, signal, grant-staff, ...
	BookingID uuid.NullUUID // the booking acted on, if any
	Target    string        // what else it names: an e-mail, a consumer and event, a token's subject
	Reason    string
	Outcome   string
	Detail    string // what it did, or why it failed
	// History is the workflow run an action replaced (ops release), as JSON, kept since
	// Temporal no longer holds it.
	History    []byte
	FinishedAt *time.Time
}

// Filter selects entries: of one booking, of one operator, newest first.
type Filter struct {
	BookingID uuid.NullUUID
	Operator  string
	Limit     int // default 50
}

// Store keeps the entries.
type Store interface {
	// Begin writes e (outcome Started) and returns its id.
	Begin(ctx context.Context, e Entry) (int64, error)
	// Finish sets the outcome, detail and (when not nil) the history of entry id.
	Finish(ctx context.Context, id int64, outcome, detail string, history []byte) error
	// List returns the entries that f selects, newest first.
	List(ctx context.Context, f Filter) ([]Entry, error)
}

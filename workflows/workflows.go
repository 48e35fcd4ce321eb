// Package workflows holds Reservo's Temporal workflows: one booking saga per booking, and the
// refund-after-billing child. Code here is deterministic: no I/O, no wall clock, no goroutines,
// no map iteration; it talks to the world only through the activities' names and types.
package workflows

import "github.com/google/uuid"

// TaskQueue is the task queue of the booking workflows and their activities.
const TaskQueue = "booking"

// BookingWorkflowID is the workflow id of a booking: one workflow per booking, so that the id
// is also the lock that stops a booking from being started twice.
func BookingWorkflowID(bookingID string) string { return "booking-" + bookingID }

func parseUUID(s string) (uuid.UUID, error) { return uuid.Parse(s) }

// All are the workflows of the package, for workers and replayers to register.
var All = []any{Booking, RefundAfterBilling, StrayRefund}

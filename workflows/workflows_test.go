package workflows

import "testing"

func TestBookingWorkflowID(t *testing.T) {
	if got := BookingWorkflowID("0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a"); got != "booking-0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a" {
		t.Fatalf("BookingWorkflowID = %q", got)
	}
}

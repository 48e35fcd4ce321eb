package ops

import (
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
)

// history of a saga's start: task 4 scheduled BlockSlots, task 10 ChargeDeposit, task 14 is
// the last completed.
func sagaStart() *historypb.History {
	ev := func(id int64, t enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventType: t}
	}
	scheduled := func(id, task int64, activity string) *historypb.HistoryEvent {
		e := ev(id, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
		e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			ActivityType: &commonpb.ActivityType{Name: activity}, WorkflowTaskCompletedEventId: task}}
		return e
	}
	return &historypb.History{Events: []*historypb.HistoryEvent{
		ev(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), ev(2, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(3, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED), ev(4, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), scheduled(5, 4, "BlockSlots"),
		ev(6, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED), ev(7, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
		ev(8, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), ev(9, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		ev(10, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), scheduled(11, 10, "ChargeDeposit"),
		ev(12, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED), ev(13, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		ev(14, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), ev(15, enumspb.EVENT_TYPE_TIMER_STARTED),
	}}
}

func TestResetPoint(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  RetryOptions
		want int64
	}{
		{"the last completed workflow task", RetryOptions{}, 14},
		{"at or before event 12", RetryOptions{EventID: 12}, 10},
		{"at event 10 itself", RetryOptions{EventID: 10}, 10},
		{"past the end", RetryOptions{EventID: 99}, 14},
		{"before BlockSlots: the start", RetryOptions{BeforeActivity: "BlockSlots"}, 4},
		{"before ChargeDeposit", RetryOptions{BeforeActivity: "ChargeDeposit"}, 10},
		{"before an activity never scheduled", RetryOptions{BeforeActivity: "Refund"}, 0},
		{"before the first task", RetryOptions{EventID: 3}, 0},
	} {
		got, err := resetPoint(sagaStart(), c.opt, New(Config{}).localActivityType)
		if got != c.want || (c.want == 0) != errors.Is(err, ErrNoResetPoint) {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

func TestWorkflowTypes_NameEveryWorkflowAsTemporalDoes(t *testing.T) {
	got := strings.Join(workflowTypes(), ",")
	if !strings.HasPrefix(got, "Booking,RefundAfterBilling") || strings.Contains(got, "/") || strings.Contains(got, ".") {
		t.Fatalf("workflow types %q", got)
	}
}

// TestResetPoint_LocalActivities: since local-activities the saga's first steps are markers of
// its first workflow task; --before BlockSlots resets to that task.
func TestResetPoint_LocalActivities(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	marker := func(id, task int64, activity string) *historypb.HistoryEvent {
		p, err := dc.ToPayload(localActivityMarker{ActivityType: activity})
		if err != nil {
			t.Fatal(err)
		}
		return &historypb.HistoryEvent{EventId: id, EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
			Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
				MarkerName: "LocalActivity", WorkflowTaskCompletedEventId: task,
				Details: map[string]*commonpb.Payloads{"data": {Payloads: []*commonpb.Payload{p}}}}}}
	}
	ev := func(id int64, t enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventType: t}
	}
	h := &historypb.History{Events: []*historypb.HistoryEvent{
		ev(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), ev(2, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(3, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED), ev(4, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		ev(5, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED), ev(6, enumspb.EVENT_TYPE_MARKER_RECORDED),
		marker(7, 4, "BlockSlots"), marker(8, 4, "ChargeDeposit"), ev(9, enumspb.EVENT_TYPE_TIMER_STARTED),
		ev(10, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), ev(11, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(12, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED), ev(13, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		marker(14, 13, "RecordPayment"), marker(15, 13, "Transition"),
	}}
	o := New(Config{})
	for _, c := range []struct {
		before string
		want   int64
	}{{"BlockSlots", 4}, {"ChargeDeposit", 4}, {"Transition", 13}, {"Refund", 0}} {
		got, err := resetPoint(h, RetryOptions{BeforeActivity: c.before}, o.localActivityType)
		if got != c.want || (c.want == 0) != errors.Is(err, ErrNoResetPoint) {
			t.Errorf("before %s: %d, %v; want %d", c.before, got, err, c.want)
		}
	}
}

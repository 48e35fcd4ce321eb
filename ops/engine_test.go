package ops_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/workers"
	"github.com/reservo/reservo/workflows"
)

// countUpdates counts the update requests a client sends.
type countUpdates struct {
	interceptor.ClientInterceptorBase
	n atomic.Int32
}

func (c *countUpdates) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &countingOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, n: &c.n}
}

type countingOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	n *atomic.Int32
}

func (o *countingOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	o.n.Add(1)
	return o.Next.UpdateWorkflow(ctx, in)
}

// TestEngine_UpdateSentAgainAfterItsTryRunsOnce: an update that gets no answer within its try
// (here no worker polls for the first 1.5 s; in production its shard moved to another
// history host) is sent again while the request has time, under the same update id, so that
// the server hands back the one update: the guest's cancellation is answered, and applied once.
func TestEngine_UpdateSentAgainAfterItsTryRunsOnce(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
	id := h.Booking.ID
	f.stopWork()

	counter := &countUpdates{}
	opts := temporaltest.Options(t)
	opts.Interceptors = append(opts.Interceptors, counter)
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eng := temporal.NewEngine(c, temporal.Config{TaskQueue: f.queue, HoldTimeout: time.Minute, LatePaymentWindow: 2 * time.Second,
		AutoAvailAfter: 72 * time.Hour, UpdateTry: 300 * time.Millisecond}, postgres.NewBookingStore(f.db))

	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		select {
		case <-time.After(1500 * time.Millisecond):
			done <- workers.RunTemporal(wctx, f.c, f.queue, f.acts, slog.New(slog.DiscardHandler))
		case <-wctx.Done():
			done <- nil
		}
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := eng.SetStatus(ctx, id, booking.Cancelled, f.user.Role)
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if b.Status != booking.Cancelled {
		t.Fatalf("cancel answered %s", b.Status)
	}
	if n := counter.n.Load(); n < 3 {
		t.Errorf("the update was sent %d times in 1.5 s of tries of 0.3 s; want it sent again", n)
	}

	accepted := 0
	it := f.c.GetWorkflowHistory(ctx, workflows.BookingWorkflowID(id.String()), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil && a.GetAcceptedRequest().GetInput().GetName() == workflows.UpdateStatus {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("%d status updates accepted; want the one, however often it was sent", accepted)
	}
}

// TestEngine_ALostWorkflowTaskIsTriedAgainWithinTheGuestsDeadline: the first workflow task of a
// hold is taken by a poller that never answers (a worker killed as it took it, or its answer
// lost with a matching host that left the cluster); the server gives it to a live worker once
// it times out, and the guest, who has 10 s, gets the hold. At the server's default workflow
// task timeout (10 s) the guest got a 503.
func TestEngine_ALostWorkflowTaskIsTriedAgainWithinTheGuestsDeadline(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	f.stopWork()

	pctx, cancelPoll := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelPoll()
	lost := make(chan error, 1)
	go func() {
		task, err := f.c.WorkflowService().PollWorkflowTaskQueue(pctx, &workflowservice.PollWorkflowTaskQueueRequest{
			Namespace: "default", Identity: "a worker that dies with its task",
			TaskQueue: &taskqueuepb.TaskQueue{Name: f.queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		if err == nil && len(task.GetTaskToken()) == 0 {
			err = errors.New("the poll returned no task")
		}
		lost <- err
	}()

	type answer struct {
		h   *booking.Hold
		err error
	}
	booked := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the guest's deadline
		defer cancel()
		h, err := f.svc.Book(ctx, f.user.ID, f.vendor.ID, f.dinner(1, payment.SandboxSucceed), "")
		booked <- answer{h, err}
	}()
	if err := <-lost; err != nil {
		t.Fatalf("the lost task: %v", err)
	}

	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- workers.RunTemporal(wctx, f.c, f.queue, f.acts, slog.New(slog.DiscardHandler)) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	a := <-booked
	if a.err != nil {
		t.Fatalf("the hold whose first workflow task was lost: %v; want it within the guest's 10 s", a.err)
	}
	if st := a.h.Booking.Status; st != booking.Blocked && st != booking.Confirmed {
		t.Fatalf("the hold answered %s", st)
	}
}

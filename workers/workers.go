// Package workers wires Reservo's background processes: the Temporal worker that runs the
// booking workflows and activities, and the event consumers. Each runs until its context is
// cancelled and then stops cleanly.
package workers

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/workflows"
)

// RunTemporal runs the booking workflows and their activities on taskQueue (empty: the booking
// task queue) until ctx is cancelled.
func RunTemporal(ctx context.Context, c client.Client, taskQueue string, acts *activities.Activities, log *slog.Logger) error {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	w := worker.New(c, taskQueue, worker.Options{})
	for _, wf := range workflows.All {
		w.RegisterWorkflow(wf)
	}
	w.RegisterActivity(acts)
	stop := make(chan any)
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	log.Info("temporal worker started", "task_queue", taskQueue)
	if err := w.Run(stop); err != nil {
		return fmt.Errorf("temporal worker: %w", err)
	}
	return nil
}

// Consumer is one event consumer (search indexer, notifier, archiver) running until ctx is
// cancelled.
type Consumer interface {
	Name() string
	Run(ctx context.Context) error
}

// RunConsumers runs every consumer until ctx is cancelled or one of them fails.
func RunConsumers(ctx context.Context, consumers []Consumer, log *slog.Logger) error {
	errc := make(chan error, len(consumers))
	for _, c := range consumers {
		go func() {
			log.Info("consumer started", "consumer", c.Name())
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("consumer %s: %w", c.Name(), err)
				return
			}
			errc <- nil
		}()
	}
	var first error
	for range consumers {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if len(consumers) == 0 {
		<-ctx.Done()
	}
	return first
}

package ops

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/workflows"
)

// History returns the whole history of a booking's workflow (its latest run), as Temporal
// stores it (payloads encrypted).
func (o *Ops) History(ctx context.Context, bookingID string) (*historypb.History, error) {
	return o.history(ctx, workflows.BookingWorkflowID(bookingID), "")
}

func (o *Ops) history(ctx context.Context, wid, runID string) (*historypb.History, error) {
	it := o.Client.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", wid, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// WriteHistory writes a booking's history as JSON, the format Replay reads: decoded through
// the codec for people to read, unless encoded (as Temporal stores it).
func (o *Ops) WriteHistory(ctx context.Context, bookingID string, w io.Writer, encoded bool) error {
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return err
	}
	if !encoded && o.Codec != nil {
		if err := temporal.DecodeHistory(ctx, h, o.Codec); err != nil {
			return fmt.Errorf("decode history: %w", err)
		}
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// replayer replays booking histories against this build's workflows, decoding payloads
// through the codec (histories written in clear replay as they are).
func (o *Ops) replayer() (worker.WorkflowReplayer, error) {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: o.dc, FailureConverter: o.fc})
	if err != nil {
		return nil, err
	}
	for _, wf := range workflows.All {
		r.RegisterWorkflow(wf)
	}
	return r, nil
}

// workflowTypes are the names Temporal knows the workflows of workflows.All by (a function's
// own name, as the SDK registers it).
func workflowTypes() []string {
	var names []string
	for _, wf := range workflows.All {
		full := runtime.FuncForPC(reflect.ValueOf(wf).Pointer()).Name()
		names = append(names, full[strings.LastIndex(full, ".")+1:])
	}
	return names
}

// ReplayFile replays a saved history (JSON, as WriteHistory writes it, encoded or not) against
// the current workflow code; it returns an error describing any non-determinism.
func (o *Ops) ReplayFile(path string, logger log.Logger) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	r, err := o.replayer()
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryFromJSONFile(logger, path)
}

// ReplayBooking replays the history of a booking's workflow, fetched from Temporal.
func (o *Ops) ReplayBooking(ctx context.Context, bookingID string, logger log.Logger) error {
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return err
	}
	r, err := o.replayer()
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistory(logger, h)
}

// ReplayReport is what ReplayRunning found.
type ReplayReport struct {
	Replayed int
	Failed   map[string]error // by workflow id
}

// ReplayRunning replays every running booking workflow (up to limit) against this build: the
// gate before a deploy, since a workflow change without workflow.GetVersion fails here first.
// Each result is written to w as it comes.
func (o *Ops) ReplayRunning(ctx context.Context, limit int, logger log.Logger, w io.Writer) (*ReplayReport, error) {
	r, err := o.replayer()
	if err != nil {
		return nil, err
	}
	rep := &ReplayReport{Failed: map[string]error{}}
	var token []byte
	for rep.Replayed+len(rep.Failed) < limit {
		res, err := o.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, Query: "ExecutionStatus = 'Running' AND WorkflowType IN ('" + strings.Join(workflowTypes(), "', '") + "')",
			PageSize: int32(min(100, limit-rep.Replayed-len(rep.Failed))), NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list running workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			wid, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			h, err := o.history(ctx, wid, run)
			if err == nil {
				err = r.ReplayWorkflowHistory(logger, h)
			}
			if err != nil {
				rep.Failed[wid] = err
				fmt.Fprintf(w, "%s\tFAILED\t%s\n", wid, firstLine(err.Error()))
				continue
			}
			rep.Replayed++
			fmt.Fprintf(w, "%s\tok\n", wid)
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return rep, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// lines decodes JSON log lines.
func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestTemporalLogger_ExpectedActivityOutcomesAtInfoFaultsAtError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		level string
	}{
		{"no free units", temporal.NewNonRetryableApplicationError("not enough free units", "unavailable", nil), "INFO"},
		{"declined", temporal.NewNonRetryableApplicationError("payment declined", "declined", nil), "INFO"},
		{"wrapped", fmt.Errorf("block: %w", temporal.NewNonRetryableApplicationError("x", "invalid_state", nil)), "INFO"},
		{"retryable of an expected type", temporal.NewApplicationError("flaky", "unavailable"), "ERROR"},
		{"another type", temporal.NewNonRetryableApplicationError("bug", "internal", nil), "ERROR"},
		{"plain error", errors.New("connection refused"), "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			l := TemporalLogger(slog.New(slog.NewJSONHandler(&b, nil)), "unavailable", "declined", "invalid_state")
			// The SDK tags its loggers (log.With) before it logs.
			tagged := log.With(l, "Namespace", "default")
			tagged.Error("Activity error.", "WorkflowID", "booking-1", "ActivityType", "BlockSlots", "Attempt", 1, "Error", tc.err)
			got := lines(t, &b)
			if len(got) != 1 || got[0]["level"] != tc.level || got[0]["WorkflowID"] != "booking-1" || got[0]["Namespace"] != "default" {
				t.Fatalf("logged %v; want one %s line with the SDK's fields", got, tc.level)
			}
		})
	}
	// Other errors of the SDK stay errors whatever they carry.
	var b bytes.Buffer
	TemporalLogger(slog.New(slog.NewJSONHandler(&b, nil)), "unavailable").Error("Workflow panic.",
		"Error", temporal.NewNonRetryableApplicationError("x", "unavailable", nil))
	if got := lines(t, &b); got[0]["level"] != "ERROR" {
		t.Fatalf("logged %v; want ERROR", got)
	}
}

func TestTraceParent_RoundTripsASpanContext(t *testing.T) {
	if got := TraceParent(context.Background()); got != "" {
		t.Fatalf("TraceParent of no span = %q; want empty", got)
	}
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := WithTraceParent(context.Background(), tp)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || !sc.IsSampled() {
		t.Fatalf("span context %+v", sc)
	}
	if got := TraceParent(ctx); got != tp {
		t.Fatalf("TraceParent = %q; want %q", got, tp)
	}
	if WithTraceParent(context.Background(), "garbage") == nil || TraceParent(WithTraceParent(context.Background(), "garbage")) != "" {
		t.Fatal("a malformed traceparent gave a span context")
	}
}

func TestLogHandler_NamesTheTraceAndTheRequest(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(LogHandler(slog.NewJSONHandler(&b, nil)))
	ctx := WithTraceParent(context.Background(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx = WithRequest(ctx, Request{ID: "req-1", UserID: "user-1"})
	l.InfoContext(ctx, "hello")
	l.InfoContext(ctx, "own id", "request_id", "mine")
	l.Info("no context")
	got := lines(t, &b)
	if got[0]["trace_id"] != "0af7651916cd43dd8448eb211c80319c" || got[0]["span_id"] != "b7ad6b7169203331" ||
		got[0]["request_id"] != "req-1" || got[0]["user_id"] != "user-1" {
		t.Errorf("line with context: %v", got[0])
	}
	if got[1]["request_id"] != "mine" || strings.Count(b.String(), `"request_id"`) != 2 {
		t.Errorf("a line naming its own request id got another: %s", b.String())
	}
	if _, ok := got[2]["trace_id"]; ok {
		t.Errorf("line without context: %v", got[2])
	}
}

// requestWorkflow logs, and runs an activity that logs.
func requestWorkflow(ctx workflow.Context) error {
	workflow.GetLogger(ctx).Info("in the workflow")
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(ctx, requestActivity).Get(ctx, nil)
}

func requestActivity(ctx context.Context) error {
	activity.GetLogger(ctx).Info("in the activity")
	if r, ok := RequestFrom(ctx); !ok || r.ID != "req-42" {
		return fmt.Errorf("activity context has request %+v", r)
	}
	return nil
}

func TestRequestPropagator_RequestIDAndUserOnEveryWorkflowAndActivityLogLine(t *testing.T) {
	var b bytes.Buffer
	var s testsuite.WorkflowTestSuite
	s.SetLogger(TemporalLogger(slog.New(slog.NewJSONHandler(&b, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetContextPropagators([]workflow.ContextPropagator{RequestPropagator()})
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&requestLogging{}}})
	// The header a client writes under a request's context.
	h := &commonpb.Header{Fields: map[string]*commonpb.Payload{}}
	if err := RequestPropagator().Inject(WithRequest(context.Background(), Request{ID: "req-42", UserID: "user-7"}), headerWriter{h}); err != nil {
		t.Fatal(err)
	}
	env.SetHeader(h)
	env.RegisterWorkflow(requestWorkflow)
	env.RegisterActivity(requestActivity)
	env.ExecuteWorkflow(requestWorkflow)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, l := range lines(t, &b) {
		if l["msg"] == "in the workflow" || l["msg"] == "in the activity" {
			seen++
			if l["request_id"] != "req-42" || l["user_id"] != "user-7" {
				t.Errorf("line %v lacks the request", l)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("saw %d of the 2 lines: %s", seen, b.String())
	}
}

type headerWriter struct{ h *commonpb.Header }

func (w headerWriter) Set(k string, v *commonpb.Payload) { w.h.Fields[k] = v }

func TestTemporalMetrics_OnThePrometheusRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := TemporalMetrics(reg, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	tagged := h.WithTags(map[string]string{"task_queue": "booking"})
	tagged.Counter("temporal_request").Inc(2)
	tagged.Timer("temporal_workflow_task_execution_latency").Record(30 * time.Millisecond)
	tagged.Gauge("temporal_sticky_cache_size").Update(5)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"temporal_request_total", "temporal_workflow_task_execution_latency_seconds", "temporal_sticky_cache_size"} {
		if !got[name] {
			t.Errorf("no %s among %v", name, got)
		}
	}
}

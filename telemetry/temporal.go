package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// TemporalInterceptors are the interceptors of every Temporal client and of the workers made
// from it: the SDK's OpenTelemetry tracing (a span for starting, updating and signalling a
// workflow, for running it, and for each activity, continuing the caller's trace through the
// workflow's headers), and the request's identity on the workflow's and activities' loggers.
func TemporalInterceptors() []interceptor.ClientInterceptor {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            Tracer(),
		TextMapPropagator: Propagator,
		// Queries are polls (ops, the status long-poll): spans of no interest.
		DisableQueryTracing: true,
	})
	if err != nil {
		// Only a tracer that cannot be made fails, and Tracer() always is one.
		panic(fmt.Sprintf("temporal tracing interceptor: %v", err))
	}
	return []interceptor.ClientInterceptor{tracing, &requestLogging{}}
}

// requestHeader is the Temporal header that carries Request.
const requestHeader = "reservo-request"

// RequestPropagator carries the Request of a context (WithRequest) in the headers of the
// workflows a client starts or updates, and from a workflow to its activities and child
// workflows, where RequestFrom (activities) and the loggers find it.
func RequestPropagator() workflow.ContextPropagator { return requestPropagator{} }

type requestPropagator struct{}

type workflowRequestKey struct{}

func (requestPropagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	if r, ok := RequestFrom(ctx); ok {
		return writeRequest(w, r)
	}
	return nil
}

func (requestPropagator) Extract(ctx context.Context, h workflow.HeaderReader) (context.Context, error) {
	r, ok, err := readRequest(h)
	if err != nil || !ok {
		return ctx, err
	}
	return WithRequest(ctx, r), nil
}

func (requestPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	if r, ok := ctx.Value(workflowRequestKey{}).(Request); ok {
		return writeRequest(w, r)
	}
	return nil
}

func (requestPropagator) ExtractToWorkflow(ctx workflow.Context, h workflow.HeaderReader) (workflow.Context, error) {
	r, ok, err := readRequest(h)
	if err != nil || !ok {
		return ctx, err
	}
	return workflow.WithValue(ctx, workflowRequestKey{}, r), nil
}

func writeRequest(w workflow.HeaderWriter, r Request) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(r)
	if err != nil {
		return fmt.Errorf("request header: %w", err)
	}
	w.Set(requestHeader, p)
	return nil
}

func readRequest(h workflow.HeaderReader) (Request, bool, error) {
	p, ok := h.Get(requestHeader)
	if !ok {
		return Request{}, false, nil
	}
	var r Request
	if err := converter.GetDefaultDataConverter().FromPayload(p, &r); err != nil {
		return Request{}, false, fmt.Errorf("request header: %w", err)
	}
	return r, true, nil
}

// withRequest adds r's fields to a Temporal logger.
func withRequest(l log.Logger, r Request, ok bool) log.Logger {
	if !ok {
		return l
	}
	var kv []any
	if r.ID != "" {
		kv = append(kv, "request_id", r.ID)
	}
	if r.UserID != "" {
		kv = append(kv, "user_id", r.UserID)
	}
	if len(kv) == 0 {
		return l
	}
	return log.With(l, kv...)
}

// requestLogging is a worker interceptor: workflow.GetLogger and activity.GetLogger return
// loggers that name the request (request_id, user_id) that the workflow was started under.
// It changes no command of the workflow.
type requestLogging struct{ interceptor.InterceptorBase }

func (*requestLogging) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityRequestIn{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

func (*requestLogging) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowRequestIn{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type activityRequestIn struct {
	interceptor.ActivityInboundInterceptorBase
}

func (a *activityRequestIn) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return a.Next.Init(&activityRequestOut{interceptor.ActivityOutboundInterceptorBase{Next: outbound}})
}

type activityRequestOut struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (a *activityRequestOut) GetLogger(ctx context.Context) log.Logger {
	r, ok := RequestFrom(ctx)
	return withRequest(a.Next.GetLogger(ctx), r, ok)
}

type workflowRequestIn struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (w *workflowRequestIn) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return w.Next.Init(&workflowRequestOut{interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type workflowRequestOut struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (w *workflowRequestOut) GetLogger(ctx workflow.Context) log.Logger {
	r, ok := ctx.Value(workflowRequestKey{}).(Request)
	return withRequest(w.Next.GetLogger(ctx), r, ok)
}

// TemporalMetrics is the SDK's metrics handler (requests, polls, workflow and activity task
// latencies, schedule-to-start, sticky cache, ...) on reg, the process's Prometheus registry,
// through OpenTelemetry's Prometheus exporter. Make one per registry: it registers its
// collector.
func TemporalMetrics(reg prometheus.Registerer, onError func(error)) (client.MetricsHandler, error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("temporal metrics: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: mp.Meter("temporal-sdk-go"), UseMonotonicCounters: true, OnError: onError,
	}), nil
}

// activityErrorMsg is the message under which the SDK's worker logs a failed activity, at
// ERROR unless its error is "benign".
const activityErrorMsg = "Activity error."

// TemporalLogger is the logger of the Temporal clients and workers: l, except that an activity
// that failed with a non-retryable application error of one of the expected types (a hold
// without free units, a declined card, a change in a state that does not allow it) is an
// outcome of the business, not a fault, and is logged at INFO instead of ERROR, so that it
// pages nobody. Every other error stays at ERROR.
func TemporalLogger(l *slog.Logger, expected ...string) log.Logger {
	return outcomeLogger{l: l, expected: expected}
}

type outcomeLogger struct {
	l        *slog.Logger
	expected []string
}

func (o outcomeLogger) Debug(msg string, kv ...any) { o.l.Debug(msg, kv...) }
func (o outcomeLogger) Info(msg string, kv ...any)  { o.l.Info(msg, kv...) }
func (o outcomeLogger) Warn(msg string, kv ...any)  { o.l.Warn(msg, kv...) }

func (o outcomeLogger) Error(msg string, kv ...any) {
	if msg == activityErrorMsg {
		if typ, ok := o.expectedOutcome(kv); ok {
			o.l.Info("Activity ended with an expected outcome.", append(kv, "outcome", typ)...)
			return
		}
	}
	o.l.Error(msg, kv...)
}

// With implements log.WithLogger, so that the SDK's tagged loggers keep the downgrade.
func (o outcomeLogger) With(kv ...any) log.Logger {
	return outcomeLogger{l: o.l.With(kv...), expected: o.expected}
}

// expectedOutcome finds the error among kv and reports its type when it is an expected one.
func (o outcomeLogger) expectedOutcome(kv []any) (string, bool) {
	for i := 1; i < len(kv); i += 2 {
		err, ok := kv[i].(error)
		if !ok {
			continue
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() && slices.Contains(o.expected, appErr.Type()) {
			return appErr.Type(), true
		}
	}
	return "", false
}

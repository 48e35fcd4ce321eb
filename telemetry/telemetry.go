// Package telemetry is Reservo's OpenTelemetry wiring: the tracer provider that exports spans
// over OTLP to Jaeger (off when no endpoint is set), the W3C trace context that the API, the
// Temporal client and worker, and the event log share, the identity of the request that caused
// some work (request id and user id), and a log handler that stamps every line with them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is how spans leave the process.
type Config struct {
	// Endpoint is the OTLP/gRPC receiver, host:port or a URL (http:// for plaintext, as
	// Jaeger's on 127.0.0.1; https:// for TLS). Empty: no spans are recorded or exported, but
	// an incoming trace context is still passed on.
	Endpoint string
	// ServiceName names the process in Jaeger.
	ServiceName string
	// SampleRatio is the share of new traces recorded (0 to 1). A request that arrives with a
	// sampled traceparent is always recorded: the caller decided.
	SampleRatio float64
	// Attributes are added to the resource (the command that runs, say).
	Attributes []attribute.KeyValue
}

// Propagator is the trace context the process reads and writes: W3C traceparent/tracestate
// and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Setup installs the global tracer provider and propagator. With no endpoint the provider is
// OpenTelemetry's no-op one, so instrumented code costs next to nothing. shutdown flushes the
// spans still buffered; call it before the process exits.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	if cfg.Endpoint == "" {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("telemetry: sample ratio %v: want 0 to 1", cfg.SampleRatio)
	}
	exp, err := otlptracegrpc.New(ctx, endpointOption(cfg.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
	}
	host, _ := os.Hostname()
	attrs := append([]attribute.KeyValue{
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceInstanceID(host + "/" + strconv.Itoa(os.Getpid())),
	}, cfg.Attributes...)
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	enabled.Store(true)
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("telemetry: shutdown: %w", err)
		}
		return nil
	}, nil
}

var enabled atomic.Bool

// Enabled reports whether Setup installed an exporting tracer provider. The hooks of the
// libraries (pgx, Redis) are installed only then, so that a process without tracing pays
// nothing per statement or command.
func Enabled() bool { return enabled.Load() }

// endpointOption reads host:port as a plaintext endpoint (the stack's Jaeger on 127.0.0.1)
// and a URL as what it says.
func endpointOption(endpoint string) otlptracegrpc.Option {
	for _, scheme := range []string{"http://", "https://"} {
		if len(endpoint) > len(scheme) && endpoint[:len(scheme)] == scheme {
			return otlptracegrpc.WithEndpointURL(endpoint)
		}
	}
	return otlptracegrpc.WithEndpointURL("http://" + endpoint)
}

// Tracer is Reservo's own tracer (HTTP server, event consumers and relay).
func Tracer() trace.Tracer { return otel.Tracer("github.com/reservo/reservo") }

// TraceParent is the W3C traceparent of the span in ctx, or "" when there is none. It is what
// the event log stores with each event, so that the event's consumers continue the trace of
// the change that wrote it.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx with the remote span context of traceparent as its parent; ctx
// itself when traceparent is empty or malformed.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Request is who asked for some work: the request id of the API call (the client's
// X-Request-Id when it sent one) and the authenticated user, if any. It rides from the API
// into the workflows and activities (Temporal headers) and onto their log lines.
type Request struct {
	ID     string `json:"request_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey{}).(Request)
	return r, ok
}

// ChildSpansOnly is the global tracer provider, except that a span is only started inside a
// recorded one: a library's spans (a Redis command, say) then belong to a request, an activity
// or a consumer, and work outside them (a connection's housekeeping) makes no trace of its own.
func ChildSpansOnly() trace.TracerProvider { return childOnlyProvider{otel.GetTracerProvider()} }

type childOnlyProvider struct{ trace.TracerProvider }

func (p childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{p.TracerProvider.Tracer(name, opts...)}
}

type childOnlyTracer struct{ trace.Tracer }

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		// A span that records nothing and is no parent's: ending it ends nothing.
		return ctx, trace.SpanFromContext(context.Background())
	}
	return t.Tracer.Start(ctx, name, opts...)
}

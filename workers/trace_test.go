package workers

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/reservo/reservo/event"
)

type handlerFunc func(context.Context, event.Envelope) error

func (handlerFunc) Name() string                                         { return "archiver" }
func (f handlerFunc) Handle(ctx context.Context, e event.Envelope) error { return f(ctx, e) }

func TestTraced_ConsumerSpanContinuesTheEventsTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	var inner trace.SpanContext
	fail := errors.New("index down")
	h := Traced(handlerFunc(func(ctx context.Context, e event.Envelope) error {
		inner = trace.SpanContextFromContext(ctx)
		if e.Seq == 2 {
			return fail
		}
		return nil
	}))
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if err := h.Handle(context.Background(), event.Envelope{Type: event.NewBooking, Seq: 1, TraceParent: tp}); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(context.Background(), event.Envelope{Type: event.NewBooking, Seq: 2, TraceParent: tp}); !errors.Is(err, fail) {
		t.Fatalf("err %v; want the handler's", err)
	}
	if err := h.Handle(context.Background(), event.Envelope{Type: event.NewBooking, Seq: 3}); err != nil || inner.IsValid() {
		t.Fatalf("an untraced event: err %v, span %v; want no span", err, inner)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans; want one per traced event", len(spans))
	}
	for _, s := range spans {
		if s.Name() != "archiver new_booking" || s.SpanKind() != trace.SpanKindConsumer ||
			s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("span %s %v parent %v", s.Name(), s.SpanKind(), s.Parent())
		}
	}
	if spans[0].Status().Code == codes.Error || spans[1].Status().Code != codes.Error {
		t.Errorf("statuses %v, %v; want the failed handling marked", spans[0].Status(), spans[1].Status())
	}
}

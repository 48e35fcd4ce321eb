package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/telemetry"
)

func TestRelayTrace_ProducerSpanInTheEventsTraceAndItsContextInTheHeader(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	const change = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	var evs []event.Envelope
	for _, tp := range []string{change, "", change} {
		e, err := event.New(event.NewBooking, "vendor-1", time.Now(), 1, map[string]string{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		e.TraceParent = tp
		evs = append(evs, e)
	}
	msgs := make([]kafkago.Message, len(evs))
	for i, e := range evs {
		if msgs[i], _ = message("p.", e); msgs[i].Topic == "" {
			t.Fatal("no message")
		}
	}
	end := traceProduce(context.Background(), evs, msgs)
	end(1, errors.New("broker gone")) // the first written, the rest not

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d producer spans; want one per traced event", len(spans))
	}
	for i, s := range spans {
		if s.Name() != "publish new_booking" || s.SpanKind() != trace.SpanKindProducer ||
			s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("span %d: %s %v parent %v", i, s.Name(), s.SpanKind(), s.Parent())
		}
	}
	if spans[0].Status().Code == codes.Error || spans[1].Status().Code != codes.Error {
		t.Errorf("statuses %v, %v; want the unwritten one failed", spans[0].Status(), spans[1].Status())
	}
	// The consumer goes on from the producer span: Decode takes the header over the envelope's.
	got, err := Decode(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := spans[0].SpanContext().SpanID().String(); !strings.Contains(got.TraceParent, want) ||
		telemetry.TraceParent(telemetry.WithTraceParent(context.Background(), got.TraceParent)) != got.TraceParent {
		t.Errorf("decoded traceparent %q; want the producer span %s", got.TraceParent, want)
	}
	if traceParentHeader(msgs[1]) != "" {
		t.Error("an untraced event got a traceparent header")
	}
	if got, _ := Decode(msgs[1]); got.TraceParent != "" {
		t.Errorf("untraced event decoded with %q", got.TraceParent)
	}
}
